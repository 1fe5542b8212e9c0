"""``trainer.precision``: the autocast dtype training runs in, and why (one line of train.log).

Whether bf16 pays depends on the device and on the model, so ``auto`` measures it, never assumes
it. On a GPU fp32 matrix products use TF32 (``torch.set_float32_matmul_precision("high")``), and on
one that supports bf16 the probe below times fp32 against bf16 (a GPU without bf16 takes fp16 with
loss scaling, unmeasured; the GPU path is not measured with this code). On a CPU that computes
bf16 natively (AVX512-BF16 or AMX) a short probe times a few training updates of the model in fp32
and in bf16, alternating, on the run's own first batches, and bf16 is taken when it is at least
``MARGIN`` faster (under torchrun rank 0 measures, every rank follows). A run too short for the
probe to be a small share of it (``PROBE_SHARE``: a test's or a demo's few dozen updates) trains in
fp32 without probing. A model with a fused
attention kernel (``has_fused_attention``) is also timed with plain matrix products in its place,
and trains with whichever was faster in the chosen precision: on some CPUs the kernel's bf16
backward pass is several times slower than the matrix products. The result is cached per
device, torch version, thread count, model config and batch size in
``<cache_dir>/precision_probe.json``, so later runs of the same shape start at once. A CPU without
native bf16 emulates it (half the fp32 speed in ``make bench``): fp32 without probing.
"""

from __future__ import annotations

import copy
import json
import logging
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from nmt.data.batching import Batch
from nmt.models import EncoderDecoder
from nmt.runtime import Distributed, autocast_dtype, cpu_has_native_bf16
from nmt.training.step import Speedups, UpdateStep

log = logging.getLogger("nmt.train")

MARGIN = 1.05
"""How much faster (tokens/s) bf16 must train in the probe to be chosen."""
PROBE_ROUNDS = 2
"""Timed updates per precision and batch, after one warm-up update each."""
PROBE_BATCHES = 2
"""How many of the run's first batches the probe trains on."""
NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16 with loss scaling"}
PROBED = {"fp32": None, "bf16": torch.bfloat16}
PROBE_SHARE = 0.1
"""``auto`` probes only a run whose ``max_steps`` is at least 1 / PROBE_SHARE times the probe's own
updates; a shorter one trains in fp32 at once."""
UNFUSED = " unfused"
"""Suffix of a probe candidate that trains attention with plain matrix products, not the kernel."""


def training_precision(
    cfg: DictConfig,
    model: EncoderDecoder,
    batches: Sequence[Batch],
    device: torch.device,
    ranks: Distributed,
) -> tuple[torch.dtype | None, Speedups, str]:
    """The autocast dtype (None: fp32) ``cfg.trainer.precision`` asks for, the update's speed-ups
    (with the attention kernel the probe chose) and what the log says of them.

    ``batches``: the run's first training batches, which the probe times the model on."""
    precision = cfg.trainer.precision
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for fp32 matrix products (not measured here)
    if precision != "auto":
        dtype = autocast_dtype(precision, device, prefers_bf16_on_cpu=False)
        return dtype, Speedups(), f"{NAMES[dtype]} (trainer.precision={precision})"
    if device.type != "cpu" and not (device.type == "cuda" and torch.cuda.is_bf16_supported()):
        dtype = autocast_dtype(precision, device, prefers_bf16_on_cpu=False)
        why = "the GPU has no bf16" if device.type == "cuda" else f"no autocast on {device.type}"
        return dtype, Speedups(), f"auto -> {NAMES[dtype]} ({why})"
    if device.type == "cpu" and not cpu_has_native_bf16():
        why = "this CPU has no native bf16 (AVX512-BF16 or AMX): emulated bf16 is slower than fp32"
        return None, Speedups(), f"auto -> fp32 ({why})"
    probe_updates = (PROBE_ROUNDS + 1) * PROBE_BATCHES * len(candidates(model))
    if cfg.trainer.max_steps * PROBE_SHARE < probe_updates:
        why = f"a run of {cfg.trainer.max_steps:,} updates is too short to repay the probe's {probe_updates}"
        return None, Speedups(), f"auto -> fp32 ({why})"
    if not ranks.is_main:  # rank 0 measures, every rank follows it
        bf16, unfused = ranks.agree([False, False], device)
        chosen = ("bf16" if bf16 else "fp32") + (UNFUSED if unfused else "")
        return (
            PROBED["bf16" if bf16 else "fp32"],
            Speedups(fused_attention=not unfused),
            f"auto -> {chosen} (rank 0's probe)",
        )
    speeds, cached = probe_cached(cfg, model, batches, device)
    best = {precision: fastest(speeds, precision) for precision in PROBED}
    bf16 = speeds[best["bf16"]] >= MARGIN * speeds[best["fp32"]]
    precision = "bf16" if bf16 else "fp32"
    unfused = best[precision].endswith(UNFUSED)
    ranks.agree([bf16, unfused], device)
    bf16_gain, fp32_speed = speeds[best["bf16"]] / speeds[best["fp32"]], speeds[best["fp32"]]
    source = "probe (cached)" if cached else "probe"
    measured = f"{source}: bf16 {bf16_gain:.2f}x fp32, {fp32_speed:,.0f} tokens/s in fp32"
    if model.has_fused_attention:
        ratio = speeds[precision + UNFUSED] / speeds[precision]
        measured += f"; attention by matrix products {ratio:.2f}x the fused kernel"
    return PROBED[precision], Speedups(fused_attention=not unfused), f"auto -> {best[precision]} ({measured})"


def fastest(speeds: dict[str, float], precision: str) -> str:
    """The fastest probe candidate of ``precision``: "fp32", or "fp32 unfused" when that was faster."""
    return max((name for name in speeds if name.removesuffix(UNFUSED) == precision), key=speeds.__getitem__)


def candidates(model: EncoderDecoder) -> dict[str, tuple[torch.dtype | None, Speedups]]:
    """What the probe times: each precision, and with unfused attention where the model has a kernel."""
    attention = [("", True), (UNFUSED, False)] if model.has_fused_attention else [("", True)]
    return {
        precision + suffix: (dtype, Speedups(fused_attention=fused))
        for precision, dtype in PROBED.items()
        for suffix, fused in attention
    }


def probe_cached(
    cfg: DictConfig, model: EncoderDecoder, batches: Sequence[Batch], device: torch.device
) -> tuple[dict[str, float], bool]:
    """Training tokens/s of ``model`` per candidate ({"fp32": ..., "bf16": ..., "bf16 unfused": ...}),
    from the cache when this CPU measured the same shape before; and whether it came from there."""
    path = Path(cfg.cache_dir) / "precision_probe.json"
    key = json.dumps(
        {
            "cpu": device_name(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "model": OmegaConf.to_container(cfg.model, resolve=True),
            "batch_tokens": cfg.trainer.batch_tokens,
            "candidates": sorted(candidates(model)),
        },
        sort_keys=True,
    )
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    if key in table:
        return table[key], True
    log.info("timing training updates in %s (trainer.precision=auto)", ", ".join(candidates(model)))
    speeds = probe(model, cfg.trainer, batches, device)
    table[key] = speeds
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{time.monotonic_ns()}.tmp")
    temporary.write_text(json.dumps(table, indent=1))
    temporary.replace(path)
    return speeds, False


def probe(model: EncoderDecoder, tc: Any, batches: Sequence[Batch], device: torch.device) -> dict[str, float]:
    """Tokens/s (source + target) of training updates of a copy of ``model`` per candidate
    (``candidates``): one warm-up update per candidate and batch, then ``PROBE_ROUNDS`` rounds that
    alternate them (so a busy machine slows all alike). The model and the random-number streams are
    left as they were."""
    steps = {
        name: UpdateStep(copy.deepcopy(model), tc, device, dtype, speedups=speedups)
        for name, (dtype, speedups) in candidates(model).items()
    }
    tokens = sum(batch.num_tokens + int(batch.src_mask.sum()) for batch in batches)
    seconds = dict.fromkeys(steps, 0.0)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for round_ in range(PROBE_ROUNDS + 1):
            for name, step in steps.items():
                for batch in batches:
                    synchronize(device)
                    start = time.perf_counter()
                    step([batch], tc.lr)
                    synchronize(device)
                    if round_:
                        seconds[name] += time.perf_counter() - start
    return {name: PROBE_ROUNDS * tokens / spent for name, spent in seconds.items()}


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work (timings of GPU work end there); nothing on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU's model name (what a cached timing is valid for)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
