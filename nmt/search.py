"""Greedy and beam search over the incremental decoding interface of ``nmt.models.base``.

Search never asks which model it drives: it calls ``encode`` once, ``init_state`` once, then
``step`` once per target position for all rows at the same time, and ``reorder`` to select,
duplicate or drop rows. Rows are ``sentences x beams`` (sentence-major: row ``b * beam + k`` is
beam ``k`` of sentence ``b``); the only Python loop is over time steps.

Scores. Every hypothesis Y = y_1 .. y_n EOS carries

    log_prob = log P(Y | X) = sum of the log-probabilities of its tokens *and* of the final EOS
    score    = log_prob / lp(Y),  lp(Y) = ((5 + |Y|) / 6) ** alpha     (GNMT, Wu et al. 2016)

where |Y| = n + 1 counts the generated tokens including EOS. ``alpha = 0`` ranks by the raw
log-probability; larger ``alpha`` favours longer outputs. Candidates are expanded by their raw
cumulative log-probability (as in fairseq and GNMT); ``score`` ranks finished hypotheses only.

Lengths. A sentence with |X| real source tokens (``src_mask`` true, EOS included when the batch
has one) may generate at most ``max_len = floor(max_len_a * |X| + max_len_b)`` tokens before EOS;
at step ``max_len`` every token but EOS is masked, so each hypothesis ends there at the latest.
PAD (``model.pad_id``) and BOS are never generated.

Beam search, per step: the ``2 * beam`` best expansions over ``beam x V`` are taken; those ending
in EOS become finished hypotheses (only the ``nbest`` best finished ones per sentence are kept:
one that drops out of them can never come back), the ``beam`` best others stay active. A sentence
is done when

    * it has ``nbest`` finished hypotheses and no active one can still beat the worst of them:
      extensions only lower the log-probability, so the best reachable score of an active beam
      with cumulative log-probability s is s / max(lp) over the lengths still allowed
      (s / lp(max_len + 1) for alpha >= 0); with ``alpha = 0`` that is s itself; or
    * it has reached its maximum length (forced EOS), or no active beam has a finite score left.

The criterion is exact (log-probabilities being <= 0): stopping early never changes the result
compared with running every sentence to its maximum length with the same beam. Done sentences leave
the batch (their rows are dropped with ``reorder``), so a sentence's result does not depend on the
batch it was decoded in.

``beam == 1`` is greedy search: the argmax token at every step until EOS or the maximum length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

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
    *,
    beam: int = 1,
    nbest: int = 1,
    alpha: float = 0.0,
    max_len_a: float = 1.5,
    max_len_b: int = 10,
    bos: int = 2,
    eos: int = 3,
) -> list[list[Hypothesis]]:
    """Translate a batch: src (B, S) ids, src_mask (B, S) bool (True on real tokens).

    Returns, for each sentence, its ``nbest`` best finished hypotheses sorted by ``score`` (best
    first); never an empty list. Fewer than ``nbest`` only when fewer distinct outputs exist within
    the maximum length. ``beam == 1`` is greedy search (then ``nbest`` must be 1). The model's
    train/eval mode and any autocast are the caller's business.
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if not 1 <= nbest <= beam:
        raise ValueError(f"nbest must be between 1 and beam ({beam}), got {nbest}")
    if src.dim() != 2 or src_mask.shape != src.shape:
        raise ValueError(
            f"src and src_mask must both be (B, S); got {tuple(src.shape)} and {tuple(src_mask.shape)}"
        )
    src_mask = src_mask.bool()
    lengths = src_mask.sum(1).tolist()
    limit = model.max_positions - 1 if model.max_positions else math.inf  # positions: BOS + tokens
    max_lens = [max(0, min(math.floor(max_len_a * n + max_len_b), limit)) for n in lengths]
    if src.shape[0] == 0:
        return []
    with torch.inference_mode():
        max_len = torch.tensor(max_lens, device=src.device)
        if beam == 1:
            found = _greedy(model, src, src_mask, max_len, bos, eos)
        else:
            found = _beam(model, src, src_mask, max_len, beam, nbest, alpha, bos, eos)
    return _hypotheses(*found, src_mask, alpha)


def _banned(
    vocab: int, model: EncoderDecoder, bos: int, eos: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """(V,) masks: tokens never generated (PAD, BOS) and every token but EOS (for the forced last step)."""
    banned = torch.zeros(vocab, dtype=torch.bool, device=device)
    for tok in {model.pad_id, bos} - {eos}:
        if 0 <= tok < vocab:
            banned[tok] = True
    not_eos = torch.ones(vocab, dtype=torch.bool, device=device)
    not_eos[eos] = False
    return banned, not_eos


def _greedy(
    model: EncoderDecoder, src: Tensor, src_mask: Tensor, max_len: Tensor, bos: int, eos: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Argmax decoding. Returns tokens (B, 1, L), attention (B, 1, L, S), log_prob (B, 1), steps (B, 1)."""
    batch, src_len = src.shape
    device, steps_max = src.device, int(max_len.max()) + 1
    state = model.init_state(model.encode(src, src_mask))
    out_tokens = torch.full((batch, steps_max), model.pad_id, dtype=torch.long, device=device)
    out_attn = torch.zeros(batch, steps_max, src_len, device=device)
    out_logp = torch.zeros(batch, device=device)
    out_steps = torch.zeros(batch, dtype=torch.long, device=device)
    alive = torch.arange(batch, device=device)  # original sentence of every row
    total = torch.zeros(batch, device=device)
    prev = torch.full((batch,), bos, dtype=torch.long, device=device)
    banned = not_eos = None
    for t in range(steps_max):
        log_probs, attn, state = model.step(prev, state)
        log_probs = log_probs.float()
        if banned is None:
            banned, not_eos = _banned(log_probs.shape[-1], model, bos, eos, device)
        mask = banned | ((max_len[alive] <= t).unsqueeze(1) & not_eos)
        tok = log_probs.masked_fill(mask, -math.inf).argmax(-1)
        total = total + log_probs.gather(1, tok.unsqueeze(1)).squeeze(1)
        out_tokens[alive, t] = tok
        out_attn[alive, t] = attn.float()
        ended = tok == eos
        out_logp[alive[ended]] = total[ended]
        out_steps[alive[ended]] = t + 1
        keep = (~ended).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        if keep.numel() < alive.numel():
            alive, total, tok = alive[keep], total[keep], tok[keep]
            state = model.reorder(state, keep)
        prev = tok
    return out_tokens.unsqueeze(1), out_attn.unsqueeze(1), out_logp.unsqueeze(1), out_steps.unsqueeze(1)


def _beam(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor,
    max_len: Tensor,
    beam: int,
    nbest: int,
    alpha: float,
    bos: int,
    eos: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Beam search. Returns tokens (B, N, L), attention (B, N, L, S), log_prob (B, N), steps (B, N).

    Slots with ``steps == 0`` are empty; the others hold finished hypotheses sorted by score.
    """
    batch, src_len = src.shape
    device, steps_max, inf = src.device, int(max_len.max()) + 1, math.inf
    state = model.init_state(model.encode(src, src_mask))
    state = model.reorder(state, torch.arange(batch, device=device).repeat_interleave(beam))

    # Finished hypotheses: the nbest best per sentence, indexed by the original sentence.
    fin_score = torch.full((batch, nbest), -inf, device=device)
    fin_logp = torch.full((batch, nbest), -inf, device=device)
    fin_steps = torch.zeros(batch, nbest, dtype=torch.long, device=device)
    fin_tokens = torch.full((batch, nbest, steps_max), model.pad_id, dtype=torch.long, device=device)
    fin_attn = torch.zeros(batch, nbest, steps_max, src_len, device=device)

    # Active hypotheses of the sentences still searched (A of them): rows are A * beam.
    alive = torch.arange(batch, device=device)  # (A,) original sentence ids
    row_max = max_len  # (A,)
    cum = torch.full((batch, beam), -inf, device=device)  # (A, beam) cumulative log-probabilities
    cum[:, 0] = 0.0  # at the start all beams are the same: expand only the first
    prev = torch.full((batch * beam,), bos, dtype=torch.long, device=device)
    hist_tokens = torch.zeros(batch * beam, 0, dtype=torch.long, device=device)  # (rows, t)
    hist_attn = torch.zeros(batch * beam, 0, src_len, device=device)  # (rows, t, S)
    banned = not_eos = None
    for t in range(steps_max):
        log_probs, attn, state = model.step(prev, state)
        log_probs = log_probs.float()
        n_alive, vocab = alive.numel(), log_probs.shape[-1]
        if banned is None:
            banned, not_eos = _banned(vocab, model, bos, eos, device)
        expanded = cum.view(-1, 1) + log_probs  # (rows, V), a new tensor: masked in place
        expanded.masked_fill_(banned, -inf)
        if int(row_max.min()) <= t:  # some sentences reached their maximum length: only EOS is left
            expanded.masked_fill_((row_max <= t).repeat_interleave(beam).unsqueeze(1) & not_eos, -inf)
        hist_attn = torch.cat([hist_attn, attn.float().unsqueeze(1)], 1)  # (rows, t + 1, S)

        # The 2 * beam best expansions of every sentence; parent = row they extend.
        expanded = expanded.view(n_alive, beam * vocab)
        top_score, top_index = expanded.topk(min(2 * beam, beam * vocab), dim=1)  # (A, C)
        top_tok = top_index % vocab
        parent = top_index // vocab + torch.arange(n_alive, device=device).unsqueeze(1) * beam
        is_eos = top_tok == eos

        # Candidates ending in EOS join the finished ones; keep the nbest best of each sentence.
        new_done = is_eos & (top_score > -inf)
        if bool(new_done.any()):
            new_score = torch.where(new_done, top_score / length_penalty(t + 1, alpha), -inf)
            old_score = fin_score[alive]
            best, pick = torch.cat([old_score, new_score], 1).topk(nbest, dim=1)  # (A, nbest)
            from_old = pick < nbest
            old_j = pick.clamp(max=nbest - 1)
            new_c = (pick - nbest).clamp(min=0)
            rows = parent.gather(1, new_c).view(-1)  # (A * nbest,)
            new_tokens = torch.full(
                (n_alive * nbest, steps_max), model.pad_id, dtype=torch.long, device=device
            )
            new_tokens[:, :t] = hist_tokens.index_select(0, rows)
            new_tokens[:, t] = eos
            new_attn = torch.zeros(n_alive * nbest, steps_max, src_len, device=device)
            new_attn[:, : t + 1] = hist_attn.index_select(0, rows)

            fin_score[alive] = best
            fin_logp[alive] = _merge(fin_logp[alive], top_score.gather(1, new_c), old_j, from_old)
            steps = torch.where(best > -inf, t + 1, 0)  # a slot that is still empty stays empty
            fin_steps[alive] = _merge(fin_steps[alive], steps, old_j, from_old)
            fin_tokens[alive] = _merge(fin_tokens[alive], new_tokens, old_j, from_old)
            fin_attn[alive] = _merge(fin_attn[alive], new_attn, old_j, from_old)

        # The beam best other candidates stay active.
        cum, pos = top_score.masked_fill(is_eos, -inf).topk(beam, dim=1)  # (A, beam)
        next_rows = parent.gather(1, pos)
        next_tok = top_tok.gather(1, pos)

        # Done: at the maximum length, or nbest finished ones no active beam can beat.
        if alpha >= 0:  # lp grows with the length: the longest allowed length is the most favourable
            lp_max = ((5.0 + row_max + 1).float() / 6.0) ** alpha
        else:
            lp_max = torch.full_like(cum[:, 0], length_penalty(t + 2, alpha))
        reachable = cum[:, 0] / lp_max  # cum is sorted: column 0 is the best active beam
        worst = fin_score[alive, nbest - 1]
        done = (row_max <= t) | (cum[:, 0] == -inf) | ((worst > -inf) & (reachable <= worst))
        keep = (~done).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        if keep.numel() < n_alive:
            alive, row_max, cum = alive[keep], row_max[keep], cum[keep]
            next_rows, next_tok = next_rows[keep], next_tok[keep]
        next_rows, prev = next_rows.reshape(-1), next_tok.reshape(-1)
        state = model.reorder(state, next_rows)
        hist_tokens = torch.cat([hist_tokens.index_select(0, next_rows), prev.unsqueeze(1)], 1)
        hist_attn = hist_attn.index_select(0, next_rows)
    return fin_tokens, fin_attn, fin_logp, fin_steps


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
