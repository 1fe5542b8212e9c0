"""Jobs on a cluster: torch.distributed's variables under a SLURM job that submitit started."""

from __future__ import annotations

import os


def export_submitit_distributed_env() -> None:
    """Set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (what torchrun sets, and what
    ``init_distributed`` reads) from SLURM's, in a job of several tasks that submitit launched."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or "WORLD_SIZE" in os.environ:
        return
    from submitit.helpers import TorchDistributedEnvironment  # the nmt[slurm] extra

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)  # cuda:LOCAL_RANK picks the GPU
