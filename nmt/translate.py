"""Translation with trained runs: strings in, strings with scores and alignments out.

translator = Translator.from_run("runs/tatoeba_en_fr/rnn_bahdanau_lexical")
best = translator.translate(["I love you."], DecodeConfig(beam=5))[0][0]
best.text, best.score, best.attention  # (target pieces + EOS) x (source pieces + EOS)

Decoding settings come as one ``DecodeConfig`` (``nmt.decoding``), or as its fields by keyword,
which override the given config: ``translate(lines, beam=1)``, ``translate(lines, config,
sampling=True, nbest=3)``. ``Translator.from_runs`` decodes with an ensemble of runs that share
their vocabularies; ``score`` gives the model's log-probability of given translations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nmt.data.clean import normalize
from nmt.data.vocab import EOS_PIECE, Vocab
from nmt.decoding import DecodeConfig, Ensemble, Hypothesis, generate
from nmt.errors import NmtError
from nmt.models import EncoderDecoder
from nmt.rundir import Run, load_run
from nmt.runtime import autocast, autocast_dtype, precision_name, resolve_device

log = logging.getLogger(__name__)


@dataclass
class Translation:
    """One hypothesis for one source sentence, with its alignment to the source subwords."""

    source: str
    text: str
    score: float  # length-normalised log-probability used to rank the n-best list
    log_prob: float  # log P(target + EOS | source)
    src_tokens: list[str]  # source pieces + "</s>"
    tgt_tokens: list[str]  # target pieces + "</s>"
    attention: Tensor  # (len(tgt_tokens), len(src_tokens)), rows sum to 1

    @classmethod
    def empty(cls, source: str) -> Translation:
        """The translation of an empty line: an empty line (every input line gives its output lines)."""
        return cls(source, "", 0.0, 0.0, [], [], torch.zeros(0, 0))


class Translator:
    """A trained model (or an ensemble) with its vocabularies, translating batches of sentences."""

    def __init__(self, run: Run, model: EncoderDecoder | None = None, precision: str = "auto") -> None:
        """``run`` gives the vocabularies; ``model`` decodes (default: the run's own). ``precision``:
        auto, fp32, bf16 or fp16 (CUDA), what the model computes in (``nmt.runtime.autocast_dtype``:
        auto is bf16 on GPUs, and on CPUs with native bf16 for models that gain from it)."""
        self.run, self.model = run, model or run.model
        self.device = next(self.model.parameters()).device
        self.dtype = autocast_dtype(precision, self.device, self.model.prefers_bf16_on_cpu, "--precision")
        self.precision = precision_name(self.dtype)
        self.max_tokens = (self.model.max_positions or 1024) - 1  # room for EOS/BOS

    @classmethod
    def from_run(
        cls, run_dir: str | Path, checkpoint: str = "best", device: str = "auto", precision: str = "auto"
    ) -> Translator:
        return cls(load_run(run_dir, checkpoint, resolve_device(device)), precision=precision)

    @classmethod
    def from_runs(
        cls,
        run_dirs: Sequence[str | Path],
        checkpoint: str = "best",
        device: str = "auto",
        attention_from: int | None = None,
        precision: str = "auto",
    ) -> Translator:
        """An ensemble: every run must use the same source and target sentencepiece models.
        ``attention_from``: the run (index) whose attention translations carry; None: their mean."""
        runs = [load_run(d, checkpoint, resolve_device(device)) for d in run_dirs]
        if len(runs) == 1:
            return cls(runs[0], precision=precision)
        for run in runs[1:]:
            sides = (
                ("source", runs[0].src_vocab, run.src_vocab),
                ("target", runs[0].tgt_vocab, run.tgt_vocab),
            )
            for language, ours, theirs in sides:
                if ours.sp.serialized_model_proto() != theirs.sp.serialized_model_proto():
                    raise NmtError(
                        f"{run.dir} and {runs[0].dir} have different {language} vocabularies "
                        "(sentencepiece models): only runs that share them can be ensembled"
                    )
        if attention_from is not None and not 0 <= attention_from < len(runs):
            raise NmtError(f"--attention-from {attention_from}: give a run index from 0 to {len(runs) - 1}")
        return cls(runs[0], Ensemble([r.model for r in runs], attention_from), precision)

    @torch.no_grad()  # the search picks inference_mode where autocast allows it
    def translate(
        self,
        sentences: Sequence[str],
        config: DecodeConfig | None = None,
        *,
        prefixes: Sequence[str] | None = None,
        progress: bool = False,
        **options: Any,
    ) -> list[list[Translation]]:
        """The n-best translations (or samples) of every sentence, best first; empty input lines give
        ``nbest`` empty translations (every sentence has exactly ``nbest``). ``options``: ``DecodeConfig``
        fields overriding ``config``.
        ``prefixes``: per sentence, target text every translation must start with."""
        config = replace(config or DecodeConfig(), **options)
        sources = [normalize(s) for s in sentences]
        ids = [self._encode(i, s) for i, s in enumerate(sources)]
        todo = [i for i, s in enumerate(sources) if s]
        forced = None
        if prefixes is not None:
            check_prefixes(prefixes, sentences)
            forced = [encode_prefix(self.run.tgt_vocab, prefixes[i], self.max_tokens) for i in todo]
        with autocast(self.device, self.dtype):
            found = generate(self.model, [ids[i] for i in todo], config, prefixes=forced, progress=progress)
        results = [[Translation.empty(s)] * config.nbest for s in sentences]
        for i, hyps in zip(todo, found, strict=True):
            results[i] = [self._translation(sentences[i], ids[i], h) for h in hyps]
        return results

    @torch.no_grad()  # the search picks inference_mode where autocast allows it
    def score(
        self, sources: Sequence[str], targets: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> list[Translation]:
        """Force-decode every (source, target) pair along the search's own path: ``log_prob`` is the
        model's log P(target + EOS | source), ``attention`` that of every target step."""
        if len(sources) != len(targets):
            raise NmtError(f"{len(sources)} sources but {len(targets)} targets")
        src_ids = [self._encode(i, normalize(s)) for i, s in enumerate(sources)]
        tgt_ids = self.run.tgt_vocab.encode([normalize(t) for t in targets])
        for number, ids in enumerate(tgt_ids, 1):
            if len(ids) + 1 > self.max_tokens:
                raise NmtError(
                    f"target {number}: {len(ids)} subwords, more than the model's {self.max_tokens - 1}"
                )
        forced = [[*ids, self.model.specials.eos] for ids in tgt_ids]
        config = DecodeConfig(beam=1, alpha=0.0, max_len_a=0.0, max_len_b=0, batch_size=batch_size)
        with autocast(self.device, self.dtype):
            found = generate(self.model, src_ids, config, prefixes=forced, progress=progress)
        return [self._translation(s, i, hyps[0]) for s, i, hyps in zip(sources, src_ids, found, strict=True)]

    def _encode(self, index: int, sentence: str) -> list[int]:
        ids = self.run.src_vocab.encode([sentence])[0]
        if len(ids) > self.max_tokens:
            log.warning(
                "input %d has %d subwords; translating its first %d (the model's limit)",
                index + 1,
                len(ids),
                self.max_tokens,
            )
            ids = ids[: self.max_tokens]
        return ids

    def _translation(self, source: str, src_ids: list[int], hyp: Hypothesis) -> Translation:
        vocab = self.run.tgt_vocab
        return Translation(
            source=source,
            text=vocab.decode([hyp.tokens])[0],
            score=hyp.score,
            log_prob=hyp.log_prob,
            src_tokens=[*self.run.src_vocab.pieces(src_ids), EOS_PIECE],
            tgt_tokens=[*vocab.pieces(hyp.tokens), EOS_PIECE],
            attention=hyp.attention.float(),
        )


def check_prefixes(prefixes: Sequence[str], sentences: Sequence[str]) -> None:
    """One prefix per sentence, or a clear error."""
    if len(prefixes) != len(sentences):
        raise NmtError(f"{len(prefixes)} prefixes for {len(sentences)} sentences")


def encode_prefix(vocab: Vocab, prefix: str, max_tokens: int | None = None) -> list[int]:
    """Target ids of a prefix; one the target vocabulary cannot spell (unknown pieces), or with
    ``max_tokens`` pieces or more (no room left for EOS), is refused."""
    ids = vocab.encode([normalize(prefix)])[0]
    if vocab.sp.unk_id() in ids:
        raise NmtError(
            f"prefix {prefix!r}: the target vocabulary cannot encode it (unknown pieces in "
            f"{' '.join(vocab.pieces(ids))})"
        )
    if max_tokens is not None and len(ids) >= max_tokens:
        raise NmtError(f"prefix {prefix!r}: {len(ids)} subwords, more than the model can generate")
    return ids
