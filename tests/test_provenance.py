"""Provenance, not shapes: a checkpoint names its run, ``nmt average`` refuses to mix runs, and a
resumed run refuses training data other than what it started on."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_RUN, assert_clean_error, nmt

from nmt.errors import NmtError
from nmt.rundir import load_checkpoint, save_checkpoint

SNAPSHOTS = ["trainer.max_steps=10", "trainer.save_every=5", "trainer.keep_last=2", "trainer.valid_every=10"]
QUIET = ["trainer.attention_images=0", "trainer.save_every_minutes=null"]


@pytest.fixture(scope="module")
def corpus(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Overrides that train on a local copy of 300 Multi30k pairs (files a test may change)."""
    folder = tmp_path_factory.mktemp("corpus")
    options = []
    for lang in ("en", "de"):
        with gzip.open(data_dir / f"multi30k/train.{lang}.gz", "rt", encoding="utf-8") as file:
            lines = [next(file) for _ in range(300)]
        (folder / f"train.{lang}").write_text("".join(lines), encoding="utf-8")
        side = "src" if lang == "en" else "tgt"
        options += [f"data.train.{side}.path={folder}/train.{lang}", f"data.train.{side}.url=null"]
        options.append(f"data.train.{side}.sha256=null")
    return options


def train(run: Path, *options: str) -> None:
    nmt("train", *TINY_RUN, *QUIET, f"run_dir={run}", *options)


def files(run: Path) -> dict[str, bytes]:
    """Every file of a run directory, by relative path, with its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(corpus: list[str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of one model, vocabulary and data, seeds 1 and 2: tensors of the very same shapes."""
    parent = tmp_path_factory.mktemp("runs")
    for seed in (1, 2):
        train(parent / f"seed{seed}", *corpus, *SNAPSHOTS, f"seed={seed}")
    return parent / "seed1", parent / "seed2"


def test_every_checkpoint_names_its_run_vocabulary_and_model(runs: tuple[Path, Path]) -> None:
    records = [load_checkpoint(p)["provenance"] for p in sorted(runs[0].glob("*.pt"))]
    assert len(records) == 4  # best, last, step_5, step_10
    assert all(record == records[0] for record in records)
    assert set(records[0]["vocab"]) == {"spm.model"}
    assert records[0]["model"]["hidden_dim"] == 32
    other = load_checkpoint(runs[1] / "last.pt")["provenance"]
    assert other["run_id"] != records[0]["run_id"] and other["vocab"] == records[0]["vocab"]


def test_average_refuses_a_snapshot_of_another_run_of_the_same_shapes(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    shutil.copy(runs[1] / "step_10.pt", run / "step_10.pt")  # another seed's weights, same shapes
    before = files(run)
    stderr = assert_clean_error(
        nmt("average", str(run), "--last", "2", check=False), "mix runs", "--allow-mixed"
    )
    assert "step_5.pt" in stderr and "step_10.pt" in stderr and len(stderr.strip().splitlines()) == 1
    assert files(run) == before  # nothing written
    printed = nmt("average", str(run), "--last", "2", "--allow-mixed").stdout.decode()
    assert "average_last2.pt" in printed
    assert "provenance" not in load_checkpoint(run / "average_last2.pt")  # of no one run


def test_average_of_one_run_keeps_its_record(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "avg.pt"
    nmt("average", str(runs[0]), "--last", "2", "--out", str(out))
    assert load_checkpoint(out)["provenance"] == load_checkpoint(runs[0] / "last.pt")["provenance"]


def test_an_old_checkpoint_without_a_record_averages_with_a_note(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    old = load_checkpoint(run / "step_5.pt")
    del old["provenance"]
    torch.save(old, run / "step_5.pt")
    result = nmt("average", str(run), "--last", "2")
    note = result.stderr.decode()
    assert "step_5.pt: no provenance record" in note and "not checked" in note
    assert (run / "average_last2.pt").is_file()


def test_resume_refuses_changed_training_data_naming_the_file(corpus: list[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    copy = tmp_path / "corpus"
    shutil.copytree(Path(corpus[0].split("=", 1)[1]).parent, copy)
    local = [option.replace(str(Path(corpus[0].split("=", 1)[1]).parent), str(copy)) for option in corpus]
    train(run, *local, "trainer.max_steps=5", "trainer.valid_every=5")
    lines = (copy / "train.en").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[7] = "A changed line.\n"
    (copy / "train.en").write_text("".join(lines), encoding="utf-8")
    before = files(run)
    again = ["trainer.max_steps=10", "trainer.valid_every=5"]
    result = nmt("train", *TINY_RUN, *QUIET, f"run_dir={run}", *local, *again, check=False)
    stderr = assert_clean_error(
        result, "training data changed", f"{copy / 'train.en'} modified", "allow_data_change"
    )
    assert "train.de" not in stderr
    assert result.returncode == 1 and result.stderr.decode().count("\n") == 1  # one line
    assert files(run) == before  # nothing written, nothing lost
    train(run, *local, *again, "trainer.allow_data_change=true")
    log = (run / "train.log").read_text()
    assert "continuing on changed training data" in log and "resumed from" in log
    assert load_checkpoint(run / "last.pt")["step"] == 10


def test_a_vocabulary_smaller_than_asked_is_logged_and_recorded_as_built(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from nmt.data.vocab import Vocab

    run = tmp_path / "run"
    options = ["data.spm.vocab_size=50000", "trainer.valid_every=2"]
    train(run, "trainer.max_steps=2", *options)
    saved = OmegaConf.load(run / "config.yaml")
    built = saved.built.vocab_size["spm.model"]
    assert built == len(Vocab(run / "spm.model")) < 50000
    assert saved.data.spm.vocab_size == 50000  # as asked: the same command resumes and reuses the cache
    assert f"data.spm.vocab_size=50000 asked, spm.model has {built} pieces" in (run / "train.log").read_text()
    train(run, "trainer.max_steps=4", *options)
    assert "resumed from" in (run / "train.log").read_text()
    assert load_checkpoint(run / "last.pt")["step"] == 4


def dead_pid() -> int:
    """The process id of a process that has ended."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(child.stdout)


def test_start_up_removes_the_temporaries_of_killed_writers_only(
    corpus: list[str], runs: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    dead = run / f".last.pt.{dead_pid()}.0123abcd.tmp"
    live = run / f".step_5.pt.{os.getpid()}.4567cdef.tmp"  # this test's own: a live writer
    for path in (dead, live):
        path.write_bytes(b"half a checkpoint")
    train(run, *corpus, *SNAPSHOTS[1:], "trainer.max_steps=12", "seed=1")  # resumes the run
    assert not dead.exists() and live.exists()
    log = (run / "train.log").read_text()
    assert f"removed 1 checkpoint temporaries of killed writers: {dead.name}" in log and "resumed from" in log


def test_a_full_disk_names_the_checkpoint_and_the_space_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nmt.rundir

    real_save = torch.save

    def save_to_full_disk(payload: object, file: object) -> None:
        with open("/dev/full", "wb") as full:  # every write fails with ENOSPC
            real_save(payload, full)

    monkeypatch.setattr(nmt.rundir.torch, "save", save_to_full_disk)
    path = tmp_path / "last.pt"
    with pytest.raises(NmtError) as error:
        save_checkpoint(path, {"model": {"weight": torch.zeros(1000, 1000)}})
    message = str(error.value)
    assert message.startswith(f"{path}: cannot write the checkpoint, the disk is full: it needs about 4.0 MB")
    assert "MB are free in" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # nothing left behind
