"""Interrupted runs resume exactly: SIGKILL at a random step, SIGTERM, SIGINT, a kill mid-save.

A run killed at any point and started again with the same command must end with parameters
bitwise equal to a run that was never interrupted (dropout on, so the RNG states matter too).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL
from helpers import TINY_RUN, assert_clean_error, nmt

from nmt.rundir import load_checkpoint
from nmt.training.signals import Interrupted, StopSignals

TINY_TRANSFORMER = [arg for arg in TINY_RUN if not arg.startswith("model")]
TINY_TRANSFORMER += ["model=transformer", *TINY_MODEL["transformer"]]
EXACT = [
    "trainer.threads=1",
    "trainer.log_every=1",
    "trainer.save_every_minutes=null",
    "trainer.attention_images=0",
]


def start_train(*args: str, output: Path) -> subprocess.Popen:
    """``nmt train ARGS`` in the background; its stdout and stderr go to ``output`` (.out / .err)."""
    return subprocess.Popen(
        [sys.executable, "-m", "nmt.cli", "train", *args],
        stdout=output.with_suffix(".out").open("wb"),
        stderr=output.with_suffix(".err").open("wb"),
    )


def wait_for_step(run: Path, process: subprocess.Popen, step: int, timeout: float = 300) -> int:
    """Wait until ``run``'s train.log shows step ``step`` or later; returns the step it shows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"training ended (status {process.returncode}) before step {step}"
        log = run / "train.log"
        steps = re.findall(r"nmt\.steps: step (\d+)", log.read_text()) if log.exists() else []
        if steps and int(steps[-1]) >= step:
            return int(steps[-1])
        time.sleep(0.05)
    raise AssertionError(f"no step {step} within {timeout} s")


def parameters(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.pt")["model"]


@pytest.mark.parametrize("family", ["rnn", pytest.param("transformer", marks=pytest.mark.slow)])
def test_a_run_killed_at_a_random_step_resumes_to_bitwise_equal_parameters(
    family: str, tmp_path: Path
) -> None:
    base = TINY_RUN if family == "rnn" else TINY_TRANSFORMER
    args = [*base, *EXACT, "trainer.max_steps=24", "trainer.valid_every=12", "trainer.save_every=1"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    nmt("train", *args, f"run_dir={straight}")

    kill_at = random.randint(
        2, 20
    )  # 7 batches an epoch: kills land in every epoch, before and after validation
    process = start_train(*args, f"run_dir={killed}", output=tmp_path / "killed")
    reached = wait_for_step(killed, process, kill_at)
    process.kill()
    process.wait()
    stopped_at = load_checkpoint(killed / "last.pt")["step"]
    assert stopped_at < 24, "the kill came too late to test anything"
    nmt("train", *args, f"run_dir={killed}")

    assert f"resumed from {killed / 'last.pt'} at step {stopped_at}" in (killed / "train.log").read_text()
    expected, resumed = parameters(straight), parameters(killed)
    assert expected.keys() == resumed.keys()
    unequal = [name for name in expected if not torch.equal(expected[name], resumed[name])]
    assert not unequal, f"killed at step {reached} (saved {stopped_at}); differ: {unequal}"


@pytest.mark.slow  # a minute and more; the SIGINT test below covers the same handler in the fast suite
def test_sigterm_saves_a_checkpoint_and_the_run_resumes_from_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY_RUN, *EXACT, f"run_dir={run}", "trainer.valid_every=1000"]
    process = start_train(*args, "trainer.max_steps=100000", output=tmp_path / "term")
    wait_for_step(run, process, 3)
    process.terminate()
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    saved = load_checkpoint(run / "last.pt")["step"]
    assert (
        saved >= 3
        and f"stopped by SIGTERM; saved {run / 'last.pt'} at step {saved}"
        in (tmp_path / "term.err").read_text()
    )

    nmt("train", *args, f"trainer.max_steps={saved + 2}")
    assert f"resumed from {run / 'last.pt'} at step {saved} " in (run / "train.log").read_text()
    assert load_checkpoint(run / "last.pt")["step"] == saved + 2


def test_sigint_saves_and_exits_130_with_one_line_and_a_second_trainer_is_locked_out(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    args = [*TINY_RUN, *EXACT, f"run_dir={run}", "trainer.max_steps=100000", "trainer.valid_every=1000"]
    args.append("trainer.compile=false")  # a run this long would first time the compiler (seconds of gcc)
    process = start_train(*args, output=tmp_path / "int")
    wait_for_step(run, process, 2)

    second = nmt("train", *args, check=False)
    assert_clean_error(second, f"{run} is in use", "another `nmt train`")

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    stderr = (tmp_path / "int.err").read_text()
    assert "Traceback" not in stderr
    ours = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("nmt train")]
    saved = load_checkpoint(run / "last.pt")["step"]
    assert ours == [
        f"nmt train: stopped by SIGINT; saved {run / 'last.pt'} at step {saved}; "
        "run the same command to resume"
    ]


WRITER = """
import sys, torch
from pathlib import Path
from nmt.rundir import save_checkpoint
for step in range(1, 100000):
    save_checkpoint(Path(sys.argv[1]), {"model": {"w": torch.full((1_000_000,), float(step))}, "step": step})
"""


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint_loadable(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    for _ in range(3):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        while not path.exists():
            time.sleep(0.01)
        time.sleep(random.uniform(0.05, 0.5))  # a 4 MB checkpoint takes milliseconds: kills land mid-write
        writer.kill()
        writer.wait()
        state = load_checkpoint(path)
        assert torch.equal(state["model"]["w"], torch.full((1_000_000,), float(state["step"])))


def test_a_signal_handler_installed_before_training_gets_the_signal_after_the_save() -> None:
    """submitit's SIGUSR2 handler requeues a SLURM job: it must still run, once the checkpoint is saved."""
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: received.append(signum))
    try:
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert signals.received == signal.SIGUSR2 and received == []  # only noted, training goes on
            with pytest.raises(Interrupted, match="stopped by SIGUSR2; saved"):
                signals.stop("saved")
        assert received == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, previous)
