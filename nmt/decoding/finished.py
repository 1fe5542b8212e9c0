"""Finished hypotheses: the ``nbest`` best outputs of every sentence that the search loop
(``nmt.decoding.search``) keeps on the device while it runs, and the ``Hypothesis`` objects they become.
A hypothesis is ranked by its log-probability over the GNMT length penalty (``length_penalty``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Finished", "Hypothesis", "length_penalty"]


@dataclass
class Hypothesis:
    """One finished output sequence for one source sentence."""

    tokens: list[int]
    """Generated target ids, without BOS and without the final EOS."""
    score: float
    """The ranking score: ``log_prob / length_penalty(len(tokens) + 1, alpha)`` (raw log_prob if alpha=0)."""
    log_prob: float
    """log P(tokens + EOS | source): the sum of the model's log-probabilities, EOS included."""
    attention: Tensor
    """(len(tokens) + 1, real source length) float on CPU: the attention of every target step of this
    hypothesis' own path (the last row is the step that produced EOS), over real source positions only."""


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha, ``length`` counting EOS."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class Finished:
    """The ``nbest`` best finished hypotheses of every sentence, indexed by the original sentence and
    sorted by score (B sentences, N = nbest, L the longest output + 1, S source length). Slots with
    ``steps == 0`` are empty."""

    score: Tensor  # (B, N) ranking scores
    log_prob: Tensor  # (B, N)
    steps: Tensor  # (B, N) long: the generated tokens, EOS included
    tokens: Tensor  # (B, N, L) long, PAD after EOS
    attn: Tensor  # (B, N, L, S)
    pad: int

    @classmethod
    def empty(
        cls, batch: int, nbest: int, length: int, src_len: int, pad: int, device: torch.device
    ) -> Finished:
        """No hypothesis yet: every score -inf, every slot empty."""
        return cls(
            score=torch.full((batch, nbest), -math.inf, device=device),
            log_prob=torch.full((batch, nbest), -math.inf, device=device),
            steps=torch.zeros(batch, nbest, dtype=torch.long, device=device),
            tokens=torch.full((batch, nbest, length), pad, dtype=torch.long, device=device),
            attn=torch.zeros(batch, nbest, length, src_len, device=device),
            pad=pad,
        )

    def add(
        self,
        alive: Tensor,
        paths: tuple[Tensor, Tensor],
        cand: tuple[Tensor, Tensor, Tensor],
        eos: int,
        t: int,
        alpha: float,
    ) -> None:
        """Let the candidates of step ``t`` that end in EOS in, keeping the nbest best of each sentence.
        ``alive`` (A,): the sentences decoded; ``paths``: the rows' tokens (A * W, t) and attention
        (A * W, t + 1, S); ``cand``: scores (A, C) cumulative log-probabilities, tokens (A, C), parent
        rows (A, C)."""
        cand_score, cand_tok, parent = cand
        new_done = (cand_tok == eos) & (cand_score > -math.inf)
        if not bool(new_done.any()):
            return
        nbest, length = self.score.shape[1], self.tokens.shape[2]
        n_alive, (tokens, attn) = alive.numel(), paths
        new_score = torch.where(new_done, cand_score / length_penalty(t + 1, alpha), -math.inf)
        best, pick = torch.cat([self.score[alive], new_score], 1).topk(nbest, dim=1)  # (A, nbest)
        from_old, old_j, new_c = pick < nbest, pick.clamp(max=nbest - 1), (pick - nbest).clamp(min=0)
        parents = parent.gather(1, new_c).view(-1)  # (A * nbest,)
        new_tokens = self.tokens.new_full((n_alive * nbest, length), self.pad)
        new_tokens[:, :t] = tokens.index_select(0, parents)
        new_tokens[:, t] = eos
        new_attn = self.attn.new_zeros(n_alive * nbest, length, self.attn.shape[3])
        new_attn[:, : t + 1] = attn.index_select(0, parents)

        self.score[alive] = best
        self.log_prob[alive] = _merge(self.log_prob[alive], cand_score.gather(1, new_c), old_j, from_old)
        steps = torch.where(best > -math.inf, t + 1, 0)  # a slot that is still empty stays empty
        self.steps[alive] = _merge(self.steps[alive], steps, old_j, from_old)
        self.tokens[alive] = _merge(self.tokens[alive], new_tokens, old_j, from_old)
        self.attn[alive] = _merge(self.attn[alive], new_attn, old_j, from_old)

    def hypotheses(self, src_mask: Tensor, alpha: float) -> list[list[Hypothesis]]:
        """Each sentence's hypotheses as Python objects on CPU, best first (never an empty list);
        src_mask (B, S) bool."""
        tokens, attn, src_mask = self.tokens.cpu(), self.attn.float().cpu(), src_mask.cpu()
        log_probs, step_counts = self.log_prob.cpu().tolist(), self.steps.cpu().tolist()
        results = []
        for b, (logps, counts) in enumerate(zip(log_probs, step_counts, strict=True)):
            hyps = []
            for j, (logp, n) in enumerate(zip(logps, counts, strict=True)):
                if n == 0:
                    continue
                hyps.append(
                    Hypothesis(
                        tokens=tokens[b, j, : n - 1].tolist(),
                        score=logp / length_penalty(n, alpha),
                        log_prob=logp,
                        attention=attn[b, j, :n][:, src_mask[b]],
                    )
                )
            if not hyps:  # only when the model gives every ending probability 0
                hyps.append(Hypothesis([], -math.inf, -math.inf, torch.zeros(1, int(src_mask[b].sum()))))
            hyps.sort(key=lambda h: h.score, reverse=True)
            results.append(hyps)
        return results


def _merge(old: Tensor, new: Tensor, j: Tensor, keep_old: Tensor) -> Tensor:
    """Per sentence and slot: ``old[:, j]`` where ``keep_old`` else the new candidate (new viewed as old)."""
    extra = [1] * (old.dim() - 2)
    old = old.gather(1, j.view(*j.shape, *extra).expand(-1, -1, *old.shape[2:]))
    return torch.where(keep_old.view(*keep_old.shape, *extra), old, new.view(old.shape))
