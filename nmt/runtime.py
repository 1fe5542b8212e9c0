"""Where code runs: device, mixed precision, seeding, torch.distributed.

The bottom layer, beside ``nmt.errors``: it imports nothing else from ``nmt``.
"""

from __future__ import annotations

import math
import os
import random
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from nmt.errors import NmtError


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (someone else's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPU cores this process may use: those of its affinity mask, fewer under a cgroup (v2) CPU
    quota (a container started with ``--cpus=N``); at least 1."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux only
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    try:
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return max(1, cores)


def worker_count(configured: int | None) -> int:
    """Processes or threads for parallel work: ``configured`` (an option such as ``data.num_proc``)
    when set, else ``available_cpus()``."""
    return configured or available_cpus()


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available (the local rank's GPU under torchrun), else Apple MPS, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise NmtError(f"device: {name!r} is not a device name ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NmtError(f"device: {name!r} was asked for, but this torch build sees no CUDA GPU")
    return device


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(
    precision: str, device: torch.device, prefers_bf16_on_cpu: bool, option: str = "trainer.precision"
) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (None: plain fp32); errors name ``option``.

    ``auto`` picks bf16 on GPUs that support it (else fp16). On the CPU it picks bf16 only for
    models that gain from it (the Transformer; an RNN's small per-step products do not) and only
    where the CPU computes bf16 natively (AVX512-BF16 or AMX): elsewhere bf16 is emulated, and
    ``make bench`` measured it at half the fp32 speed on an AVX-512 CPU without them.
    """
    choices = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return (
            torch.bfloat16 if device.type == "cpu" and prefers_bf16_on_cpu and cpu_has_native_bf16() else None
        )
    if precision not in choices:
        raise NmtError(f"{option}: unknown {precision!r}; choose {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise NmtError(f"{option}: fp16 needs a CUDA GPU; use bf16 or fp32")
    return choices[precision]


def precision_name(dtype: torch.dtype | None) -> str:
    """fp32, bf16 or fp16: what an ``autocast_dtype`` result computes in."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX tiles)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # in torch.cpu since torch 2.1
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def agree(self, flags: list[bool], device: torch.device) -> list[bool]:
        """Each flag, true on every rank when it is true on any (one all-reduce)."""
        if self.world == 1:
            return list(flags)
        tensor = torch.tensor(flags, dtype=torch.float32, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [bool(flag) for flag in tensor.tolist()]

    def all_reduce_sum(self, value: float, device: torch.device) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return float(tensor.item())


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group that torchrun describes in the environment (NCCL on GPUs, else Gloo)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Distributed(dist.get_rank(), world)
