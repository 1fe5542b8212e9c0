"""Data-parallel training: two processes under torchrun on the CPU (Gloo), as on several GPUs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_cli import TINY_RUN


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
