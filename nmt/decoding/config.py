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

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

from nmt.errors import NmtError
from nmt.numbers import COUNT, SEED, Range


def _ranged(default: int | float, allowed: Range) -> Any:
    """A field whose values must lie in ``allowed`` (checked by ``DecodeConfig.check``)."""
    return field(default=default, metadata={"range": allowed})


@dataclass(frozen=True)
class DecodeConfig:
    """How to turn a source sentence into target hypotheses (see the module docstring)."""

    beam: int = _ranged(5, Range(1, 1024, integer=True, note="1: greedy"))
    """Beam width; 1 is greedy search. Ignored when sampling."""
    nbest: int = _ranged(1, Range(1, 1024, integer=True))
    """Hypotheses returned per sentence: the n best of the beam, or n samples."""
    alpha: float = _ranged(0.6, Range(0, 5, note="0: no length penalty"))
    """GNMT length penalty exponent: scores are log P / ((5 + |Y|) / 6) ** alpha."""
    max_len_a: float = _ranged(1.5, Range(0, 100))
    """A sentence of |X| source tokens may generate at most floor(max_len_a * |X| + max_len_b) tokens."""
    max_len_b: int = _ranged(10, Range(0, 10_000, integer=True))
    """The constant term of the length limit (see max_len_a)."""
    sampling: bool = field(default=False, metadata={"option": "--sample"})
    """Draw nbest random outputs instead of searching for the best ones."""
    temperature: float = _ranged(1.0, Range(0.01, 100, note="a small value approaches greedy"))
    """Sampling: each token is drawn from softmax(log p / temperature)."""
    top_k: int = _ranged(0, Range(0, 2**31 - 1, integer=True, note="0: all tokens"))
    """Sampling: draw among the k likeliest tokens only."""
    top_p: float = _ranged(1.0, Range(0, 1, open_low=True, note="1: no nucleus cut"))
    """Sampling: draw among the smallest set of tokens whose probability reaches p (nucleus sampling)."""
    seed: int = _ranged(0, SEED)
    """Sampling: the seed of the random draws."""
    batch_size: int = _ranged(32, COUNT)
    """Sentences per batch. Results do not depend on it, except the random draws of sampling."""
    batch_tokens: int | None = _ranged(None, Range(1, 2**31 - 1, integer=True))
    """When set, batches are cut by size instead of ``batch_size``: sentences of similar length while
    their padded source (sentences x (longest + EOS)) stays within this many tokens (a longer
    sentence gets a batch of its own). Results do not depend on it, except sampling's draws."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if "range" in f.metadata and getattr(self, f.name) is not None:
                self.check(f.name, getattr(self, f.name))
        if not self.sampling and self.nbest > self.beam:
            raise NmtError(
                f"--nbest {self.nbest} is larger than --beam {self.beam}: beam search keeps at most "
                "beam hypotheses (use --sample for more outputs than beams)"
            )

    @classmethod
    def check(cls, name: str, value: object, label: str | None = None) -> int | float:
        """``value`` if it is in the range of field ``name``, else an ``NmtError`` naming ``label``
        (default: the command-line option) and the range."""
        return RANGES[name].check(label or option(name), value)

    def describe(self) -> str:
        """How hypotheses are decoded, in words: "beam 5", "greedy", "sampling (3 samples, ...)"."""
        if self.sampling:
            return f"sampling ({self.nbest} samples, temperature {self.temperature}, seed {self.seed})"
        return "greedy" if self.beam == 1 else f"beam {self.beam}"

    def key(self) -> dict[str, Any]:
        """The settings that decide the output (what a hypothesis cache must match)."""
        settings = asdict(self)
        if not self.sampling:  # beam and greedy search do not depend on these
            for name in ("temperature", "top_k", "top_p", "seed", "batch_size", "batch_tokens"):
                del settings[name]
        return settings


def option(name: str) -> str:
    """The command-line option of a ``DecodeConfig`` field: ``batch_size`` -> ``--batch-size``,
    ``sampling`` -> ``--sample`` (a field's "option" metadata)."""
    return FIELDS[name].metadata.get("option", "--" + name.replace("_", "-"))


FIELDS: dict[str, Field] = {f.name: f for f in fields(DecodeConfig)}
RANGES: dict[str, Range] = {
    f.name: f.metadata["range"] for f in fields(DecodeConfig) if "range" in f.metadata
}
"""Every number of decoding and its allowed values: the one declaration the command line, the server
and ``DecodeConfig`` check."""
