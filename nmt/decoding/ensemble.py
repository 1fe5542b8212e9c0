"""An ensemble of models that share their vocabularies, decoded as one model.

At every step the members' probabilities are averaged:

    log p(y | y_<t, x) = log (1/M) sum_m p_m(y | y_<t, x)   (logsumexp of the log-probabilities - log M)

The state holds one state per member, each reordered by its own model. Attention comes from one
chosen member or is the mean of every member's (each member's own alignment map).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nmt.models import EncoderDecoder, State


class Ensemble(EncoderDecoder):
    """Members built for the same source and target vocabularies; ``attention_from``: a member's index,
    or None for the mean of the members' attention."""

    has_saliency = False  # no one source embedding to take gradients for

    def __init__(self, members: Sequence[EncoderDecoder], attention_from: int | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one model")
        if len({m.specials for m in members}) > 1:
            raise ValueError("the models' special ids differ: they do not share one vocabulary")
        if attention_from is not None and not 0 <= attention_from < len(members):
            raise ValueError(f"attention from member {attention_from}: there are {len(members)} models")
        self.members = nn.ModuleList(members)
        self.specials, self.pad_id = members[0].specials, members[0].pad_id
        self.attention_from = attention_from
        limits = [m.max_positions for m in members if m.max_positions]
        self.max_positions = min(limits) if limits else None

    @property
    def _attending(self) -> EncoderDecoder:
        """The member whose attention maps the ensemble shows (the first one for the mean)."""
        return self.members[self.attention_from or 0]

    @property
    def has_attention(self) -> bool:
        return any(m.has_attention for m in self.members)

    @property
    def attention_grid(self) -> tuple[int, int]:
        return self._attending.attention_grid

    def attention_maps(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """The maps of the member attention comes from (the first one when it is the mean)."""
        return self._attending.attention_maps(src, src_mask, tgt_in)

    def _combine(
        self, log_probs: list[Tensor], attentions: list[Tensor | None]
    ) -> tuple[Tensor, Tensor | None]:
        """Average the probabilities (log-space) and pick or average the attention."""
        mixed = torch.logsumexp(torch.stack([lp.float() for lp in log_probs]), 0) - math.log(len(log_probs))
        if attentions[0] is None:
            return mixed, None
        if self.attention_from is not None:
            return mixed, attentions[self.attention_from]
        return mixed, torch.stack([a.float() for a in attentions]).mean(0)

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, *, attention: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: the ensemble's log-probabilities (B, T, V) (as logits) and attention (B, T, S)."""
        outputs = [m(src, src_mask, tgt_in, attention=attention) for m in self.members]
        return self._combine(
            [logits.float().log_softmax(-1) for logits, _ in outputs], [a for _, a in outputs]
        )

    def encode(self, src: Tensor, src_mask: Tensor) -> State:
        return {"members": [m.encode(src, src_mask) for m in self.members]}

    def init_state(self, encoded: State) -> State:
        return {"members": [m.init_state(e) for m, e in zip(self.members, encoded["members"], strict=True)]}

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        steps = [m.step(tokens, s) for m, s in zip(self.members, state["members"], strict=True)]
        log_probs, attention = self._combine([lp for lp, _, _ in steps], [a for _, a, _ in steps])
        return log_probs, attention, {"members": [s for _, _, s in steps]}

    def reorder(self, state: State, index: Tensor, *, same_sources: bool = False) -> State:
        return {
            "members": [
                m.reorder(s, index, same_sources=same_sources)
                for m, s in zip(self.members, state["members"], strict=True)
            ]
        }
