"""One optimiser update: the unit the training loop runs, and the one ``scripts/bench.py`` times.

``UpdateStep(model, trainer_cfg, device, dtype)(batches, lr)`` runs the forward pass under the
chosen precision, the label-smoothed loss (``training_loss``, the one place the training objective
is computed), backward over the micro-batches, gradient clipping and the AdamW step.

What makes it fast is listed in ``Speedups``, each one switchable, so ``scripts/bench.py --ablate``
times it against the plain path and the tests check that training stays the same without it.
Compiling the forward pass and loss (``trainer.compile``) is the ``loss`` class it is given
(``nmt.training.compile``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from nmt.data.batching import Batch
from nmt.data.vocab import PAD
from nmt.models import EncoderDecoder
from nmt.runtime import Distributed, autocast
from nmt.training.compile import EagerLoss, LossFunction
from nmt.training.supervised_attention import alignment_loss


@dataclass(frozen=True)
class LossSettings:
    """The trainer config's values the loss reads, as plain numbers (what a compiled loss can read)."""

    label_smoothing: float
    alignment_weight: float

    @classmethod
    def of(cls, tc: Any) -> LossSettings:
        return cls(float(tc.label_smoothing), float(tc.alignment_weight))


@dataclass(frozen=True)
class Speedups:
    """The optimisations of the update, all on by default (README, "Speed of the training step")."""

    fused_optimizer: bool = True
    """AdamW's fused kernel (one pass over all parameters) instead of one small op per parameter."""
    fused_attention: bool = True
    """``scaled_dot_product_attention``'s kernel for attention in training (models that have it)
    instead of plain matrix products; ``trainer.precision=auto`` measures which is faster."""


def build_optimizer(model: EncoderDecoder, tc: Any, fused: bool = True) -> torch.optim.AdamW:
    """AdamW with the trainer config's learning rate, betas and weight decay."""
    return torch.optim.AdamW(
        model.parameters(),
        lr=tc.lr,
        betas=tuple(tc.optimizer_betas),
        weight_decay=tc.weight_decay,
        fused=fused,
    )


def smoothed_cross_entropy(logits: Tensor, targets: Tensor, smoothing: float) -> Tensor:
    """Label-smoothed cross-entropy summed over the non-padding ``targets`` (N,) of ``logits`` (N, V),
    as ``F.cross_entropy(..., label_smoothing=smoothing, reduction="sum")`` defines it: per token
    ``(1 - e) (-log p_target) + e mean_v(-log p_v)``; fp32 scalar.

    The logits stay in their own precision (bf16 under autocast): no fp32 copy of the full-vocabulary
    tensor is made. ``log_softmax`` accumulates in fp32 inside its kernel, and the sum over the
    vocabulary is taken with an fp32 accumulator (``F.cross_entropy`` on bf16 would round that sum to
    bf16, biasing the smoothed loss by about 0.2%).
    """
    log_probs = logits.log_softmax(-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).float()
    uniform = -log_probs.sum(-1, dtype=torch.float32) / log_probs.shape[-1]
    return torch.where(targets != PAD, (1 - smoothing) * nll + smoothing * uniform, 0.0).sum()


def training_loss(
    model: EncoderDecoder,
    batch: Batch,
    dtype: torch.dtype | None,
    tc: Any,
    forward: torch.nn.Module | None = None,
) -> Tensor:
    """The training objective of ``batch`` (a scalar, fp32): the summed label-smoothed cross-entropy
    of its target tokens, plus the loss terms the model reports of its own (``auxiliary_loss``, e.g.
    coverage) and ``tc.alignment_weight`` times the supervised-attention loss when the batch carries
    attention labels. ``forward`` runs the forward pass (a DistributedDataParallel wrapper of
    ``model``); the model itself when None."""
    supervised = batch.links is not None
    with autocast(batch.src.device, dtype):
        logits, attention = (forward or model)(batch.src, batch.src_mask, batch.tgt_in, attention=supervised)
    loss = smoothed_cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), tc.label_smoothing)
    loss = loss + model.auxiliary_loss()
    if supervised:
        loss = loss + tc.alignment_weight * alignment_loss(attention, batch.links)
    return loss


class UpdateStep:
    """The model's optimiser, gradient scaler and precision, and the update they make together."""

    def __init__(
        self,
        model: EncoderDecoder,
        tc: Any,
        device: torch.device,
        dtype: torch.dtype | None,
        ranks: Distributed | None = None,
        speedups: Speedups = Speedups(),
        loss: Callable[[LossFunction], EagerLoss] = EagerLoss,
    ) -> None:
        """``loss`` wraps the loss function: ``EagerLoss``, or ``CompiledLoss`` (``trainer.compile``)."""
        self.model, self.tc, self.device, self.dtype = model, tc, device, dtype
        self.ranks, self.speedups = ranks or Distributed(), speedups
        model.fuse_attention_in_training(speedups.fused_attention)
        self.ddp = DistributedDataParallel(model) if self.ranks.world > 1 else model
        self.loss = loss(partial(training_loss, model, dtype=dtype, tc=LossSettings.of(tc), forward=self.ddp))
        self.optimizer = build_optimizer(model, tc, fused=speedups.fused_optimizer)
        self.scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def __call__(self, batches: Sequence[Batch], lr: float) -> tuple[float, bool]:
        """One update at learning rate ``lr`` over ``batches`` (``update_freq`` micro-batches whose
        gradients add up; under DDP synchronised on the last one only). Returns the summed loss of
        their target tokens and whether the update was made (not when a loss on any rank is not
        finite)."""
        self.model.train()
        tokens = sum(batch.num_tokens for batch in batches)
        # DDP averages gradients over ranks: scaling by world / (target tokens of every rank) makes the
        # update the gradient of the loss summed over all its tokens, however they are split up.
        scale = self.ranks.world / max(self.ranks.all_reduce_sum(tokens, self.device), 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        reset = partial(self.optimizer.zero_grad, set_to_none=True)
        loss_value = self.loss.run(partial(self._gradients, batches, scale), reset)
        if self.ranks.agree([not math.isfinite(loss_value)], self.device)[0]:
            self.optimizer.zero_grad(set_to_none=True)
            return loss_value, False
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.scaler.unscale_(self.optimizer)
        if self.tc.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss_value, True

    def _gradients(self, batches: Sequence[Batch], scale: float) -> float:
        """Forward and backward passes over ``batches``, gradients times ``scale`` added up in the
        parameters; returns the summed loss."""
        loss = torch.zeros((), device=self.device)
        for i, batch in enumerate(batches):
            sync = i == len(batches) - 1 or self.ranks.world == 1
            with nullcontext() if sync else self.ddp.no_sync():
                micro_loss = self.loss(batch.to(self.device))
                self.scaler.scale(micro_loss * scale).backward()
            loss += micro_loss.detach()
        return loss.item()
