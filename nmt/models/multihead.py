"""The Transformer's attention: multi-head scaled dot products (Vaswani et al. 2017), with the shapes
and ``prepare``/``attend`` split of ``nmt.models.attention``, weights per head (B, H, Tq, S).

    MultiHeadAttention          scaled dot in H learned subspaces, concatenated and projected
    RelativeMultiHeadAttention  relative position representations (Shaw et al. 2018): learned
                                vectors for the clipped distance j - i added to the keys and values
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from nmt.models.normalizers import Normalizer, Softmax


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
            # Compiled code picks its own kernel, once per batch shape (``trainer.compile``).
            kernels = nullcontext() if torch.compiler.is_compiling() else sdpa_kernel(fused_backends())
            with kernels:
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


def build_multihead(
    dim: int, heads: int, dropout: float = 0.0, normalizer: Normalizer | None = None, max_distance: int = 0
) -> MultiHeadAttention:
    """The Transformer's attention; with relative positions clipped at ``max_distance`` when > 0."""
    if max_distance:
        return RelativeMultiHeadAttention(dim, heads, dropout, normalizer, max_distance=max_distance)
    return MultiHeadAttention(dim, heads, dropout, normalizer)
