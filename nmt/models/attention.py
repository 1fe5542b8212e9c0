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

A normaliser (``nmt.models.normalizers``: softmax, sparsemax, entmax, hard) turns scores into
weights. Mechanisms that change where a query may look or what it scores, one class each:

    LocalMAttention    local-m (Luong et al. 2015): only source positions within D of p_t = t
    LocalPAttention    local-p: p_t = (S - 1) sigmoid(v_p^T tanh(W_p q)) predicted from the query,
                       positions within D of it, scores plus the log of a Gaussian around p_t
                       (sigma = D / 2), normalised over the window (so rows still sum to 1)
    CoverageAttention  coverage (Tu et al. 2016; See et al. 2017): v^T tanh(W q + U k_j + w c_j),
                       c_j the sum of the weights source position j received at earlier steps;
                       the coverage loss sum_j min(a_j, c_j) penalises attending there again
    RelativeMultiHeadAttention  relative position representations (Shaw et al. 2018): learned
                       vectors for the clipped distance j - i added to the keys and values

**Decoder history.** A mechanism that depends on earlier steps keeps what it needs in the
decoder's state (batch-first tensors, so beam search reorders them with the rest): ``start``
gives its entries before the first step (``history_keys`` names them), ``attend`` reads them and
``advance`` returns them one step later. Local-m keeps the step t, coverage the sum of past
weights; local-p needs none (p_t is a function of the current query).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from nmt.models.normalizers import Normalizer, Softmax

History = dict[str, Tensor]
SCORES = ("additive", "concat", "dot", "general", "scaled_dot", "none")
SPANS = ("global", "local_m", "local_p")


class Attention(nn.Module):
    """Global attention with one score function (OpenNMT's ``GlobalAttention(attn_type=...)``) and
    one normaliser (softmax unless given)."""

    history_keys: tuple[str, ...] = ()
    """The decoder-state entries this attention keeps across steps (see ``start``/``advance``)."""

    def __init__(
        self,
        kind: str,
        query_dim: int,
        key_dim: int,
        attn_dim: int | None = None,
        normalizer: Normalizer | None = None,
    ) -> None:
        super().__init__()
        if kind not in SCORES:
            raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(SCORES)}")
        if kind in ("dot", "scaled_dot") and query_dim != key_dim:
            raise ValueError(f"{kind} attention needs query_dim == key_dim, got {query_dim} and {key_dim}")
        self.kind = kind
        self.normalizer = normalizer or Softmax()
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

    def start(self, mask: Tensor) -> History:
        """The history before the first target step, for a source mask (B, 1, S): ``history_keys``."""
        return {}

    def attend(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor,
        need_weights: bool = True,
        history: History | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attention over prepared keys; see the module docstring for shapes. ``history``: this
        attention's decoder-state entries (by default those of ``start``)."""
        history = self.start(mask) if history is None else history
        scores, mask = self.restrict(self.score(query, keys, history), query, mask, history)
        weights = self.normalizer(scores, mask)
        return torch.bmm(weights.to(values.dtype), values), weights

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor,
        need_weights: bool = True,
        history: History | None = None,
    ) -> tuple[Tensor, Tensor]:
        return self.attend(query, *self.prepare(keys, values), mask, need_weights, history)

    def score(self, query: Tensor, keys: Tensor, history: History) -> Tensor:
        """query (B, Tq, Dq), prepared keys (B, S, *) -> scores (B, Tq, S)."""
        if self.kind in ("additive", "concat"):
            return self.additive(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))
        if self.kind == "none":
            return query.new_zeros(query.shape[0], query.shape[1], keys.shape[1])
        return torch.bmm(query, keys.transpose(1, 2)) * self.scale

    def additive(self, hidden: Tensor) -> Tensor:
        """v^T tanh(hidden): (B, Tq, S, A) -> (B, Tq, S)."""
        return self.energy(torch.tanh(hidden)).squeeze(-1)

    def restrict(
        self, scores: Tensor, query: Tensor, mask: Tensor, history: History
    ) -> tuple[Tensor, Tensor]:
        """Where each query may look: scores (B, Tq, S) and the mask, changed by a mechanism."""
        return scores, mask

    def advance(self, history: History, weights: Tensor) -> History:
        """The history one step later, given this step's weights (B, 1, S)."""
        return history

    def penalty(self, history: History, weights: Tensor) -> Tensor | None:
        """A training loss term of this step per row, (B,); None when the mechanism has none."""
        return None


class LocalAttention(Attention):
    """Local attention (Luong et al. 2015, section 3.2): only the source positions within ``window``
    (D) of an aligned position p_t; ``position`` says where p_t is."""

    def __init__(
        self,
        kind: str,
        query_dim: int,
        key_dim: int,
        attn_dim: int | None = None,
        normalizer: Normalizer | None = None,
        *,
        window: int,
    ) -> None:
        super().__init__(kind, query_dim, key_dim, attn_dim, normalizer)
        if window < 1:
            raise ValueError(f"window={window}: local attention needs a window of at least 1")
        self.window = window

    def position(self, query: Tensor, mask: Tensor, history: History) -> Tensor:
        """p_t of every query: (B, Tq) float, between 0 and the last real source position."""
        raise NotImplementedError

    def restrict(
        self, scores: Tensor, query: Tensor, mask: Tensor, history: History
    ) -> tuple[Tensor, Tensor]:
        centre = self.position(query, mask, history).unsqueeze(-1)  # (B, Tq, 1)
        distance = torch.arange(scores.shape[-1], device=scores.device) - centre  # (B, Tq, S)
        return self.weigh(scores, distance), mask & (distance.abs() <= self.window)

    def weigh(self, scores: Tensor, distance: Tensor) -> Tensor:
        """Scores (B, Tq, S) given each position's distance from p_t (local-m: as they are)."""
        return scores


class LocalMAttention(LocalAttention):
    """local-m: monotonic alignment, p_t = t (clipped to the last real source position)."""

    history_keys = ("attn_step",)

    def start(self, mask: Tensor) -> History:
        return {"attn_step": torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)}

    def position(self, query: Tensor, mask: Tensor, history: History) -> Tensor:
        steps = history["attn_step"].unsqueeze(1) + torch.arange(query.shape[1], device=query.device)
        last = mask.sum(-1) - 1  # (B, 1)
        return torch.minimum(steps, last).float()

    def advance(self, history: History, weights: Tensor) -> History:
        return {"attn_step": history["attn_step"] + weights.shape[1]}


class LocalPAttention(LocalAttention):
    """local-p: predictive alignment, p_t = (S - 1) sigmoid(v_p^T tanh(W_p q)), and a Gaussian
    (sigma = D / 2) around it added to the scores as its log."""

    def __init__(
        self,
        kind: str,
        query_dim: int,
        key_dim: int,
        attn_dim: int | None = None,
        normalizer: Normalizer | None = None,
        *,
        window: int,
    ) -> None:
        super().__init__(kind, query_dim, key_dim, attn_dim, normalizer, window=window)
        self.position_proj = nn.Linear(query_dim, query_dim, bias=False)  # W_p
        self.position_energy = nn.Linear(query_dim, 1, bias=False)  # v_p

    def position(self, query: Tensor, mask: Tensor, history: History) -> Tensor:
        relative = torch.sigmoid(self.position_energy(torch.tanh(self.position_proj(query)))).squeeze(-1)
        return relative.float() * (mask.sum(-1) - 1)  # (B, Tq)

    def weigh(self, scores: Tensor, distance: Tensor) -> Tensor:
        """Plus the log of a Gaussian around p_t: - distance^2 / (2 sigma^2), sigma = D / 2."""
        sigma = self.window / 2
        return scores.float() - distance**2 / (2 * sigma**2)


class CoverageAttention(Attention):
    """Additive attention with a coverage vector (Tu et al. 2016): v^T tanh(W q + U k_j + w c_j);
    ``loss_weight`` > 0 adds lambda * sum_j min(a_j, c_j) per step (See et al. 2017)."""

    history_keys = ("coverage",)

    def __init__(
        self,
        kind: str,
        query_dim: int,
        key_dim: int,
        attn_dim: int | None = None,
        normalizer: Normalizer | None = None,
        *,
        loss_weight: float = 0.0,
    ) -> None:
        super().__init__(kind, query_dim, key_dim, attn_dim, normalizer)
        if self.kind not in ("additive", "concat"):
            raise ValueError(f"coverage enters the additive score; attention {self.kind!r} has none")
        self.coverage_proj = nn.Linear(1, self.energy.in_features, bias=False)  # w
        self.loss_weight = loss_weight

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


def fused_backends() -> list[SDPBackend]:
    """The kernels the fused path may use: those enabled now (torch's defaults, or a caller's own
    ``sdpa_kernel``) less cuDNN's attention, unless nothing else is left. cuDNN builds an execution
    plan for every new input shape (milliseconds each), and NMT batches change shape at every step
    and every decoding position: with it, beam search on an H100 ran at a sixth of the speed."""
    enabled = {
        SDPBackend.FLASH_ATTENTION: torch.backends.cuda.flash_sdp_enabled(),
        SDPBackend.EFFICIENT_ATTENTION: torch.backends.cuda.mem_efficient_sdp_enabled(),
        SDPBackend.MATH: torch.backends.cuda.math_sdp_enabled(),
    }
    return [backend for backend, on in enabled.items() if on] or [SDPBackend.CUDNN_ATTENTION]


class MultiHeadAttention(nn.Module):
    """The Transformer's multi-head attention (Vaswani et al. 2017), same interface as ``Attention``.

    Prepared keys and values are split into heads, (B, H, S, D/H), which is also the shape of a
    decoder's key/value cache. Weights come back per head: (B, H, Tq, S). When they are not
    needed and the normaliser is the plain softmax, the fused ``scaled_dot_product_attention``
    kernel computes the context (exactly the same function). ``fused_in_training`` = False keeps that
    kernel to inference: on some CPUs its bf16 backward pass is several times slower than the plain
    matrix products (``nmt.training.precision`` measures which, per run).
    """

    fused_in_training: bool = True

    def __init__(
        self, dim: int, heads: int, dropout: float = 0.0, normalizer: Normalizer | None = None
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model dimension {dim} is not divisible by {heads} heads")
        self.heads, self.dropout, self.dim = heads, dropout, dim
        self.normalizer = normalizer or Softmax()
        self.in_proj = nn.Linear(dim, 3 * dim)  # [W_q; W_k; W_v] stacked: (3D, D)
        self.out_proj = nn.Linear(dim, dim)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        """Checkpoints written before the fused projection hold ``q_proj``, ``k_proj`` and ``v_proj``:
        stacked into ``in_proj`` on load (the same function, exactly)."""
        for kind in ("weight", "bias"):
            old = [f"{prefix}{name}_proj.{kind}" for name in "qkv"]
            if all(key in state_dict for key in old):
                state_dict[f"{prefix}in_proj.{kind}"] = torch.cat([state_dict.pop(key) for key in old])
        super()._load_from_state_dict(state_dict, prefix, *args)

    @property
    def fused(self) -> bool:
        """Whether ``scaled_dot_product_attention`` computes exactly this attention."""
        return self.normalizer.exact_softmax

    def split(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, H, T, D/H)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def rows(self, first: int, last: int) -> tuple[Tensor, Tensor]:
        """Weight (n D, D) and bias (n D,) of projections ``first`` .. ``last`` - 1 (0 q, 1 k, 2 v)."""
        return self.in_proj.weight[first * self.dim : last * self.dim], self.in_proj.bias[
            first * self.dim : last * self.dim
        ]

    def project_self(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention's queries, keys and values of x (B, T, D) in one matrix product: per-head
        (B, H, T, D/H) each."""
        q, k, v = self.in_proj(x).chunk(3, -1)
        return self.split(q), self.split(k), self.split(v)

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """keys, values (B, S, D) -> per-head projections (B, H, S, D/H); one matrix product when
        they are the same tensor (cross-attention over the encoder's memory)."""
        if keys is values:
            k, v = F.linear(keys, *self.rows(1, 3)).chunk(2, -1)
        else:
            k, v = F.linear(keys, *self.rows(1, 2)), F.linear(values, *self.rows(2, 3))
        return self.split(k), self.split(v)

    def attend(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """query (B, Tq, D) over prepared keys/values (B, H, S, D/H); mask (B, 1|Tq, S)."""
        q = self.split(F.linear(query, *self.rows(0, 1)))
        return self.attend_heads(q, keys, values, mask, need_weights)

    def attend_heads(
        self, q: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """Per-head queries q (B, H, Tq, D/H) over keys/values (B, H, S, D/H); mask (B, 1|Tq, S) ->
        context (B, Tq, D) and, when asked for, the weights (B, H, Tq, S)."""
        mask = mask.unsqueeze(1)
        dropout = self.dropout if self.training else 0.0
        if need_weights or not self.fused or (self.training and not self.fused_in_training):
            weights = self.normalizer(self.score(q, keys), mask)
            context = self.mix(F.dropout(weights, dropout, self.training).to(values.dtype), values)
        else:
            weights = None
            with sdpa_kernel(fused_backends()):
                context = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, dropout_p=dropout)
        return self.out_proj(context.transpose(1, 2).flatten(2)), weights if need_weights else None

    def score(self, q: Tensor, keys: Tensor) -> Tensor:
        """Per-head queries (B, H, Tq, d), keys (B, H, S, d) -> scores (B, H, Tq, S)."""
        return q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])

    def mix(self, weights: Tensor, values: Tensor) -> Tensor:
        """weights (B, H, Tq, S), values (B, H, S, d) -> per-head context (B, H, Tq, d)."""
        return weights @ values

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, need_weights: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        return self.attend(query, *self.prepare(keys, values), mask, need_weights)


class RelativeMultiHeadAttention(MultiHeadAttention):
    """Self-attention with relative position representations (Shaw et al. 2018):

        e_ij = q_i (k_j + a^K_ij)^T / sqrt(d),   z_i = sum_j w_ij (v_j + a^V_ij),
        a^K_ij = w^K_clip(j - i, k),  a^V_ij = w^V_clip(j - i, k),  clip(x, k) = max(-k, min(k, x))

    with 2k + 1 learned vectors of the head size each, shared by the heads. The queries are the
    last Tq of the S positions (encoder: all of them; a decoder step: the newest ones after its
    cache), which fixes every distance j - i without further arguments.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        dropout: float = 0.0,
        normalizer: Normalizer | None = None,
        *,
        max_distance: int,
    ) -> None:
        super().__init__(dim, heads, dropout, normalizer)
        if max_distance < 1:
            raise ValueError(
                f"max_relative_position={max_distance}: the clipping distance must be at least 1"
            )
        self.max_distance = max_distance
        self.rel_keys = nn.Embedding(2 * max_distance + 1, dim // heads)  # w^K
        self.rel_values = nn.Embedding(2 * max_distance + 1, dim // heads)  # w^V

    @property
    def fused(self) -> bool:
        return False

    def distances(self, queries: int, keys: int, device: torch.device) -> Tensor:
        """clip(j - i, k) + k for the last ``queries`` of ``keys`` positions: (Tq, S) indices."""
        i = torch.arange(keys - queries, keys, device=device).unsqueeze(1)
        j = torch.arange(keys, device=device)
        return (j - i).clamp(-self.max_distance, self.max_distance) + self.max_distance

    def score(self, q: Tensor, keys: Tensor) -> Tensor:
        relative = self.rel_keys(self.distances(q.shape[2], keys.shape[2], q.device))  # (Tq, S, d)
        scores = q @ keys.transpose(-2, -1) + torch.einsum("bhqd,qsd->bhqs", q, relative.to(q.dtype))
        return scores / math.sqrt(q.shape[-1])

    def mix(self, weights: Tensor, values: Tensor) -> Tensor:
        relative = self.rel_values(self.distances(weights.shape[2], values.shape[2], values.device))
        return weights @ values + torch.einsum("bhqs,qsd->bhqd", weights, relative.to(values.dtype))


def build_attention(
    kind: str,
    query_dim: int,
    key_dim: int,
    attn_dim: int | None = None,
    normalizer: Normalizer | None = None,
    *,
    span: str = "global",
    window: int = 10,
    coverage: bool = False,
    coverage_loss: float = 0.0,
) -> Attention:
    """An RNN decoder's attention: score function ``kind`` (``SCORES``), over the whole source or a
    local window (``span``, ``SPANS``; ``window`` = D), with a coverage vector when ``coverage``."""
    if span not in SPANS:
        raise ValueError(f"unknown attention span {span!r}; choose one of {', '.join(SPANS)}")
    if coverage and span != "global":
        raise ValueError("coverage attention is global: it goes with span=global")
    if coverage:
        return CoverageAttention(kind, query_dim, key_dim, attn_dim, normalizer, loss_weight=coverage_loss)
    if span == "local_m":
        return LocalMAttention(kind, query_dim, key_dim, attn_dim, normalizer, window=window)
    if span == "local_p":
        return LocalPAttention(kind, query_dim, key_dim, attn_dim, normalizer, window=window)
    return Attention(kind, query_dim, key_dim, attn_dim, normalizer)


def build_multihead(
    dim: int, heads: int, dropout: float = 0.0, normalizer: Normalizer | None = None, max_distance: int = 0
) -> MultiHeadAttention:
    """The Transformer's attention; with relative positions clipped at ``max_distance`` when > 0."""
    if max_distance:
        return RelativeMultiHeadAttention(dim, heads, dropout, normalizer, max_distance=max_distance)
    return MultiHeadAttention(dim, heads, dropout, normalizer)
