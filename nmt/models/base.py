"""The interface every model implements: teacher-forced training and incremental decoding.

Search (``nmt/search.py``) drives any model through ``encode``/``init_state``/``step``/``reorder``
and never asks which model it is. Decoder states are plain dicts whose tensors are batch-first, so
reordering rows for beam search is the same ``index_select`` for every model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

State = dict[str, Any]
"""Decoder state: tensors with the batch on dim 0 (reordered for beams), other values kept as they are."""


class EncoderDecoder(nn.Module, ABC):
    """Base class of all translation models. Token ids: ``pad_id`` pads, every target starts with BOS."""

    pad_id: int

    @abstractmethod
    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing.

        src (B, S) ids, src_mask (B, S) bool (True on real tokens), tgt_in (B, T) ids starting with BOS.
        Returns logits (B, T, V) and cross-attention (B, T, S), or None where the model skipped
        computing it (see ``need_attention``).
        """

    @abstractmethod
    def encode(self, src: Tensor, src_mask: Tensor) -> State:
        """Run the encoder once: src (B, S), src_mask (B, S) -> memory for ``init_state``."""

    @abstractmethod
    def init_state(self, encoded: State) -> State:
        """The decoder state before the first target token."""

    @abstractmethod
    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        """Decode one position for every row.

        tokens (B,) the previous target token (BOS at the first step).
        Returns log-probabilities (B, V) in fp32, attention over the source (B, S) and the new state.
        The prefix is never recomputed: everything needed from it lives in ``state``.
        """

    max_positions: int | None = None
    """The longest source or target sequence (EOS/BOS included) the model can take; None: no limit."""

    prefers_bf16_on_cpu: bool = False
    """Whether bf16 autocast speeds this model up on CPUs (``trainer.precision=auto``)."""

    need_attention: bool = True
    """Set to False during training so models may take faster paths that skip attention weights."""

    def reorder(self, state: State, index: Tensor) -> State:
        """Select (and duplicate) rows of every batch-first tensor in ``state``: index (B',) -> B' rows."""
        return {k: v.index_select(0, index) if isinstance(v, Tensor) else v for k, v in state.items()}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @torch.no_grad()
    def score(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> Tensor:
        """Sum of log-probabilities of ``tgt_out`` (B, T) under teacher forcing, padding ignored: (B,)."""
        logits, _ = self(src, src_mask, tgt_in)
        logp = logits.float().log_softmax(-1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)
        return logp.masked_fill(tgt_out == self.pad_id, 0.0).sum(-1)
