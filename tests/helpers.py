"""Helpers shared by the end-to-end tests: the real `nmt` command, its clean-error check, a tiny run."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from conftest import TINY_MODEL

TINY_RUN = [
    "data=multi30k_en_de",
    "model=rnn_bahdanau",
    "trainer=tiny",
    *TINY_MODEL["rnn"],
    "data.train.max_pairs=300",
    "data.valid.max_pairs=40",
    "data.spm.vocab_size=400",
]


def nmt(*args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "nmt.cli", *args], input=stdin, capture_output=True)
    if check and result.returncode != 0:
        raise AssertionError(f"nmt {' '.join(args)} failed:\n{result.stderr.decode()}")
    return result


def trained_run(factory: pytest.TempPathFactory, *overrides: str) -> Path:
    """A copy of the run `nmt train OVERRIDES...` makes, trained once per test session."""
    return built_once(
        factory, "tiny", "\0".join(overrides), lambda run: nmt("train", *overrides, f"run_dir={run}")
    )


def built_once(factory: pytest.TempPathFactory, name: str, key: str, build: Callable[[Path], object]) -> Path:
    """A copy, named ``name``, of the folder ``build(folder)`` makes, built once per test session for
    each ``key``: the pytest-xdist workers of one session share it (the first builds it under a lock,
    the others wait and copy)."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's base, shared by its workers
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cached = root / "built-once" / digest
    cached.parent.mkdir(exist_ok=True)
    with open(cached.parent / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.is_dir():
            partial = cached.with_name(f"{digest}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            build(partial)
            partial.rename(cached)
    copy = factory.mktemp(name) / name
    shutil.copytree(cached, copy)
    return copy


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``nmt ARGV`` in this process (seconds faster than a new one): (exit status, stdout, stderr)."""
    from nmt.cli import main

    try:
        status = main(list(argv))
    except SystemExit as e:  # argparse's own refusals
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_clean_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Non-zero exit, one message naming what is wrong, no traceback."""
    stderr = result.stderr.decode() + result.stdout.decode()
    assert result.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    for text in expected:
        assert text in stderr, f"{text!r} not in:\n{stderr}"
    return stderr


def gold_files(data_dir: Path) -> list[str]:
    """`nmt aer` arguments for the Hansards trial set."""
    gold = data_dir / "alignments/en-fr/normalized"
    return [
        "--src",
        f"{gold}/trial.en",
        "--tgt",
        f"{gold}/trial.fr",
        "--gold",
        f"{gold}/trial.gold.0based.txt",
    ]


class EchoEngine:
    """Stands in for the server's ``Engine``: 'translates' by echoing, taking ``seconds_per_character``
    per character of a call; records the sentences of each call."""

    name = "echo"

    def __init__(self, seconds_per_character: float = 0.0) -> None:
        self.seconds_per_character = seconds_per_character
        self.calls: list[list[str]] = []

    def translate(self, sentences: Sequence[str], options: object) -> list[list[dict[str, str]]]:
        self.calls.append(list(sentences))
        time.sleep(self.seconds_per_character * sum(map(len, sentences)))
        return [[{"translation": s}] for s in sentences]
