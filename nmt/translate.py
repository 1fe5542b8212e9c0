"""Translation with a trained run: strings in, strings with scores and alignments out.

translator = Translator.from_run("runs/tatoeba_en_fr/rnn_bahdanau")
best = translator.translate(["I love you."], beam=5)[0][0]
best.text, best.score, best.attention  # (target pieces + EOS) x (source pieces + EOS)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.batching import make_batch
from nmt.data.clean import normalize
from nmt.data.vocab import EOS_PIECE
from nmt.models import EncoderDecoder
from nmt.rundir import Run, load_run
from nmt.search import Hypothesis, search
from nmt.training.runtime import autocast, autocast_dtype, resolve_device

log = logging.getLogger(__name__)


def generate(
    model: EncoderDecoder,
    src_ids: Sequence[Sequence[int]],
    *,
    beam: int = 1,
    nbest: int = 1,
    alpha: float = 0.0,
    batch_size: int = 64,
) -> list[list[Hypothesis]]:
    """Search every id sequence (without EOS), in batches of similar length; n-best lists in input order."""
    device = next(model.parameters()).device
    order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
    results: list[list[Hypothesis]] = [[] for _ in src_ids]
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = make_batch([src_ids[i] for i in chunk]).to(device)
        for i, hyps in zip(
            chunk, search(model, batch.src, batch.src_mask, beam=beam, nbest=nbest, alpha=alpha), strict=True
        ):
            results[i] = hyps
    return results


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


class Translator:
    """A trained model with its vocabularies, translating batches of sentences."""

    def __init__(self, run: Run) -> None:
        self.run, self.model = run, run.model
        self.device = next(self.model.parameters()).device
        self.dtype = autocast_dtype("auto", self.device, self.model.prefers_bf16_on_cpu)
        self.max_src_tokens = (self.model.max_positions or 1024) - 1  # room for EOS

    @classmethod
    def from_run(cls, run_dir: str, checkpoint: str = "best", device: str = "auto") -> Translator:
        return cls(load_run(run_dir, checkpoint, resolve_device(device)))

    @torch.inference_mode()
    def translate(
        self,
        sentences: Sequence[str],
        *,
        beam: int = 5,
        nbest: int = 1,
        alpha: float = 0.6,
        batch_size: int = 32,
    ) -> list[list[Translation]]:
        """The ``nbest`` best translations of every sentence, best first. Empty input gives empty output."""
        sources = [normalize(s) for s in sentences]
        ids = [self._encode(i, s) for i, s in enumerate(sources)]
        todo = [i for i, s in enumerate(sources) if s]
        with autocast(self.device, self.dtype):
            found = generate(
                self.model, [ids[i] for i in todo], beam=beam, nbest=nbest, alpha=alpha, batch_size=batch_size
            )
        results = [[Translation(s, "", 0.0, 0.0, [], [], torch.zeros(0, 0))] for s in sentences]
        for i, hyps in zip(todo, found, strict=True):
            results[i] = [self._translation(sentences[i], ids[i], h) for h in hyps]
        return results

    def _encode(self, index: int, sentence: str) -> list[int]:
        ids = self.run.src_vocab.encode([sentence])[0]
        if len(ids) > self.max_src_tokens:
            log.warning(
                "input %d has %d subwords; translating its first %d (the model's limit)",
                index + 1,
                len(ids),
                self.max_src_tokens,
            )
            ids = ids[: self.max_src_tokens]
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
