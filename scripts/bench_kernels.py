"""The eager-mode kernel changes of ``nmt``, each one undone for ``scripts/bench.py --ablate``.

Each change is undone by swapping a class or a function for what it replaced, never by a flag in
the model code:

- ``stacked_qkv``: ``SeparateProjections``, attention whose queries, keys and values are three
  matrix products (the layout before ``MultiHeadAttention.in_proj``, weights unchanged);
- ``bf16_loss``: the loss on an fp32 copy of the logits (``F.cross_entropy(logits.float(), ...)``)
  instead of ``smoothed_cross_entropy`` on them as they are.

``aten_ops`` counts the ATen operators one call dispatches (torch.profiler's ``aten::`` events,
nested ones included).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import nmt.training.step
from nmt.data.vocab import PAD
from nmt.models.multihead import MultiHeadAttention


class SeparateProjections(MultiHeadAttention):
    """Multi-head attention as it was: q, k and v projected by three matrix products."""

    def project_self(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = (self.split(F.linear(x, *self.rows(i, i + 1))) for i in range(3))
        return q, k, v

    def prepare(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        return self.split(F.linear(keys, *self.rows(1, 2))), self.split(F.linear(values, *self.rows(2, 3)))


def separate_projections(model: nn.Module) -> nn.Module:
    """``model`` with every plain ``MultiHeadAttention`` computing q, k, v one at a time."""
    for module in model.modules():
        if type(module) is MultiHeadAttention:
            module.__class__ = SeparateProjections
    return model


def fp32_copy_loss(logits: Tensor, targets: Tensor, smoothing: float) -> Tensor:
    """The loss as it was: label-smoothed cross-entropy of an fp32 copy of the logits (N, V)."""
    return F.cross_entropy(
        logits.float(), targets, ignore_index=PAD, label_smoothing=smoothing, reduction="sum"
    )


@contextlib.contextmanager
def fp32_loss() -> Iterator[None]:
    with mock.patch.object(nmt.training.step, "smoothed_cross_entropy", fp32_copy_loss):
        yield


CHANGES: dict[str, tuple[Callable[[nn.Module], nn.Module], Callable[[], Any]]] = {
    "stacked_qkv": (separate_projections, contextlib.nullcontext),
    "bf16_loss": (lambda model: model, fp32_loss),
}
"""Each change: (what undoes it in a copy of the model, the context every step runs in)."""


def without(
    changes: list[str], model: nn.Module, build_step: Callable[[nn.Module], Callable[[Any], Any]]
) -> Callable[[Any], Any]:
    """The step ``build_step`` makes of a copy of ``model`` with ``changes`` undone."""
    model = copy.deepcopy(model)
    for change in changes:
        model = CHANGES[change][0](model)
    step = build_step(model)

    def run(batch: Any) -> Any:
        with contextlib.ExitStack() as stack:
            for change in changes:
                stack.enter_context(CHANGES[change][1]())
            return step(batch)

    return run


def aten_ops(step: Callable[[Any], Any], batch: Any) -> int:
    """ATen operators dispatched by one ``step(batch)`` (after one warm-up call)."""
    step(batch)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step(batch)
    return sum(event.name.startswith("aten::") for event in prof.events())
