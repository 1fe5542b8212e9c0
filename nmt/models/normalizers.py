"""What turns attention scores into weights: softmax, its sparse relatives, and hard attention.

Every normaliser maps scores (..., S) and a mask broadcastable to them (True where a position may
be attended) to weights (..., S) in fp32: each row sums to 1 and is exactly 0 on masked positions.

    softmax        exp(z) / sum exp(z): every allowed position gets some weight
    sparsemax      the Euclidean projection of z onto the simplex (Martins & Astudillo 2016):
                   positions scoring far enough below the best get exactly 0
    entmax15       1.5-entmax (Peters et al. 2019): between the two, sparse but smoother
    entmax_bisect  alpha-entmax for any alpha > 1 by bisection (alpha -> 1: softmax, 2: sparsemax);
                   Correia et al. (2019) use it in the Transformer's heads
    hard           one position per row (Xu et al. 2015, "hard" attention): in training a sample of
                   the Gumbel-softmax with the straight-through estimator (Jang et al. 2017): the
                   forward pass is one-hot, gradients are the relaxed softmax's; at inference the
                   argmax. Either way the weights are one-hot by construction.

The sparse mappings come from the ``entmax`` package (``pip install 'nmt[sparse]'``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from nmt.errors import NmtError

MASKED_SCORE = -1e6
"""What masked scores become before a sparse mapping: far below any real score, yet finite (the
sorting and bisection of entmax need finite inputs); the weights there are 0 either way."""


def _entmax():
    try:
        import entmax
    except ImportError:
        raise NmtError("sparse attention needs the entmax package: pip install 'nmt[sparse]'") from None
    return entmax


class Normalizer(nn.Module):
    """scores (..., S), mask (broadcastable, bool) -> weights (..., S) fp32, rows summing to 1."""

    exact_softmax = False
    """Whether this is the plain softmax (so a fused softmax kernel computes the same thing)."""

    def forward(self, scores: Tensor, mask: Tensor) -> Tensor:
        weights = self.normalize(scores.float().masked_fill(~mask, MASKED_SCORE))
        return weights.masked_fill(~mask, 0.0)

    def normalize(self, scores: Tensor) -> Tensor:
        raise NotImplementedError


class Softmax(Normalizer):
    exact_softmax = True

    def forward(self, scores: Tensor, mask: Tensor) -> Tensor:
        return scores.float().masked_fill(~mask, float("-inf")).softmax(dim=-1)


class Sparsemax(Normalizer):
    def normalize(self, scores: Tensor) -> Tensor:
        return _entmax().sparsemax(scores, dim=-1)


class Entmax15(Normalizer):
    def normalize(self, scores: Tensor) -> Tensor:
        return _entmax().entmax15(scores, dim=-1)


class EntmaxBisect(Normalizer):
    """alpha-entmax by bisection; rows are renormalised to sum to 1."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        if not alpha > 1:
            raise ValueError(f"entmax_alpha={alpha}: alpha-entmax needs alpha > 1 (1 is softmax)")
        self.alpha = alpha

    def normalize(self, scores: Tensor) -> Tensor:
        return _entmax().entmax_bisect(scores, self.alpha, dim=-1)


class HardGumbel(Normalizer):
    """One-hot weights: straight-through Gumbel-softmax at temperature ``tau`` in training, argmax
    at inference."""

    def __init__(self, tau: float) -> None:
        super().__init__()
        if not tau > 0:
            raise ValueError(f"gumbel_tau={tau}: the Gumbel-softmax temperature must be positive")
        self.tau = tau

    def forward(self, scores: Tensor, mask: Tensor) -> Tensor:
        scores = scores.float().masked_fill(~mask, float("-inf"))
        if self.training:  # gumbel_softmax adds noise to -inf too: masked positions stay at 0
            return F.gumbel_softmax(scores, tau=self.tau, hard=True, dim=-1)
        return F.one_hot(scores.argmax(-1), scores.shape[-1]).float()


def build_normalizer(name: str, alpha: float = 1.5, tau: float = 1.0) -> Normalizer:
    """The normaliser ``name`` (one of ``nmt.schema.NORMALIZERS``); ``alpha`` for entmax_bisect,
    ``tau`` for hard."""
    if name == "entmax_bisect":
        return EntmaxBisect(alpha)
    if name == "hard":
        return HardGumbel(tau)
    simple = {"softmax": Softmax, "sparsemax": Sparsemax, "entmax15": Entmax15}
    return simple[name]()
