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

Scores, for query q and key k (Bahdanau et al. 2014; Luong et al. 2015, eq. 8):

    additive    v^T tanh(W q + U k)
    concat      v^T tanh(W_a [q; k])  = v^T tanh(W_a^q q + W_a^k k): the same function as additive;
                the two differ in the decoder that uses them (query s_{i-1} versus h_t)
    dot         q^T k
    general     q^T W_a k
    scaled_dot  q^T k / sqrt(d)
    none        0 for every position: uniform weights, so the context is the mean of the encoder
                states whatever the query (the fixed summary of the RNNencdec baseline)
    multihead   the Transformer's: scaled dot in H learned subspaces, concatenated and projected
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RNN_ATTENTION = ("additive", "concat", "dot", "general", "scaled_dot", "none")
ATTENTION_TYPES = (*RNN_ATTENTION, "multihead")


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim in fp32, exactly 0 where ``mask`` is False."""
    return scores.float().masked_fill(~mask, float("-inf")).softmax(dim=-1)


class Attention(nn.Module):
    """Global attention with one score function (OpenNMT's ``GlobalAttention(attn_type=...)``)."""

    def __init__(self, kind: str, query_dim: int, key_dim: int, attn_dim: int | None = None) -> None:
        super().__init__()
        if kind not in RNN_ATTENTION:
            raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(RNN_ATTENTION)}")
        if kind in ("dot", "scaled_dot") and query_dim != key_dim:
            raise ValueError(f"{kind} attention needs query_dim == key_dim, got {query_dim} and {key_dim}")
        self.kind = kind
        if kind in ("additive", "concat"):
            attn_dim = attn_dim or key_dim
            self.query_proj = nn.Linear(query_dim, attn_dim, bias=False)
            self.key_proj = nn.Linear(key_dim, attn_dim)
            self.energy = nn.Linear(attn_dim, 1, bias=False)
        elif kind == "general":
            self.key_proj = nn.Linear(key_dim, query_dim, bias=False)  # W_a^T k, so q^T W_a k = q . (W_a^T k)
        self.scale = 1 / math.sqrt(key_dim) if kind == "scaled_dot" else 1.0

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Source-only work, done once per sentence: keys (B, S, Dk) -> projected keys."""
        if self.kind in ("additive", "concat", "general"):
            keys = self.key_proj(keys)
        return keys, values

    def attend(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Attention over prepared keys; see the module docstring for shapes."""
        weights = masked_softmax(self.score(query, keys), mask)
        return torch.bmm(weights.to(values.dtype), values), weights

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor]:
        return self.attend(query, *self.prepare(keys, values), mask, need_weights)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """query (B, Tq, Dq), prepared keys (B, S, *) -> scores (B, Tq, S)."""
        if self.kind in ("additive", "concat"):
            hidden = torch.tanh(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))  # (B, Tq, S, A)
            return self.energy(hidden).squeeze(-1)
        if self.kind == "none":
            return query.new_zeros(query.shape[0], query.shape[1], keys.shape[1])
        return torch.bmm(query, keys.transpose(1, 2)) * self.scale


class MultiHeadAttention(nn.Module):
    """The Transformer's multi-head attention (Vaswani et al. 2017), same interface as ``Attention``.

    Prepared keys and values are split into heads, (B, H, S, D/H), which is also the shape of a
    decoder's key/value cache. Weights come back per head: (B, H, Tq, S). When they are not
    needed, the fused ``scaled_dot_product_attention`` kernel computes the context.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model dimension {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def split(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, H, T, D/H)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """keys, values (B, S, D) -> per-head projections (B, H, S, D/H)."""
        return self.split(self.k_proj(keys)), self.split(self.v_proj(values))

    def attend(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """query (B, Tq, D) over prepared keys/values (B, H, S, D/H); mask (B, 1|Tq, S)."""
        q, mask = self.split(self.q_proj(query)), mask.unsqueeze(1)
        dropout = self.dropout if self.training else 0.0
        if need_weights:
            scores = q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = masked_softmax(scores, mask)
            context = F.dropout(weights, dropout, self.training).to(values.dtype) @ values
        else:
            weights = None
            context = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, dropout_p=dropout)
        return self.out_proj(context.transpose(1, 2).flatten(2)), weights

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        return self.attend(query, *self.prepare(keys, values), mask, need_weights)


def build_attention(kind: str, query_dim: int, key_dim: int, attn_dim: int | None = None, heads: int = 1):
    """One attention module by config name (see ``ATTENTION_TYPES``)."""
    if kind == "multihead":
        return MultiHeadAttention(query_dim, heads)
    return Attention(kind, query_dim, key_dim, attn_dim)
