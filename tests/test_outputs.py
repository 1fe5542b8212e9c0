"""Outputs are checked before the work, and written atomically.

Every command that writes refuses, at start-up, a place it could not write to (one message naming
the option and the path, exit 1, no traceback), and leaves what was there before untouched. The
tests run as root, who may write anywhere the file system allows: unwritable places are paths
under a regular file, a folder where a file is meant (and a file where a folder is), and /proc.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import TINY_RUN, assert_clean_error, nmt, trained_run
from hypothesis import given
from hypothesis import strategies as st

from nmt.errors import NmtError
from nmt.outputs import atomic_folder, atomic_write, check_output, write_bytes, write_text


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory, *TINY_RUN)


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A regular file: nothing can be created under it."""
    path = tmp_path / "a_file"
    path.write_text("in the way\n")
    return path


@pytest.fixture
def sentences(tmp_path: Path) -> Path:
    path = tmp_path / "input.en"
    path.write_text("a man is walking .\ntwo dogs play in the snow .\n")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes (folders as empty values)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))
    }


# ------------------------------------------------------------------ the check
@pytest.mark.parametrize(
    ("make", "folder", "reason"),
    [
        (lambda t, b: b / "x.txt", False, "is not a directory"),
        (lambda t, b: b / "deeper" / "x.txt", False, "is not a directory"),
        (lambda t, b: t, False, "is a directory"),
        (lambda t, b: b, True, "is a file"),
        (lambda t, b: b / "out", True, "is not a directory"),
        (lambda t, b: Path("/proc/nmt-test/x.txt"), False, "cannot write in /proc"),
    ],
)
def test_check_output_names_the_option_the_path_and_the_reason(
    tmp_path: Path, blocker: Path, make, folder: bool, reason: str
) -> None:
    path = make(tmp_path, blocker)
    before = snapshot(tmp_path)
    with pytest.raises(NmtError) as error:
        check_output(path, "--output", folder=folder)
    assert str(error.value).startswith(f"--output {path}: ") and reason in str(error.value)
    assert snapshot(tmp_path) == before  # the check creates nothing


def test_check_output_accepts_new_nested_places_and_creates_nothing(tmp_path: Path) -> None:
    check_output(tmp_path / "new" / "deeper" / "x.txt", "--output")
    check_output(tmp_path / "new" / "out", "--out-dir", folder=True)
    existing = tmp_path / "old.txt"
    existing.write_text("old\n")
    check_output(existing, "--output")
    assert snapshot(tmp_path) == {"old.txt": b"old\n"}


# ------------------------------------------------------------ atomic writing
@given(old=st.binary(max_size=200), new=st.binary(max_size=200))
def test_atomic_write_leaves_the_new_file_or_the_old_one_whole(old: bytes, new: bytes) -> None:
    folder = Path(tempfile.mkdtemp())
    path = folder / "out.bin"
    write_bytes(path, old)
    with pytest.raises(RuntimeError), atomic_write(path, "wb") as file:
        file.write(new)
        raise RuntimeError("killed half-way")
    assert path.read_bytes() == old and os.listdir(folder) == ["out.bin"]  # no temporary file left
    write_bytes(path, new)
    assert path.read_bytes() == new and os.listdir(folder) == ["out.bin"]
    shutil.rmtree(folder)


def test_atomic_text_is_utf8_with_newlines_as_written(tmp_path: Path) -> None:
    write_text(tmp_path / "new" / "x.txt", "été\nzwei\r\n")
    assert (tmp_path / "new" / "x.txt").read_bytes() == "été\nzwei\r\n".encode()


def test_atomic_folder_replaces_a_folder_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "half.bin").write_bytes(b"half")
        raise RuntimeError("killed half-way")
    assert snapshot(tmp_path) == {"model": b"", "model/old.bin": b"old"}
    with atomic_folder(out) as tmp:
        (tmp / "new.bin").write_bytes(b"new")
    assert snapshot(tmp_path) == {"model": b"", "model/new.bin": b"new"}
    assert out.stat().st_mode & 0o777 == 0o755


# ------------------------------------------------------- every writing command
def test_translate_checks_output_before_loading_the_model(run_dir: Path, sentences: Path, blocker) -> None:
    # a checkpoint that does not exist: the output is refused first, so the model was never loaded
    bad = blocker / "x.txt"
    result = nmt(
        "translate", str(run_dir), "--input", str(sentences), "--output", str(bad),
        "--checkpoint", "missing.pt", check=False,
    )  # fmt: skip
    stderr = assert_clean_error(result, f"--output {bad}", "is not a directory")
    assert "missing.pt" not in stderr and result.stdout == b""
    assert blocker.read_text() == "in the way\n"


def test_translate_align_to_a_bad_place_leaves_the_translations_file_unchanged(
    run_dir: Path, sentences: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.de"
    output.write_bytes(b"yesterday's translations\n")
    before = snapshot(tmp_path)
    for align in (tmp_path, Path("/proc/nmt-test/align.jsonl")):
        result = nmt(
            "translate", str(run_dir), "--input", str(sentences), "--output", str(output),
            "--align", str(align), check=False,
        )  # fmt: skip
        assert_clean_error(result, f"--align {align}")
        assert snapshot(tmp_path) == before


def test_translate_output_is_replaced_whole(run_dir: Path, sentences: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.de"
    output.write_text("yesterday's translations\n" * 10)
    nmt("translate", str(run_dir), "--input", str(sentences), "--output", str(output))
    assert len(output.read_text().splitlines()) == 2
    assert sorted(os.listdir(tmp_path)) == ["input.en", "out.de"]  # no temporary file left


def test_score_refuses_a_folder_as_output(run_dir: Path, sentences: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    result = nmt(
        "score", str(run_dir), "--src", str(sentences), "--tgt", str(sentences), "--output", str(tmp_path),
        check=False,
    )  # fmt: skip
    assert_clean_error(result, f"--output {tmp_path}", "is a directory")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option", ["--out", "--out-dir"])
def test_align_checks_its_outputs_first(run_dir: Path, blocker: Path, option: str) -> None:
    bad = blocker / "x.png" if option == "--out" else blocker
    before = snapshot(blocker.parent)
    result = nmt("align", str(run_dir), "a man is walking .", option, str(bad), check=False)
    assert_clean_error(result, f"{option} {bad}")
    assert result.stdout == b""  # nothing translated or aligned
    assert snapshot(blocker.parent) == before


def test_align_refuses_an_image_it_cannot_draw_before_translating(run_dir: Path, tmp_path: Path) -> None:
    result = nmt("align", str(run_dir), "a man is walking .", "--out", str(tmp_path / "x.txt"), check=False)
    assert_clean_error(result, f"{tmp_path / 'x.txt'}: cannot write a .txt image")
    assert result.stdout == b"" and os.listdir(tmp_path) == []


def test_average_refuses_its_out_before_reading_checkpoints(run_dir: Path, blocker: Path) -> None:
    before = snapshot(run_dir)
    result = nmt("average", str(run_dir), "--last", "2", "--out", str(blocker / "avg.pt"), check=False)
    assert_clean_error(result, f"--out {blocker / 'avg.pt'}", "is not a directory")
    assert snapshot(run_dir) == before


def test_export_refuses_a_file_as_its_out_folder(run_dir: Path, blocker: Path) -> None:
    result = nmt("export", str(run_dir), "--format", "ctranslate2", "--out", str(blocker), check=False)
    stderr = assert_clean_error(result, f"--out {blocker}", "is a file")
    assert "Transformer" not in stderr  # refused before the run was loaded
    assert blocker.read_text() == "in the way\n"


def test_evaluate_refuses_a_run_whose_hyps_cannot_be_written(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("hyps"))
    (run / "hyps").write_text("not a folder\n")
    before = snapshot(run)
    result = nmt("evaluate", str(run), "--split", "valid", check=False)
    assert_clean_error(result, f"{run / 'hyps'}", "is a file")
    assert result.stdout == b"" and snapshot(run) == before


def test_aer_refuses_a_run_whose_report_cannot_be_written(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "aer.json").mkdir()
    before = snapshot(run)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a b\n")
    gold = tmp_path / "gold.txt"
    gold.write_text("0-0 1-1\n")
    result = nmt("aer", str(run), "--src", str(pairs), "--tgt", str(pairs), "--gold", str(gold), check=False)
    assert_clean_error(result, f"{run / 'aer.json'}", "is a directory")
    assert snapshot(run) == before


def test_compare_refuses_its_out_before_translating(run_dir: Path, blocker: Path) -> None:
    before = snapshot(run_dir)
    result = nmt("compare", str(run_dir), "--out", str(blocker / "cmp"), check=False)
    assert_clean_error(result, f"--out {blocker / 'cmp'}", "is not a directory")
    assert result.stdout == b"" and snapshot(run_dir) == before


def test_train_refuses_a_run_dir_that_cannot_be_made(blocker: Path) -> None:
    result = nmt("train", *TINY_RUN, f"run_dir={blocker / 'run'}", check=False)
    assert_clean_error(result, f"run_dir {blocker / 'run'}", "is not a directory")
    assert sorted(os.listdir(blocker.parent)) == ["a_file"]
