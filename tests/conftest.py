"""Shared fixtures: the real corpora mirror, and small real training sets cut from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("NMT_DATA_DIR", REPO.parent / "shared" / "data")).resolve()

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline mirror of real corpora (``$NMT_DATA_DIR``, default ``../shared/data``)."""
    if not (DATA_DIR / "multi30k").is_dir():
        pytest.fail(f"corpus mirror not found at {DATA_DIR}; set NMT_DATA_DIR")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _data_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test reads corpora from the mirror and never writes into the repository's data/ cache."""
    monkeypatch.setenv("NMT_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("NMT_CACHE_DIR", str(tmp_path / "cache"))
