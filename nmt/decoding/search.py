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
from nmt.decoding.finished import Finished, Hypothesis, length_penalty
from nmt.decoding.strategies import Strategy, strategy_for
from nmt.models.base import EncoderDecoder, SpecialIds, State

__all__ = ["search"]


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
    return found.hypotheses(src_mask, config.alpha)


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


@dataclass
class _Rows:
    """The active rows: W per sentence still decoded (A of them), sentence-major, with their paths."""

    alive: Tensor  # (A,) original sentence ids
    max_len: Tensor  # (A,) each sentence's maximum output length
    scores: Tensor  # (A, W) cumulative log-probabilities
    prev: Tensor  # (A * W,) long: the token each row feeds the next step
    tokens: Tensor  # (A * W, t) long: the tokens generated before step t
    attn: Tensor  # (A * W, t, S) their attention (t + 1 steps once step t has run)
    state: State

    @classmethod
    def start(
        cls, model: EncoderDecoder, src: Tensor, src_mask: Tensor, max_len: Tensor, strategy: Strategy
    ) -> _Rows:
        """Every sentence's W rows before the first step: the source encoded once, BOS fed."""
        (batch, src_len), device, width = src.shape, src.device, strategy.width
        state = model.init_state(model.encode(src, src_mask))
        if width > 1:
            state = model.reorder(state, torch.arange(batch, device=device).repeat_interleave(width))
        return cls(
            alive=torch.arange(batch, device=device),
            max_len=max_len,
            scores=strategy.initial_scores(batch, device),
            prev=torch.full((batch * width,), model.specials.bos, dtype=torch.long, device=device),
            tokens=torch.zeros(batch * width, 0, dtype=torch.long, device=device),
            attn=torch.zeros(batch * width, 0, src_len, device=device),
            state=state,
        )

    def advance(
        self, model: EncoderDecoder, keep: Tensor, chosen: tuple[Tensor, Tensor, Tensor], in_place: bool
    ) -> None:
        """The next step's rows: of the sentences ``keep`` (A',) indices, ``chosen`` = scores (A, W),
        parent rows (A, W) and tokens (A, W). ``in_place``: every row is its own parent."""
        scores, next_rows, next_tok = chosen
        leaving = keep.numel() < self.alive.numel()
        if leaving:
            self.alive, self.max_len = self.alive[keep], self.max_len[keep]
            scores, next_rows, next_tok = scores[keep], next_rows[keep], next_tok[keep]
        self.scores, next_rows, self.prev = scores, next_rows.reshape(-1), next_tok.reshape(-1)
        if leaving or not in_place:
            self.state = model.reorder(self.state, next_rows, same_sources=not leaving)
            self.tokens = self.tokens.index_select(0, next_rows)
            self.attn = self.attn.index_select(0, next_rows)
        self.tokens = torch.cat([self.tokens, self.prev.unsqueeze(1)], 1)


def _decode(
    model: EncoderDecoder,
    src: Tensor,
    src_mask: Tensor,
    max_len: Tensor,
    forced: Tensor | None,
    config: DecodeConfig,
) -> Finished:
    """The loop: every sentence's finished hypotheses."""
    strategy, eos = strategy_for(config, src.device), model.specials.eos
    width, length = strategy.width, int(max_len.max()) + 1
    finished = Finished.empty(
        src.shape[0], config.nbest, length, src.shape[1], model.specials.pad, src.device
    )
    rows = _Rows.start(model, src, src_mask, max_len, strategy)
    banned = None
    for t in range(length):
        log_probs, attn, rows.state = model.step(rows.prev, rows.state)
        n_alive, vocab = rows.alive.numel(), log_probs.shape[-1]
        banned = banned or _banned(vocab, model.specials, src.device)
        log_probs = _allowed(log_probs, banned, rows, forced, t, width)
        rows.attn = torch.cat([rows.attn, attn.float().unsqueeze(1)], 1)  # (rows, t + 1, S)

        cand_score, cand_tok, cand_beam = strategy.step(log_probs.view(n_alive, width, vocab), rows.scores)
        parent = cand_beam + torch.arange(n_alive, device=src.device).unsqueeze(1) * width  # (A, C) rows
        finished.add(
            rows.alive, (rows.tokens, rows.attn), (cand_score, cand_tok, parent), eos, t, config.alpha
        )
        chosen = _next_rows(cand_score.masked_fill(cand_tok == eos, -math.inf), cand_tok, parent, width)
        done = _done(chosen[0], rows.max_len, finished.score[rows.alive, -1], t, config.alpha)
        keep = (~done).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        rows.advance(model, keep, chosen, in_place=cand_score.shape[1] == width)
    return finished


def _allowed(
    log_probs: Tensor, banned: tuple[Tensor, Tensor], rows: _Rows, forced: Tensor | None, t: int, width: int
) -> Tensor:
    """log_probs (A * W, V) as float, -inf where a token may not come at step ``t``: PAD and BOS, all
    but EOS at a sentence's maximum length, all but the forced token within a prefix."""
    never, not_eos = banned
    log_probs = log_probs.float().index_fill_(1, never, -math.inf)  # in place: the model's own tensor
    if int(rows.max_len.min()) <= t:  # some sentences reached their maximum length: only EOS is left
        log_probs.masked_fill_((rows.max_len <= t).repeat_interleave(width).unsqueeze(1) & not_eos, -math.inf)
    if forced is not None and t < forced.shape[1]:
        _force(log_probs, forced[rows.alive, t].repeat_interleave(width))
    return log_probs


def _next_rows(scores: Tensor, tokens: Tensor, parent: Tensor, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """The W best candidates (scores (A, C), -inf for those ending in EOS): their scores, parent rows
    and tokens, each (A, W); the candidates as they are when there is one a row (greedy, sampling)."""
    if scores.shape[1] == width:
        return scores, parent, tokens
    scores, pos = scores.topk(width, dim=1)
    return scores, parent.gather(1, pos), tokens.gather(1, pos)


def _done(scores: Tensor, max_len: Tensor, worst: Tensor, t: int, alpha: float) -> Tensor:
    """(A,) bool, after step ``t``: the sentences at their maximum length, with no finite row left, or
    whose nbest finished hypotheses (the worst of them ``worst`` (A,)) no active row (scores (A, W))
    can beat."""
    best_active = scores.max(1).values
    if alpha >= 0:  # lp grows with the length: the longest allowed length is the most favourable
        lp_max = ((5.0 + max_len + 1).float() / 6.0) ** alpha
    else:
        lp_max = torch.full_like(best_active, length_penalty(t + 2, alpha))
    reachable = best_active / lp_max
    return (max_len <= t) | (best_active == -math.inf) | ((worst > -math.inf) & (reachable <= worst))


def _banned(vocab: int, specials: SpecialIds, device: torch.device) -> tuple[Tensor, Tensor]:
    """The ids never generated (PAD, BOS), and a (V,) mask of every token but EOS (the forced last step)."""
    pad, bos, eos = specials.pad, specials.bos, specials.eos
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
