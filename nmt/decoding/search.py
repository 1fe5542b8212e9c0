"""One search loop over the incremental decoding interface of ``nmt.models.base``, for every strategy.

The loop never asks which model it drives: it calls ``encode`` once, ``init_state`` once, then
``step`` once per target position for all rows at the same time, and ``reorder`` to select,
duplicate or drop rows. Rows are ``sentences x W`` (sentence-major: row ``b * W + k`` is row ``k``
of sentence ``b``), W being the strategy's width (1 for greedy, the beam, or the number of
samples); the only Python loop is over time steps. Which tokens extend which rows is the
strategy's choice (``nmt.decoding.strategies``): greedy, beam search or sampling.

Scores. Every hypothesis Y = y_1 .. y_n EOS carries

    log_prob = log P(Y | X) = sum of the log-probabilities of its tokens *and* of the final EOS
    score    = log_prob / lp(Y),  lp(Y) = ((5 + |Y|) / 6) ** alpha     (GNMT, Wu et al. 2016)

where |Y| = n + 1 counts the generated tokens including EOS. ``alpha = 0`` ranks by the raw
log-probability; larger ``alpha`` favours longer outputs. Candidates are expanded by their raw
cumulative log-probability (as in fairseq and GNMT); ``score`` ranks finished hypotheses only.

Lengths. A sentence with |X| real source tokens (``src_mask`` true, EOS included when the batch
has one) may generate at most ``max_len = floor(max_len_a * |X| + max_len_b)`` tokens before EOS
(at least its forced prefix); at step ``max_len`` every token but EOS is masked, so each
hypothesis ends there at the latest. PAD and BOS (``model.specials``) are never generated.

Forced prefixes. A sentence's prefix (target ids) is forced at steps 0 .. len - 1: every other token
is masked there, and the prefix tokens are scored with the model's own log-probabilities. A prefix
that ends in EOS forces the whole output: its score is the model's log-probability of that output
(what ``nmt score`` reports).

Per step: the strategy proposes candidates; those ending in EOS become finished hypotheses (only
the ``nbest`` best finished ones per sentence are kept: one that drops out of them can never come
back), the W best others become the next rows. A sentence is done when

    * it has ``nbest`` finished hypotheses and no active row can still beat the worst of them:
      extensions only lower the log-probability, so the best reachable score of a row with
      cumulative log-probability s is s / max(lp) over the lengths still allowed
      (s / lp(max_len + 1) for alpha >= 0); with ``alpha = 0`` that is s itself; or
    * it has reached its maximum length (forced EOS), or no row has a finite score left.

The criterion is exact (log-probabilities being <= 0): stopping early never changes the result
compared with running every sentence to its maximum length. Done sentences leave the batch (their
rows are dropped with ``reorder``), so a search's result does not depend on the batch it was
decoded in. Greedy search and sampling extend every row in place (one candidate per row): their
rows are reordered only when sentences leave. Beam search keeps rows within their sentence, so
the source-side state (``model.source_keys``) is only reordered when sentences leave.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.decoding.config import DecodeConfig
from nmt.decoding.strategies import strategy_for
from nmt.models.base import EncoderDecoder

__all__ = ["Hypothesis", "length_penalty", "search"]


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


def search(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor,
    config: DecodeConfig | None = None,
    *,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[list[Hypothesis]]:
    """Decode a batch: src (B, S) ids, src_mask (B, S) bool (True on real tokens).

    ``prefixes``: for every sentence, target ids forced at the start of each output (may be empty).
    Returns, for each sentence, its ``nbest`` finished hypotheses sorted by ``score`` (best first);
    never an empty list. Fewer than ``nbest`` only when fewer distinct outputs exist within the
    maximum length (search). The model's train/eval mode and any autocast are the caller's business.
    """
    config = config or DecodeConfig()
    if src.dim() != 2 or src_mask.shape != src.shape:
        raise ValueError(
            f"src and src_mask must both be (B, S); got {tuple(src.shape)} and {tuple(src_mask.shape)}"
        )
    if prefixes is not None and len(prefixes) != src.shape[0]:
        raise ValueError(f"{len(prefixes)} prefixes for {src.shape[0]} sentences")
    if src.shape[0] == 0:
        return []
    src_mask = src_mask.bool()
    lengths = src_mask.sum(1).tolist()
    prefix_lens = [len(p) for p in prefixes] if prefixes is not None else [0] * len(lengths)
    limit = model.max_positions - 1 if model.max_positions else math.inf  # positions: BOS + tokens
    max_lens = [
        max(0, p, min(math.floor(config.max_len_a * n + config.max_len_b), limit))
        for n, p in zip(lengths, prefix_lens, strict=True)
    ]
    with _no_autograd(src.device):
        forced = _prefix_tensor(prefixes, src.device) if any(prefix_lens) else None
        found = _decode(model, src, src_mask, torch.tensor(max_lens, device=src.device), forced, config)
    return _hypotheses(*found, src_mask, config.alpha)


def _no_autograd(device: torch.device) -> AbstractContextManager:
    """inference_mode, the fastest (no_grad made fp32 greedy search 3-4 times slower on a CPU,
    scripts/bench_decode.py), except under autocast: inference_mode turns off autocast's cache of
    weights cast to bf16, so every weight would be cast again at every step."""
    return torch.no_grad() if torch.is_autocast_enabled(device.type) else torch.inference_mode()


def _prefix_tensor(prefixes: Sequence[Sequence[int]], device: torch.device) -> Tensor:
    """(B, P) forced token ids, -1 past the end of a sentence's prefix."""
    forced = torch.full((len(prefixes), max(map(len, prefixes))), -1, dtype=torch.long)
    for i, prefix in enumerate(prefixes):
        forced[i, : len(prefix)] = torch.as_tensor(list(prefix), dtype=torch.long)
    return forced.to(device)


def _decode(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor,
    max_len: Tensor,
    forced: Tensor | None,
    config: DecodeConfig,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The loop. Returns tokens (B, N, L), attention (B, N, L, S), log_prob (B, N), steps (B, N).

    Slots with ``steps == 0`` are empty; the others hold finished hypotheses sorted by score.
    """
    batch, src_len = src.shape
    device, steps_max, inf = src.device, int(max_len.max()) + 1, math.inf
    strategy, nbest, alpha = strategy_for(config, device), config.nbest, config.alpha
    width, pad, bos, eos = strategy.width, model.specials.pad, model.specials.bos, model.specials.eos
    state = model.init_state(model.encode(src, src_mask))
    if width > 1:
        state = model.reorder(state, torch.arange(batch, device=device).repeat_interleave(width))

    # Finished hypotheses: the nbest best per sentence, indexed by the original sentence.
    fin_score = torch.full((batch, nbest), -inf, device=device)
    fin_logp = torch.full((batch, nbest), -inf, device=device)
    fin_steps = torch.zeros(batch, nbest, dtype=torch.long, device=device)
    fin_tokens = torch.full((batch, nbest, steps_max), pad, dtype=torch.long, device=device)
    fin_attn = torch.zeros(batch, nbest, steps_max, src_len, device=device)

    # Active rows of the sentences still decoded (A of them): A * width rows.
    alive = torch.arange(batch, device=device)  # (A,) original sentence ids
    row_max = max_len  # (A,)
    scores = strategy.initial_scores(batch, device)  # (A, W) cumulative log-probabilities
    prev = torch.full((batch * width,), bos, dtype=torch.long, device=device)
    hist_tokens = torch.zeros(batch * width, 0, dtype=torch.long, device=device)  # (rows, t)
    hist_attn = torch.zeros(batch * width, 0, src_len, device=device)  # (rows, t, S)
    banned = not_eos = None
    for t in range(steps_max):
        log_probs, attn, state = model.step(prev, state)
        n_alive, vocab = alive.numel(), log_probs.shape[-1]
        if banned is None:
            banned, not_eos = _banned(vocab, pad, bos, eos, device)
        log_probs = log_probs.float().index_fill_(1, banned, -inf)  # in place: the model's own tensor
        if int(row_max.min()) <= t:  # some sentences reached their maximum length: only EOS is left
            log_probs.masked_fill_((row_max <= t).repeat_interleave(width).unsqueeze(1) & not_eos, -inf)
        if forced is not None and t < forced.shape[1]:
            _force(log_probs, forced[alive, t].repeat_interleave(width))
        hist_attn = torch.cat([hist_attn, attn.float().unsqueeze(1)], 1)  # (rows, t + 1, S)

        cand_score, cand_tok, cand_beam = strategy.step(log_probs.view(n_alive, width, vocab), scores)
        parent = cand_beam + torch.arange(n_alive, device=device).unsqueeze(1) * width  # (A, C) rows
        is_eos = cand_tok == eos

        # Candidates ending in EOS join the finished ones; keep the nbest best of each sentence.
        new_done = is_eos & (cand_score > -inf)
        if bool(new_done.any()):
            new_score = torch.where(new_done, cand_score / length_penalty(t + 1, alpha), -inf)
            best, pick = torch.cat([fin_score[alive], new_score], 1).topk(nbest, dim=1)  # (A, nbest)
            from_old = pick < nbest
            old_j = pick.clamp(max=nbest - 1)
            new_c = (pick - nbest).clamp(min=0)
            rows = parent.gather(1, new_c).view(-1)  # (A * nbest,)
            new_tokens = torch.full((n_alive * nbest, steps_max), pad, dtype=torch.long, device=device)
            new_tokens[:, :t] = hist_tokens.index_select(0, rows)
            new_tokens[:, t] = eos
            new_attn = torch.zeros(n_alive * nbest, steps_max, src_len, device=device)
            new_attn[:, : t + 1] = hist_attn.index_select(0, rows)

            fin_score[alive] = best
            fin_logp[alive] = _merge(fin_logp[alive], cand_score.gather(1, new_c), old_j, from_old)
            steps = torch.where(best > -inf, t + 1, 0)  # a slot that is still empty stays empty
            fin_steps[alive] = _merge(fin_steps[alive], steps, old_j, from_old)
            fin_tokens[alive] = _merge(fin_tokens[alive], new_tokens, old_j, from_old)
            fin_attn[alive] = _merge(fin_attn[alive], new_attn, old_j, from_old)

        # The W best other candidates are the next rows (in place when there is one candidate a row).
        in_place = cand_score.shape[1] == width
        if in_place:
            scores, next_rows, next_tok = cand_score.masked_fill(is_eos, -inf), parent, cand_tok
        else:
            scores, pos = cand_score.masked_fill(is_eos, -inf).topk(width, dim=1)  # (A, W)
            next_rows, next_tok = parent.gather(1, pos), cand_tok.gather(1, pos)

        # Done: at the maximum length, or nbest finished ones no active row can beat.
        best_active = scores.max(1).values
        if alpha >= 0:  # lp grows with the length: the longest allowed length is the most favourable
            lp_max = ((5.0 + row_max + 1).float() / 6.0) ** alpha
        else:
            lp_max = torch.full_like(best_active, length_penalty(t + 2, alpha))
        worst = fin_score[alive, nbest - 1]
        done = (row_max <= t) | (best_active == -inf) | ((worst > -inf) & (best_active / lp_max <= worst))
        keep = (~done).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        leaving = keep.numel() < n_alive
        if leaving:
            alive, row_max, scores = alive[keep], row_max[keep], scores[keep]
            next_rows, next_tok = next_rows[keep], next_tok[keep]
        next_rows, prev = next_rows.reshape(-1), next_tok.reshape(-1)
        if leaving or not in_place:
            state = model.reorder(state, next_rows, same_sources=not leaving)
            hist_tokens, hist_attn = (
                hist_tokens.index_select(0, next_rows),
                hist_attn.index_select(0, next_rows),
            )
        hist_tokens = torch.cat([hist_tokens, prev.unsqueeze(1)], 1)
    return fin_tokens, fin_attn, fin_logp, fin_steps


def _banned(vocab: int, pad: int, bos: int, eos: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """The ids never generated (PAD, BOS), and a (V,) mask of every token but EOS (the forced last step)."""
    banned = torch.tensor(sorted(t for t in {pad, bos} - {eos} if 0 <= t < vocab), dtype=torch.long)
    not_eos = torch.ones(vocab, dtype=torch.bool, device=device)
    not_eos[eos] = False
    return banned.to(device), not_eos


def _force(log_probs: Tensor, tokens: Tensor) -> None:
    """Mask every token but tokens[r] in the rows r with a forced token (>= 0): log_probs (R, V)."""
    allowed = torch.zeros_like(log_probs, dtype=torch.bool).scatter_(
        1, tokens.clamp(min=0).unsqueeze(1), True
    )
    log_probs.masked_fill_((tokens >= 0).unsqueeze(1) & ~allowed, -math.inf)


def _merge(old: Tensor, new: Tensor, j: Tensor, keep_old: Tensor) -> Tensor:
    """Per sentence and slot: ``old[:, j]`` where ``keep_old`` else the new candidate (new viewed as old)."""
    extra = [1] * (old.dim() - 2)
    old = old.gather(1, j.view(*j.shape, *extra).expand(-1, -1, *old.shape[2:]))
    return torch.where(keep_old.view(*keep_old.shape, *extra), old, new.view(old.shape))


def _hypotheses(
    tokens: Tensor, attn: Tensor, log_prob: Tensor, steps: Tensor, src_mask: Tensor, alpha: float
) -> list[list[Hypothesis]]:
    """Python objects from the finished buffers (slots with 0 steps are empty), on CPU."""
    tokens, attn, src_mask = tokens.cpu(), attn.float().cpu(), src_mask.cpu()
    log_probs, step_counts = log_prob.cpu().tolist(), steps.cpu().tolist()
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
