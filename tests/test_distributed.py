"""Data-parallel training: two processes under torchrun on the CPU (Gloo), as on several GPUs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from helpers import TINY_RUN, nmt

from nmt.rundir import load_checkpoint


def test_two_processes_train_one_model(tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args = [*TINY_RUN, f"run_dir={run}", "trainer.max_steps=10", "trainer.valid_every=10"]
    args.append("trainer.threads=1")  # one core per process
    result = subprocess.run([*launcher, "-m", "nmt.train", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "2 process(es)" in log and "validation at step 10" in log
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()


def test_two_processes_update_like_one_process_accumulating_their_two_batches(tmp_path: Path) -> None:
    """DDP over 2 ranks, one batch each, against 1 process with update_freq=2 over the same 2 batches:
    the updates sum the loss over the same tokens, so only float rounding differs (summation order:
    gradients averaged by all-reduce vs accumulated in place). No dropout: ranks draw their own masks.
    Lengths padded to multiples of 8, as GPU runs and compiled steps batch them (one shape per bucket)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    common = [
        *TINY_RUN,
        "model.dropout=0",
        "trainer.max_steps=3",
        "trainer.valid_every=3",
        "trainer.threads=1",
        "trainer.pad_to_multiple=8",
    ]
    ddp, accumulated, half = tmp_path / "ddp", tmp_path / "accumulated", tmp_path / "half"
    result = subprocess.run(
        [*launcher, "-m", "nmt.train", *common, f"run_dir={ddp}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    nmt("train", *common, f"run_dir={accumulated}", "trainer.update_freq=2")
    nmt("train", *common, f"run_dir={half}")  # one batch an update: must NOT match

    two, one, single = (load_checkpoint(run / "last.pt")["model"] for run in (ddp, accumulated, half))
    for name, value in one.items():
        torch.testing.assert_close(two[name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert max((single[name] - one[name]).abs().max().item() for name in one) > 1e-3
