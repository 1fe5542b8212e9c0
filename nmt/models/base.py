"""The interface every model implements: teacher-forced training and incremental decoding.

Decoding (``nmt.decoding``) drives any model through ``encode``/``init_state``/``step``/``reorder``
and never asks which model it is. Decoder states are plain dicts whose tensors are batch-first, so
reordering rows for beam search is the same ``index_select`` for every model.

What a model can show is declared, never probed: ``specials`` (its pad/BOS/EOS ids),
``has_attention`` (whether its attention depends on the input), ``attention_grid`` (the (layers,
heads) of cross-attention maps it has), ``alignment_map``/``select_alignment`` (which of them its
translations carry), ``attention_maps`` (all of them under teacher forcing), ``source_tap`` and
``output_tap`` (where its source embeddings and the output layer's inputs can be read and replaced,
for gradient saliency) and ``has_saliency`` (whether it has them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

State = dict[str, Any]
"""Decoder state: tensors with the batch on dim 0 (reordered for beams), other values kept as they are."""


@dataclass(frozen=True)
class SpecialIds:
    """The target vocabulary's special ids: padding, beginning and end of sentence."""

    pad: int
    bos: int
    eos: int


class EncoderDecoder(nn.Module, ABC):
    """Base class of all translation models. Token ids: ``pad_id`` pads, every target starts with BOS."""

    pad_id: int
    specials: SpecialIds
    """pad/BOS/EOS ids of the vocabulary the model was built for (what search generates and stops on)."""
    source_tap: nn.Module
    """An identity module that the looked-up source embeddings E x (B, S, E) pass through, and nothing
    else, before any scaling, position or dropout: a forward hook on it can replace them (add noise)
    and keep them to take gradients with respect to them (``nmt.alignment.saliency``)."""
    output_tap: nn.Module
    """An identity module that the output layer's inputs pass through, once per target position
    (B, D) or once for consecutive positions (B, T, D), in order from the first, both in ``forward``
    and in ``step``; what it returns goes to the output layer alone, which maps each position's input
    to that position's logits. A forward hook on it can cut the graph there, so that the output
    layer's backward pass is taken once for every position (``nmt.alignment.saliency``)."""
    has_saliency: bool = True
    """Whether ``source_tap`` carries the model's source embeddings (and ``output_tap`` the output
    layer's inputs), so that gradient saliency can be computed (an ensemble's members each have their
    own embeddings: it has none)."""

    @abstractmethod
    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, *, attention: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing.

        src (B, S) ids, src_mask (B, S) bool (True on real tokens), tgt_in (B, T) ids starting with BOS.
        Returns logits (B, T, V) and, when ``attention`` is asked for, the cross-attention that
        translations carry (B, T, S); else None (models may then skip computing it).
        """

    def auxiliary_loss(self) -> Tensor | float:
        """Training loss terms of the model's own, from its last ``forward`` in training mode, summed
        over the target tokens like the cross-entropy they are added to (a scalar; 0: none). The
        trainer adds it to every model's loss without knowing what it holds (e.g. a coverage loss)."""
        return 0.0

    @abstractmethod
    def attention_maps(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Every cross-attention map under teacher forcing: (B, L, H, T, S), (L, H) = ``attention_grid``."""

    @property
    @abstractmethod
    def attention_grid(self) -> tuple[int, int]:
        """(layers, heads) of the cross-attention maps the model has; (1, 1) for one map."""

    @property
    def has_attention(self) -> bool:
        """Whether attention depends on the input (False: uniform weights, nothing to align)."""
        return True

    alignment_may_lag: bool = False
    """Whether the map of the step that consumes a target word (one step later than the step that
    predicts it) may align it better (Chen et al. 2020): AER then also scores maps shifted by one.
    Not for a map that sees the whole target (a Transformer's ``model.full_context_alignment``)."""

    @property
    def alignment_map(self) -> tuple[int, int | None]:
        """(layer, head) of the map translations carry; head None: the mean of the heads."""
        return 0, None

    def select_alignment(self, layer: int, head: int | None) -> None:
        """Make translations carry map (layer, head) of ``attention_grid`` (negative layers count from
        the last; head None: the mean of the heads). Raises ValueError naming the limit it breaks."""
        layers, heads = self.attention_grid
        if not -layers <= layer < layers:
            raise ValueError(f"layer {layer}: the model has {layers} decoder layer(s) with attention")
        if head is not None and not 0 <= head < heads:
            raise ValueError(f"head {head}: the model has {heads} attention head(s)")

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
        Returns log-probabilities (B, V) in fp32 (a new tensor: search masks it in place), attention
        over the source (B, S) and the new state. The prefix is never recomputed: everything needed
        from it lives in ``state``.
        """

    max_positions: int | None = None
    """The longest source or target sequence (EOS/BOS included) the model can take; None: no limit."""

    prefers_bf16_on_cpu: bool = False
    """Whether bf16 autocast speeds this model's translation up on CPUs (what ``nmt translate`` runs
    in; training measures it instead: ``nmt/training/precision.py``)."""

    has_fused_attention: bool = False
    """Whether some attention can run as one fused kernel (``scaled_dot_product_attention``), which
    ``fuse_attention_in_training`` switches for training."""

    def fuse_attention_in_training(self, fused: bool) -> None:
        """Train with the fused attention kernel (True) or with plain matrix products (the same
        function; inference keeps the kernel). Models without ``has_fused_attention`` ignore it."""

    source_keys: frozenset[str] = frozenset()
    """State entries that depend on the source sentence alone (the same in every row of a sentence)."""

    def reorder(self, state: State, index: Tensor, *, same_sources: bool = False) -> State:
        """Select (and duplicate) rows of every batch-first tensor in ``state``: index (B',) -> B' rows.

        ``same_sources``: new row i comes from a row of the same sentence as old row i (beams moving
        within their sentence), so the ``source_keys`` entries are kept as they are, not copied.
        """
        return {
            k: v.index_select(0, index)
            if isinstance(v, Tensor) and not (same_sources and k in self.source_keys)
            else v
            for k, v in state.items()
        }

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @torch.no_grad()
    def score(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, tgt_out: Tensor) -> Tensor:
        """Sum of log-probabilities of ``tgt_out`` (B, T) under teacher forcing, padding ignored: (B,)."""
        logits, _ = self(src, src_mask, tgt_in)
        logp = logits.float().log_softmax(-1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)
        return logp.masked_fill(tgt_out == self.pad_id, 0.0).sum(-1)
