"""Where a query of RNN attention may look: the whole source, or a local window (Luong et al. 2015).

A span restricts scores (B, Tq, S) and the mask after the score function, before the normaliser:

    Span          global: every real source position
    LocalMSpan    local-m: only source positions within D of p_t = t
    LocalPSpan    local-p: p_t = (S - 1) sigmoid(v_p^T tanh(W_p q)) predicted from the query,
                  positions within D of it, scores plus the log of a Gaussian around p_t
                  (sigma = D / 2), normalised over the window (so rows still sum to 1)

**Decoder history.** A span that depends on earlier steps keeps what it needs in the decoder's
state (batch-first tensors, so beam search reorders them with the rest): ``start`` gives its
entries before the first step (``history_keys`` names them), ``restrict`` reads them and
``advance`` returns them one step later. Local-m keeps the step t; local-p needs none (p_t is a
function of the current query).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

History = dict[str, Tensor]


class Span(nn.Module):
    """Global attention: every real source position, no history."""

    history_keys: tuple[str, ...] = ()

    def start(self, mask: Tensor) -> History:
        """The history before the first target step, for a source mask (B, 1, S)."""
        return {}

    def restrict(
        self, scores: Tensor, query: Tensor, mask: Tensor, history: History
    ) -> tuple[Tensor, Tensor]:
        """Where each query may look: scores (B, Tq, S) and the mask, changed by the span."""
        return scores, mask

    def advance(self, history: History, weights: Tensor) -> History:
        """The history one step later, given this step's weights (B, 1, S)."""
        return history


class LocalSpan(Span):
    """Local attention (Luong et al. 2015, section 3.2): only the source positions within ``window``
    (D) of an aligned position p_t; ``position`` says where p_t is."""

    def __init__(self, window: int) -> None:
        super().__init__()
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


class LocalMSpan(LocalSpan):
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


class LocalPSpan(LocalSpan):
    """local-p: predictive alignment, p_t = (S - 1) sigmoid(v_p^T tanh(W_p q)), and a Gaussian
    (sigma = D / 2) around it added to the scores as its log."""

    def __init__(self, query_dim: int, window: int) -> None:
        super().__init__(window)
        self.position_proj = nn.Linear(query_dim, query_dim, bias=False)  # W_p
        self.position_energy = nn.Linear(query_dim, 1, bias=False)  # v_p

    def position(self, query: Tensor, mask: Tensor, history: History) -> Tensor:
        relative = torch.sigmoid(self.position_energy(torch.tanh(self.position_proj(query)))).squeeze(-1)
        return relative.float() * (mask.sum(-1) - 1)  # (B, Tq)

    def weigh(self, scores: Tensor, distance: Tensor) -> Tensor:
        """Plus the log of a Gaussian around p_t: - distance^2 / (2 sigma^2), sigma = D / 2."""
        sigma = self.window / 2
        return scores.float() - distance**2 / (2 * sigma**2)


SPANS: dict[str, Callable[[int, int], Span]] = {
    "global": lambda query_dim, window: Span(),
    "local_m": lambda query_dim, window: LocalMSpan(window),
    "local_p": LocalPSpan,
}
"""``model.span``: each span built from (query_dim, window D)."""
