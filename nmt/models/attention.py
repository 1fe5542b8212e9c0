"""The attention family behind one interface.

Every member maps a query, keys, values and a mask to ``(context, weights)``::

    context, weights = attention(query, keys, values, mask)

    query   (B, Tq, Dq)   one row per target position
    keys    (B, S, Dk)    one row per source position
    values  (B, S, Dv)
    mask    bool, broadcastable to (B, Tq, S); True where the query may look (real source tokens)
    context (B, Tq, Dv)
    weights (B, Tq, S)    (multihead: (B, H, Tq, S)); each row sums to 1 over allowed positions
                          and is exactly 0 on masked ones

Work that depends on the source alone (projecting the keys) is split out into ``prepare``, so an
incremental decoder does it once per sentence and then calls ``attend`` at every step.

Scores, for query q and key k (Bahdanau et al. 2014; Luong et al. 2015, eq. 8), one class each:

    additive    AdditiveAttention   v^T tanh(W q + U k)
    concat      AdditiveAttention   v^T tanh(W_a [q; k]) = v^T tanh(W_a^q q + W_a^k k): the same
                                    function; the two differ in the decoder that uses them
    dot         DotAttention        q^T k
    general     GeneralAttention    q^T W_a k
    scaled_dot  ScaledDotAttention  q^T k / sqrt(d)
    none        UniformAttention    0 for every position: uniform weights, so the context is the
                                    mean of the encoder states whatever the query (the RNNencdec
                                    baseline's fixed summary)
    multihead   MultiHeadAttention  the Transformer's (``nmt.models.multihead``): scaled dot in
                                    H learned subspaces, concatenated and projected

A normaliser (``nmt.models.normalizers``: softmax, sparsemax, entmax, hard) turns scores into
weights, after a span (``nmt.models.spans``: global, local-m, local-p) has said where each query
may look. Mechanisms that change what a query scores, one class each:

    CoverageAttention  coverage (Tu et al. 2016; See et al. 2017): v^T tanh(W q + U k_j + w c_j),
                       c_j the sum of the weights source position j received at earlier steps;
                       the coverage loss sum_j min(a_j, c_j) penalises attending there again

**Decoder history.** What an attention needs from earlier steps (local-m's step, coverage's sum
of past weights) lives in the decoder's state: ``start`` gives its entries before the first step
(``history_keys`` names them), ``attend`` reads them and ``advance`` returns them one step later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from nmt.models.normalizers import Normalizer, Softmax
from nmt.models.spans import SPANS, History, Span

SpanFactory = Callable[[], Span]


class Attention(nn.Module):
    """Attention with one score function (one subclass each, ``SCORES``), one normaliser (softmax
    unless given) and one span (where each query may look: ``nmt.models.spans``; everywhere unless
    given). The span's decoder history is the attention's (``history_keys``, ``start``, ``advance``)."""

    depends_on_input: bool = True
    """False for a score that ignores query and keys (uniform weights: nothing to align)."""

    def __init__(
        self, normalizer: Normalizer | None = None, span: SpanFactory = Span, **layers: nn.Module
    ) -> None:
        """``layers``: the score's own, built and registered before the span (checkpoints list their
        parameters in this order, and a seed initialises them so)."""
        super().__init__()
        self.normalizer = normalizer or Softmax()
        for name, layer in layers.items():
            self.add_module(name, layer)
        self.span = span()

    @property
    def history_keys(self) -> tuple[str, ...]:
        """The decoder-state entries this attention keeps across steps (see ``start``/``advance``)."""
        return self.span.history_keys

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Source-only work, done once per sentence: keys (B, S, Dk) -> prepared keys (B, S, *)."""
        return keys, values

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        """query (B, Tq, Dq), prepared keys (B, S, *) -> scores (B, Tq, S)."""
        raise NotImplementedError

    def start(self, mask: Tensor) -> History:
        """The history before the first target step, for a source mask (B, 1, S): ``history_keys``."""
        return self.span.start(mask)

    def attend(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, history: History | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attention over prepared keys; see the module docstring for shapes. ``history``: this
        attention's decoder-state entries (by default those of ``start``)."""
        history = self.start(mask) if history is None else history
        scores, mask = self.span.restrict(self.score(query, keys, history), query, mask, history)
        weights = self.normalizer(scores, mask)
        return torch.bmm(weights.to(values.dtype), values), weights

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, history: History | None = None
    ) -> tuple[Tensor, Tensor]:
        return self.attend(query, *self.prepare(keys, values), mask, history)

    def advance(self, history: History, weights: Tensor) -> History:
        """The history one step later, given this step's weights (B, 1, S)."""
        return self.span.advance(history, weights)

    def penalty(self, history: History, weights: Tensor) -> Tensor | None:
        """A training loss term of this step per row, (B,); None when the mechanism has none."""
        return None

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Checkpoints written before spans were modules of their own name local-p's layers
        ``position_*`` of the attention itself: read them as the span's."""
        for key in [key for key in state_dict if key.startswith(f"{prefix}position_")]:
            state_dict[f"{prefix}span.{key[len(prefix) :]}"] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args)


class AdditiveAttention(Attention):
    """Bahdanau et al. (2014): v^T tanh(W q + U k), U k prepared once per sentence. Luong et al.'s
    concat score, v^T tanh(W_a [q; k]), is the same function."""

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        attn_dim: int,
        normalizer: Normalizer | None = None,
        span: SpanFactory = Span,
    ) -> None:
        super().__init__(
            normalizer,
            span,
            query_proj=nn.Linear(query_dim, attn_dim, bias=False),  # W
            key_proj=nn.Linear(key_dim, attn_dim),  # U
            energy=nn.Linear(attn_dim, 1, bias=False),  # v
        )

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        return self.key_proj(keys), values

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        return self.additive(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))

    def additive(self, hidden: Tensor) -> Tensor:
        """v^T tanh(hidden): (B, Tq, S, A) -> (B, Tq, S)."""
        return self.energy(torch.tanh(hidden)).squeeze(-1)


class DotAttention(Attention):
    """Luong et al. (2015)'s dot score q^T k (query and keys of one size)."""

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))


class ScaledDotAttention(Attention):
    """q^T k / sqrt(d), the Transformer's score for one head."""

    def __init__(self, key_dim: int, normalizer: Normalizer | None = None, span: SpanFactory = Span) -> None:
        super().__init__(normalizer, span)
        self.scale = 1 / math.sqrt(key_dim)

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2)) * self.scale


class GeneralAttention(Attention):
    """Luong et al. (2015)'s general score q^T W_a k, computed as q . (W_a^T k), W_a^T k prepared once."""

    def __init__(
        self, query_dim: int, key_dim: int, normalizer: Normalizer | None = None, span: SpanFactory = Span
    ) -> None:
        super().__init__(normalizer, span, key_proj=nn.Linear(key_dim, query_dim, bias=False))

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        return self.key_proj(keys), values

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))


class UniformAttention(Attention):
    """Score 0 everywhere: uniform weights, the context is the mean of the encoder states whatever
    the query (the fixed summary of the RNNencdec baseline)."""

    depends_on_input = False

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        return query.new_zeros(query.shape[0], query.shape[1], keys.shape[1])


class CoverageAttention(AdditiveAttention):
    """Additive attention with a coverage vector (Tu et al. 2016): v^T tanh(W q + U k_j + w c_j);
    ``loss_weight`` > 0 adds lambda * sum_j min(a_j, c_j) per step (See et al. 2017). Global only."""

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        attn_dim: int,
        normalizer: Normalizer | None = None,
        *,
        loss_weight: float = 0.0,
    ) -> None:
        super().__init__(query_dim, key_dim, attn_dim, normalizer)
        self.coverage_proj = nn.Linear(1, attn_dim, bias=False)  # w
        self.loss_weight = loss_weight

    @property
    def history_keys(self) -> tuple[str, ...]:
        return ("coverage",)

    def start(self, mask: Tensor) -> History:
        return {"coverage": mask.new_zeros(mask.shape[0], mask.shape[-1], dtype=torch.float)}

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        """Queries (B, Tq, Dq) all see the same coverage (one step at a time in a decoder)."""
        coverage = self.coverage_proj(history["coverage"].to(keys.dtype).unsqueeze(-1))  # (B, S, A)
        return self.additive(self.query_proj(query).unsqueeze(2) + (keys + coverage).unsqueeze(1))

    def advance(self, history: History, weights: Tensor) -> History:
        return {"coverage": history["coverage"] + weights.sum(1)}

    def penalty(self, history: History, weights: Tensor) -> Tensor | None:
        if not self.loss_weight:
            return None
        overlap = torch.minimum(weights, history["coverage"].unsqueeze(1))  # (B, Tq, S)
        return self.loss_weight * overlap.sum((1, 2))


ScoreFactory = Callable[[int, int, int, Normalizer, SpanFactory], Attention]
SCORES: dict[str, ScoreFactory] = {
    "additive": AdditiveAttention,
    "concat": AdditiveAttention,
    "dot": lambda query_dim, key_dim, attn_dim, normalizer, span: DotAttention(normalizer, span),
    "general": lambda query_dim, key_dim, attn_dim, normalizer, span: GeneralAttention(
        query_dim, key_dim, normalizer, span
    ),
    "scaled_dot": lambda query_dim, key_dim, attn_dim, normalizer, span: ScaledDotAttention(
        key_dim, normalizer, span
    ),
    "none": lambda query_dim, key_dim, attn_dim, normalizer, span: UniformAttention(normalizer, span),
}
"""``model.attention``: the score functions, each built from (query_dim, key_dim, attn_dim,
normaliser, span). The model config's check (``nmt.config``) names any other value."""
PROJECTED_KEYS = ("additive", "concat", "general")
"""The scores that project their keys (where ``model.word_keys`` can add the source words)."""


def build_attention(
    kind: str,
    query_dim: int,
    key_dim: int,
    attn_dim: int,
    normalizer: Normalizer | None = None,
    *,
    span: str = "global",
    window: int = 10,
    coverage: bool = False,
    coverage_loss: float = 0.0,
) -> Attention:
    """An RNN decoder's attention: score ``kind`` (``SCORES``) over the whole source or a local
    window (``span``, ``SPANS``; ``window`` = D), or, with ``coverage``, additive attention with a
    coverage vector. The arguments come from a checked model config."""
    normalizer = normalizer or Softmax()
    if coverage:
        return CoverageAttention(query_dim, key_dim, attn_dim, normalizer, loss_weight=coverage_loss)
    return SCORES[kind](query_dim, key_dim, attn_dim, normalizer, partial(SPANS[span], query_dim, window))
