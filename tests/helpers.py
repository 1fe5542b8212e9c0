"""Helpers shared by the end-to-end tests: the real `nmt` command, its clean-error check, a tiny run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
