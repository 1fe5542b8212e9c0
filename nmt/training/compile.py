"""``trainer.compile``: the update's forward pass and loss as one compiled function (``torch.compile``).

``CompiledLoss`` compiles ``training_loss`` (model and loss together, so the cross-entropy fuses with
the output projection) with ``dynamic=False``: one compilation per batch shape, and batches come in
a bounded set of shapes (``trainer.pad_to_multiple``), so a run compiles once per shape and never per
batch. The recompile limit is raised to the run's number of batch shapes, so no shape falls back to
eager silently. The backward pass is compiled with it (AOTAutograd); the optimiser step is not
(AdamW's fused kernel already makes it one pass over the parameters, see docs/guides/gpu.md).

What a run compiled is counted: ``compilations`` (updates that compiled something: at most one per
batch shape), ``graphs`` (graphs compiled: more than one per shape where the model breaks the graph,
e.g. the RNN encoder's packed sequences) and ``compile_seconds`` (the wall time of those updates).

Where the compiler is unavailable or fails (no C++ compiler, an operator it cannot handle, a torch
without it) the update falls back to eager with one log line and is made again eagerly: compilation
is lazy, so the failure shows in the first update of a shape, before the optimiser has stepped.

Compiled kernels are kept between runs in inductor's caches under ``compile_cache_dir()``
(``$TORCHINDUCTOR_CACHE_DIR`` when set, else the user's cache directory, never the working one).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from torch import Tensor

from nmt.data.batching import Batch

log = logging.getLogger("nmt.train")

T = TypeVar("T")
LossFunction = Callable[[Batch], Tensor]
CACHE_VARIABLE = "TORCHINDUCTOR_CACHE_DIR"


def compile_cache_dir() -> Path:
    """Where inductor keeps compiled kernels and its FX graph cache between runs: ``$TORCHINDUCTOR_CACHE_DIR``
    if set, else ``$XDG_CACHE_HOME/nmt/inductor`` (``~/.cache/nmt/inductor``); exported for inductor."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nmt" / "inductor"
    return Path(os.environ.setdefault(CACHE_VARIABLE, str(default)))


def compile_failure(error: BaseException) -> bool:
    """Whether ``error`` is the compiler's (dynamo, AOTAutograd, inductor, the C++ toolchain), not the
    model's."""
    from torch._dynamo.exc import TorchDynamoException
    from torch._inductor.exc import CppCompileError, InvalidCxxCompiler

    return isinstance(error, TorchDynamoException | CppCompileError | InvalidCxxCompiler | ImportError)


def graphs_compiled() -> int:
    """Graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


class EagerLoss:
    """The training loss as it is: nothing compiled, nothing counted."""

    compilations = graphs = 0
    compile_seconds = 0.0

    def __init__(self, loss: LossFunction) -> None:
        self.loss = loss

    def __call__(self, batch: Batch) -> Tensor:
        """The loss of ``batch`` (a scalar)."""
        return self.loss(batch)

    def run(self, gradients: Callable[[], T], reset: Callable[[], None]) -> T:
        """``gradients()``: the forward and backward passes of one update, which call this loss."""
        return gradients()


class CompiledLoss(EagerLoss):
    """The training loss compiled once per batch shape, counted, and eager again if compiling fails."""

    def __init__(self, loss: LossFunction, shapes: int = 8) -> None:
        """``shapes``: how many batch shapes the run has (each one compilation)."""
        super().__init__(loss)
        compile_cache_dir()
        import torch._dynamo.config  # here: importing the compiler takes seconds

        limit = max(torch._dynamo.config.recompile_limit, shapes)
        torch._dynamo.config.recompile_limit = limit
        torch._dynamo.config.accumulated_recompile_limit = max(
            torch._dynamo.config.accumulated_recompile_limit, limit
        )
        self.compiled: LossFunction | None = None
        try:
            self.compiled = torch.compile(loss, dynamic=False)
        except Exception as error:  # torch.compile itself refuses: an old torch, an unsupported Python
            self._fall_back(error)

    def __call__(self, batch: Batch) -> Tensor:
        return (self.compiled or self.loss)(batch)

    def run(self, gradients: Callable[[], T], reset: Callable[[], None]) -> T:
        """``gradients()`` with the compiled loss, counting what it compiled; where compiling fails,
        ``reset()`` (drop partial gradients) and ``gradients()`` again, eagerly from then on."""
        if self.compiled is None:
            return gradients()
        graphs, start = graphs_compiled(), time.perf_counter()
        try:
            result = gradients()
        except Exception as error:
            if not compile_failure(error):
                raise
            self._fall_back(error)
            reset()
            return gradients()
        if graphs_compiled() > graphs:
            self.compilations += 1
            self.graphs += graphs_compiled() - graphs
            self.compile_seconds += time.perf_counter() - start
        return result

    def _fall_back(self, error: BaseException) -> None:
        """Train eagerly from now on, and say why in one line."""
        self.compiled = None
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        log.warning(
            "trainer.compile: compiling the training step failed (%s: %s); training without compiling",
            type(error).__name__,
            reason,
        )
