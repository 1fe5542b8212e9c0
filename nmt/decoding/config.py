"""``DecodeConfig``: every setting of decoding, in one place, with the checks that name the option.

The command line (``--beam``, ``--nbest``, ``--alpha``, ``--sample`` ...), ``Translator.translate``,
evaluation, compare and validation during training all build one of these; the hypothesis cache
of ``nmt evaluate``/``nmt compare`` is keyed by ``DecodeConfig.key()``.

Three strategies read it (``nmt.decoding.strategies``):

* greedy: ``beam == 1`` and not ``sampling``: the argmax token at every step;
* beam search: ``beam > 1``; ``nbest <= beam`` best finished hypotheses per sentence;
* sampling: ``sampling``; ``nbest`` samples per sentence, each token drawn from
  softmax(log p / ``temperature``) restricted to the ``top_k`` likeliest tokens (0: all) and to the
  smallest set whose probability reaches ``top_p`` (nucleus sampling; 1.0: all), from a generator
  seeded with ``seed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from nmt.errors import NmtError


@dataclass(frozen=True)
class DecodeConfig:
    """How to turn a source sentence into target hypotheses (see the module docstring)."""

    beam: int = 5
    """Beam width; 1 is greedy search. Ignored when sampling."""
    nbest: int = 1
    """Hypotheses returned per sentence: the n best of the beam, or n samples."""
    alpha: float = 0.6
    """GNMT length penalty exponent: scores are log P / ((5 + |Y|) / 6) ** alpha (0: raw log P)."""
    max_len_a: float = 1.5
    """A sentence of |X| source tokens may generate at most floor(max_len_a * |X| + max_len_b) tokens."""
    max_len_b: int = 10
    sampling: bool = False
    """Draw ``nbest`` random outputs instead of searching for the best ones."""
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 32
    """Sentences per batch. Results do not depend on it, except the random draws of sampling."""

    def __post_init__(self) -> None:
        problems = {
            "beam": self.beam < 1 and "needs at least 1 beam (1: greedy)",
            "nbest": self.nbest < 1 and "needs at least 1 hypothesis per sentence",
            "batch_size": self.batch_size < 1 and "needs at least 1 sentence per batch",
            "max_len_a": self.max_len_a < 0 and "must not be negative",
            "max_len_b": self.max_len_b < 0 and "must not be negative",
            "temperature": self.temperature <= 0 and "must be above 0 (a small value approaches greedy)",
            "top_k": self.top_k < 0 and "must be 0 (all tokens) or more",
            "top_p": not 0 < self.top_p <= 1 and "must be in (0, 1] (1: no nucleus cut)",
        }
        for name, problem in problems.items():
            if problem:
                raise NmtError(f"{option(name)} {getattr(self, name)}: {problem}")
        if not self.sampling and self.nbest > self.beam:
            raise NmtError(
                f"--nbest {self.nbest} is larger than --beam {self.beam}: beam search keeps at most "
                "beam hypotheses (use --sample for more outputs than beams)"
            )

    @property
    def strategy_name(self) -> str:
        """greedy, beam or sampling."""
        return "sampling" if self.sampling else "greedy" if self.beam == 1 else "beam"

    def key(self) -> dict[str, Any]:
        """The settings that decide the output (what a hypothesis cache must match)."""
        settings = asdict(self)
        if not self.sampling:  # beam and greedy search do not depend on these
            for name in ("temperature", "top_k", "top_p", "seed", "batch_size"):
                del settings[name]
        return settings

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def option(name: str) -> str:
    """The command-line option of a ``DecodeConfig`` field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")
