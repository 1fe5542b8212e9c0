"""Validation during training: the loss and greedy BLEU of the validation pairs, the attention of the
sentences TensorBoard shows (``nmt.training.showcase``), and the count of the best scores."""

from __future__ import annotations

import math

import sacrebleu
import torch
import torch.nn.functional as F

from nmt.config import TrainerConfig
from nmt.data.batching import TokenBatches
from nmt.data.pipeline import EncodedPairs, Pairs
from nmt.data.vocab import PAD, Vocab
from nmt.decoding import DecodeConfig, generate
from nmt.models import EncoderDecoder
from nmt.runtime import autocast
from nmt.training.checkpoint import Progress
from nmt.training.logs import Readings
from nmt.training.showcase import Shown, shown_attention


class Validation:
    """The validation ``pairs`` encoded with the run's vocabularies, and the sentences ``shown``."""

    def __init__(
        self, pairs: Pairs, src_vocab: Vocab, tgt_vocab: Vocab, tc: TrainerConfig, shown: list[Shown]
    ) -> None:
        self.data = EncodedPairs.encode(pairs, src_vocab, tgt_vocab)
        self.refs = [tgt for _, tgt in pairs]
        self.src_vocab, self.tgt_vocab, self.shown = src_vocab, tgt_vocab, shown
        self.batch_tokens, self.pad_to_multiple = tc.batch_tokens, tc.pad_to_multiple
        self.bleu_sentences = tc.valid_bleu_sentences or len(self.refs)  # 0: every pair

    def __len__(self) -> int:
        return len(self.refs)

    @torch.no_grad()
    def scores(
        self, model: EncoderDecoder, device: torch.device, dtype: torch.dtype | None
    ) -> dict[str, float]:
        """The mean token ``loss``, its ``ppl`` and the greedy ``bleu`` of the first
        ``trainer.valid_bleu_sentences`` pairs."""
        model.eval()
        scores = {"loss": self.loss(model, device, dtype)}
        scores["ppl"] = math.exp(min(scores["loss"], 50))
        count = self.bleu_sentences
        with autocast(device, dtype):
            hyps = generate(model, self.data.src[:count], DecodeConfig(beam=1, batch_size=64))
        hyp_text = self.tgt_vocab.decode([h[0].tokens for h in hyps])
        scores["bleu"] = sacrebleu.corpus_bleu(hyp_text, [self.refs[:count]]).score
        return scores

    @torch.no_grad()
    def loss(self, model: EncoderDecoder, device: torch.device, dtype: torch.dtype | None) -> float:
        """Mean token negative log-likelihood (no label smoothing) over the whole validation set."""
        total = tokens = 0.0
        for indices in TokenBatches(
            [len(s) for s in self.data.src],
            [len(t) for t in self.data.tgt],
            self.batch_tokens,
            shuffle=False,
            pad_to_multiple=self.pad_to_multiple,
        ):
            batch = self.data.batch(indices).padded_to(self.pad_to_multiple).to(device)
            with autocast(device, dtype):
                logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
            total += F.cross_entropy(
                logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD, reduction="sum"
            ).item()
            tokens += batch.num_tokens
        return total / max(tokens, 1)

    def attention(self, model: EncoderDecoder, device: torch.device, dtype: torch.dtype | None) -> Readings:
        """The shown sentences' pieces and attention (``nmt.training.showcase.shown_attention``)."""
        with autocast(device, dtype):
            return shown_attention(model, self.src_vocab, self.tgt_vocab, self.shown)


def record_bleu(p: Progress, bleu: float, keep_best: int) -> bool:
    """Count a validation's ``bleu`` into ``p``: the best so far, the validations since, and the
    ``keep_best`` best (BLEU, step) (ties keep the earlier step); True when it is a new best."""
    improved = bleu > p.best_bleu
    p.best_bleu, p.stale = max(p.best_bleu, bleu), 0 if improved else p.stale + 1
    if keep_best:
        ranked = sorted([*p.best_k, [bleu, p.step]], key=lambda entry: (-entry[0], entry[1]))
        p.best_k = ranked[:keep_best]
    return improved
