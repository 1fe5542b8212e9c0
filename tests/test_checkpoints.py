"""Checkpoints for big runs: the best k by validation BLEU, the latest periodic ones, and
``nmt average`` over them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from helpers import TINY_RUN, assert_clean_error, nmt

from nmt.rundir import load_checkpoint


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 updates validated every 5 (keeping the best 2) and saved every 10 (keeping the last 2)."""
    run = tmp_path_factory.mktemp("runs") / "kept"
    options = ["trainer.valid_every=5", "trainer.save_every=10", "trainer.keep_best=2", "trainer.keep_last=2"]
    options.append("trainer.attention_images=0")  # heatmaps take most of a tiny validation
    nmt("train", *TINY_RUN, f"run_dir={run}", *options)
    return run


def test_the_best_k_checkpoints_by_validation_bleu_are_kept_and_no_more(run: Path) -> None:
    validations = re.findall(r"validation at step (\d+): .* BLEU ([\d.]+)", (run / "train.log").read_text())
    assert len(validations) == 6
    kept = {
        int(p.stem.removeprefix("best_step_")): load_checkpoint(p)["bleu"] for p in run.glob("best_step_*.pt")
    }
    assert len(kept) == 2
    for step, bleu in kept.items():
        assert f"{bleu:.2f}" == dict(validations)[str(step)]  # each file holds its own validation BLEU
    others = [float(bleu) for step, bleu in validations if int(step) not in kept]
    assert max(others) <= min(kept.values()) + 0.005  # none left out scored better (log: 2 decimals)


def test_the_last_k_periodic_checkpoints_are_kept(run: Path) -> None:
    assert sorted(p.name for p in run.glob("step_*.pt")) == ["step_20.pt", "step_30.pt"]


def test_average_of_two_checkpoints_is_their_parameter_mean(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "mean.pt"
    printed = nmt("average", str(run), "--last", "2", "--out", str(out)).stdout.decode()
    assert "step_20.pt, step_30.pt" in printed
    first, second = (load_checkpoint(run / f"step_{n}.pt")["model"] for n in (20, 30))
    mean = load_checkpoint(out)["model"]
    assert mean.keys() == first.keys()
    for name, value in mean.items():
        assert value.dtype == first[name].dtype
        torch.testing.assert_close(value, (first[name] + second[name]) / 2, rtol=1e-6, atol=1e-7)
    assert any(not torch.equal(first[name], second[name]) for name in first)  # a real average
    nmt("translate", str(run), "--checkpoint", str(out), "A dog runs.")


def test_average_asks_for_no_more_checkpoints_than_the_run_kept(run: Path) -> None:
    assert_clean_error(
        nmt("average", str(run), "--best", "3", check=False), "2 best_step_N.pt", "keep_best=3"
    )
