"""``trainer.compile``: whether a run trains with the compiled loss (``nmt.training.compile``), and why
(one line of train.log).

``true`` and ``false`` are obeyed. ``auto`` decides by measurement, like ``trainer.precision=auto``:
a probe times training updates of copies of the model on the run's first batch, eagerly and compiled
(alternating, after one warm-up update each; the compiled one's first update, less one compiled
update, is the compile time of one batch shape), and the run compiles only when

- the compiled update is faster than the eager one, and
- it repays its compilations within the run: ``steps x (eager - compiled) > MARGIN x compile x shapes``,
  where ``steps`` is ``trainer.max_steps`` (fewer where ``trainer.max_minutes`` ends the run sooner at
  the eager speed) and ``shapes`` the run's number of batch shapes (one compilation each).

A run too short to repay even ``MIN_COMPILE_SECONDS`` per shape were every update free is not probed:
one eager update is timed after a warm-up one, nothing is compiled. The timings (not the decision,
which depends on the run's budget) are cached per device, torch version, thread count, model config,
batch size, length multiple and precision in ``<cache_dir>/compile_probe.json``, beside the
precision probe's cache. Under torchrun rank 0 measures and every rank follows.
"""

from __future__ import annotations

import copy
import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from nmt.data.batching import Batch
from nmt.models import EncoderDecoder
from nmt.runtime import Distributed
from nmt.training.compile import CompiledLoss, EagerLoss
from nmt.training.precision import device_name, synchronize
from nmt.training.step import Speedups, UpdateStep

log = logging.getLogger("nmt.train")

MARGIN = 1.5
"""How many times over the expected saving must pay for the compilations."""
MIN_COMPILE_SECONDS = 10.0
"""Less than any compilation of a model's training step takes (tiny models: tens of seconds on a CPU)."""
ROUNDS = 3
"""Timed updates per variant, after the first of each."""
SHAPE_SLACK = 8
"""Compilations allowed beyond the run's batch shapes (the probe's own, guarded on its model copy)."""

LossClass = Any  # EagerLoss or a partial of CompiledLoss: called with the loss function


@dataclass(frozen=True)
class CompileTimings:
    """Seconds per training update, eager and compiled, and seconds to compile one batch shape."""

    eager: float
    compiled: float
    compile: float


def decide(timings: CompileTimings, steps: int, shapes: int) -> tuple[bool, str]:
    """Whether ``steps`` updates over ``shapes`` batch shapes repay compiling, and why (for the log)."""
    measured = (
        f"eager {1000 * timings.eager:.1f} ms, compiled {1000 * timings.compiled:.1f} ms an update, "
        f"{timings.compile:.1f} s to compile each of {shapes} batch shape(s)"
    )
    if timings.compiled >= timings.eager:
        return False, f"the compiled update is not faster: {measured}"
    saving, cost = steps * (timings.eager - timings.compiled), MARGIN * timings.compile * shapes
    verdict = "repays" if saving > cost else "does not repay"
    return saving > cost, f"{steps:,} updates would save {saving:,.0f} s, {verdict} {MARGIN} x {measured}"


def planned_steps(tc: Any, eager_seconds: float) -> int:
    """The updates the run plans: ``max_steps``, or what ``max_minutes`` allows at the eager speed."""
    if tc.max_minutes is None:
        return int(tc.max_steps)
    return int(min(tc.max_steps, 60 * tc.max_minutes / max(eager_seconds, 1e-9)))


def training_compile(
    cfg: DictConfig,
    model: EncoderDecoder,
    batch: Batch,
    device: torch.device,
    ranks: Distributed,
    dtype: torch.dtype | None,
    speedups: Speedups,
    shapes: int,
) -> tuple[LossClass, str]:
    """The loss class ``UpdateStep`` takes for ``cfg.trainer.compile`` (``EagerLoss`` or a
    ``CompiledLoss``) and what the log says of it. ``batch``: the run's first training batch."""
    choice = str(cfg.trainer.compile).lower()
    compiled = partial(CompiledLoss, shapes=shapes + SHAPE_SLACK)
    if choice != "auto":
        return (compiled if choice == "true" else EagerLoss), f"{choice} (trainer.compile={choice})"
    if not ranks.is_main:
        chosen = ranks.agree([False], device)[0]
        return (compiled if chosen else EagerLoss), f"auto -> {'on' if chosen else 'off'} (rank 0's probe)"
    chosen, why = _measured_choice(cfg, model, batch, device, dtype, speedups, shapes)
    ranks.agree([chosen], device)
    return (compiled if chosen else EagerLoss), f"auto -> {'on' if chosen else 'off'} ({why})"


def _measured_choice(
    cfg: DictConfig,
    model: EncoderDecoder,
    batch: Batch,
    device: torch.device,
    dtype: torch.dtype | None,
    speedups: Speedups,
    shapes: int,
) -> tuple[bool, str]:
    """Rank 0's decision for ``trainer.compile=auto``: from cached or fresh timings, or none needed."""
    tc = cfg.trainer
    path, key = Path(cfg.cache_dir) / "compile_probe.json", _cache_key(cfg, device, dtype)
    table = _read(path)
    if key in table:
        timings = CompileTimings(**table[key])
        chosen, why = decide(timings, planned_steps(tc, timings.eager), shapes)
        return chosen, f"probe (cached): {why}"
    probe = Probe(model, tc, batch, device, dtype, speedups)
    probe.seconds(probe.eager)  # the first update of a process is slower still (lazy initialisation)
    eager = probe.seconds(probe.eager)
    steps = planned_steps(tc, eager)
    if steps * eager <= MARGIN * MIN_COMPILE_SECONDS * shapes:
        return False, (
            f"{steps:,} updates of {1000 * eager:.1f} ms cannot repay compiling {shapes} batch shape(s) "
            f"(at least {MIN_COMPILE_SECONDS:.0f} s each); not probed"
        )
    log.info("timing eager and compiled training updates (trainer.compile=auto)")
    timings = probe.time_compiled()
    if timings is None:
        return False, "compiling failed in the probe"
    table[key] = asdict(timings)
    _write(path, table)
    chosen, why = decide(timings, steps, shapes)
    return chosen, f"probe: {why}"


class Probe:
    """Times training updates of copies of a model on one batch; leaves the model and the random
    number streams as they were."""

    def __init__(
        self,
        model: EncoderDecoder,
        tc: Any,
        batch: Batch,
        device: torch.device,
        dtype: torch.dtype | None,
        speedups: Speedups,
    ) -> None:
        self.tc, self.batch, self.device = tc, batch, device
        self.step = partial(UpdateStep, tc=tc, device=device, dtype=dtype, speedups=speedups)
        self.model = model
        self.eager = self.step(copy.deepcopy(model))

    def seconds(self, step: UpdateStep) -> float:
        """Wall time of one update of ``step`` on the batch (the device synchronised)."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            synchronize(self.device)
            start = time.perf_counter()
            step([self.batch], self.tc.lr)
            synchronize(self.device)
            return time.perf_counter() - start

    def time_compiled(self) -> CompileTimings | None:
        """Eager and compiled updates alternated (a busy machine slows both alike) after the compiled
        one's first (its compilation); None when compiling failed."""
        step = self.step(copy.deepcopy(self.model), loss=partial(CompiledLoss, shapes=1))
        first = self.seconds(step)
        if step.loss.compilations == 0:
            return None
        pairs = [(self.seconds(self.eager), self.seconds(step)) for _ in range(ROUNDS)]
        eager, compiled = (statistics.median(times) for times in zip(*pairs, strict=True))
        return CompileTimings(eager, compiled, max(first - compiled, 0.0))


def _cache_key(cfg: DictConfig, device: torch.device, dtype: torch.dtype | None) -> str:
    return json.dumps(
        {
            "device": device_name(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "model": OmegaConf.to_container(cfg.model, resolve=True),
            "batch_tokens": cfg.trainer.batch_tokens,
            "pad_to_multiple": cfg.trainer.pad_to_multiple,
            "precision": str(dtype),
        },
        sort_keys=True,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, table: dict[str, Any]) -> None:
    """Replace ``path`` with ``table`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{time.monotonic_ns()}.tmp")
    temporary.write_text(json.dumps(table, indent=1))
    temporary.replace(path)
