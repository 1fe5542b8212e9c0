"""``trainer.precision``: the autocast dtype training runs in, and why (one line of train.log).

``auto`` takes bf16 on GPUs that support it (else fp16 with loss scaling). On a CPU whether bf16
pays depends on the CPU and on the model, so it is measured, never assumed: on a CPU that computes
bf16 natively (AVX512-BF16 or AMX) a short probe times a few training updates of the model in fp32
and in bf16, alternating, on the run's own first batches, and bf16 is taken when it is at least
``MARGIN`` faster (under torchrun rank 0 measures, every rank follows). The result is cached per
CPU, torch version, thread count, model config and batch size in
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
from nmt.training.step import UpdateStep

log = logging.getLogger("nmt.train")

MARGIN = 1.05
"""How much faster (tokens/s) bf16 must train in the probe to be chosen."""
PROBE_ROUNDS = 2
"""Timed updates per precision and batch, after one warm-up update each."""
PROBE_BATCHES = 2
"""How many of the run's first batches the probe trains on."""
NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16 with loss scaling"}
PROBED = {"fp32": None, "bf16": torch.bfloat16}


def training_precision(
    cfg: DictConfig,
    model: EncoderDecoder,
    batches: Sequence[Batch],
    device: torch.device,
    ranks: Distributed,
) -> tuple[torch.dtype | None, str]:
    """The autocast dtype (None: fp32) ``cfg.trainer.precision`` asks for, and what the log says of it.

    ``batches``: the run's first training batches, which a probe on the CPU times the model on."""
    precision = cfg.trainer.precision
    if precision != "auto":
        dtype = autocast_dtype(precision, device, prefers_bf16_on_cpu=False)
        return dtype, f"{NAMES[dtype]} (trainer.precision={precision})"
    if device.type != "cpu":
        dtype = autocast_dtype(precision, device, prefers_bf16_on_cpu=False)
        if device.type == "cuda":
            why = "the GPU supports bf16" if dtype == torch.bfloat16 else "the GPU has no bf16"
        else:
            why = f"no autocast on {device.type}"
        return dtype, f"auto -> {NAMES[dtype]} ({why})"
    if not cpu_has_native_bf16():
        why = "this CPU has no native bf16 (AVX512-BF16 or AMX): emulated bf16 is slower than fp32"
        return None, f"auto -> fp32 ({why})"
    if not ranks.is_main:  # rank 0 measures, every rank follows it
        dtype = torch.bfloat16 if ranks.agree([False], device)[0] else None
        return dtype, f"auto -> {NAMES[dtype]} (rank 0's probe)"
    speeds, cached = probe_cached(cfg, model, batches, device)
    faster = ranks.agree([speeds["bf16"] >= MARGIN * speeds["fp32"]], device)[0]
    dtype = torch.bfloat16 if faster else None
    measured = f"probe{' (cached)' if cached else ''}: bf16 {speeds['bf16'] / speeds['fp32']:.2f}x fp32"
    return dtype, f"auto -> {NAMES[dtype]} ({measured}, {speeds['fp32']:,.0f} tokens/s in fp32)"


def probe_cached(
    cfg: DictConfig, model: EncoderDecoder, batches: Sequence[Batch], device: torch.device
) -> tuple[dict[str, float], bool]:
    """Training tokens/s of ``model`` per precision ({"fp32": ..., "bf16": ...}), from the cache when
    this CPU measured the same shape before; and whether it came from there."""
    path = Path(cfg.cache_dir) / "precision_probe.json"
    key = json.dumps(
        {
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "model": OmegaConf.to_container(cfg.model, resolve=True),
            "batch_tokens": cfg.trainer.batch_tokens,
        },
        sort_keys=True,
    )
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    if key in table:
        return table[key], True
    log.info("timing fp32 against bf16 training updates (trainer.precision=auto)")
    speeds = probe(model, cfg.trainer, batches, device)
    table[key] = speeds
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{time.monotonic_ns()}.tmp")
    temporary.write_text(json.dumps(table, indent=1))
    temporary.replace(path)
    return speeds, False


def probe(model: EncoderDecoder, tc: Any, batches: Sequence[Batch], device: torch.device) -> dict[str, float]:
    """Tokens/s (source + target) of training updates of a copy of ``model`` in fp32 and in bf16:
    one warm-up update per precision and batch, then ``PROBE_ROUNDS`` rounds that alternate them
    (so a busy machine slows both alike). The model and the random-number streams are left as they
    were."""
    steps = {name: UpdateStep(copy.deepcopy(model), tc, device, dtype) for name, dtype in PROBED.items()}
    tokens = sum(batch.num_tokens + int(batch.src_mask.sum()) for batch in batches)
    seconds = dict.fromkeys(steps, 0.0)
    with torch.random.fork_rng(devices=[]):
        for round_ in range(PROBE_ROUNDS + 1):
            for name, step in steps.items():
                for batch in batches:
                    start = time.perf_counter()
                    step([batch], tc.lr)
                    if round_:
                        seconds[name] += time.perf_counter() - start
    return {name: PROBE_ROUNDS * tokens / spent for name, spent in seconds.items()}


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
