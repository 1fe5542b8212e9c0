"""Which run a checkpoint belongs to: every checkpoint a run writes carries a ``provenance`` record.

``run_id``   made when the run starts (a resumed run keeps the one in its ``last.pt``)
``vocab``    sha256 of each sentencepiece model file, by name
``model``    the run's resolved ``model`` config
``data``     the identity of the prepared training corpus (``nmt.data.prepared_text.text_identity``)

Checkpoints written before the record existed have none: they read as unknown.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nmt.errors import NmtError


def new_record(cfg: DictConfig, vocab_models: Sequence[Path], data: dict[str, Any], run_id: str) -> dict:
    """The record of a run whose id is ``run_id`` (``new_run_id()`` for a fresh run)."""
    return {
        "run_id": run_id,
        "vocab": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in vocab_models},
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": data,
    }


def new_run_id() -> str:
    return uuid.uuid4().hex


def check_one_run(paths: Sequence[Path], records: Sequence[dict | None], allow_mixed: bool) -> list[str]:
    """Refuse checkpoints of different runs or vocabularies (unless ``allow_mixed``); returns notes on
    what could not be checked (checkpoints without a record)."""
    known = [(path, record) for path, record in zip(paths, records, strict=True) if record is not None]
    mixed = []
    for what, key in (("runs", "run_id"), ("vocabularies", "vocab"), ("model configs", "model")):
        if len({repr(record[key]) for _, record in known}) > 1:
            values = ", ".join(f"{path.name}: {_short(record[key])}" for path, record in known)
            mixed.append(f"{what} ({values})")
    if mixed and not allow_mixed:
        raise NmtError(
            f"the checkpoints mix {'; '.join(mixed)}; average checkpoints of one run, "
            "or pass --allow-mixed to average them anyway"
        )
    unknown = [path.name for path, record in zip(paths, records, strict=True) if record is None]
    if unknown and known:
        return [
            f"{', '.join(unknown)}: no provenance record (saved by an older nmt), so not checked to be "
            f"of the same run as {', '.join(path.name for path, _ in known)}"
        ]
    return []


def _short(value: Any) -> str:
    """A short stand-in for a record's field (a run id's first 8 digits, a digest of anything else)."""
    if isinstance(value, str):
        return value[:8]
    return hashlib.sha256(repr(value).encode()).hexdigest()[:8]


def data_changes(started: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two identities of the prepared training pairs (``text_identity``): the
    options by name, the files by path (size in bytes, modification)."""
    options = sorted((started.keys() | now.keys()) - {"files"})
    changes = [f"data option {key} changed" for key in options if started.get(key) != now.get(key)]
    before = {path: (size, mtime) for path, size, mtime in started.get("files", [])}
    after = {path: (size, mtime) for path, size, mtime in now.get("files", [])}
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            changes.append(f"{path} no longer read")
        elif path not in before:
            changes.append(f"{path} newly read")
        elif before[path] != after[path]:
            (old_size, _), (new_size, _) = before[path], after[path]
            changes.append(f"{path} modified (size {old_size} -> {new_size} bytes)")
    return changes


def check_same_data(state: dict[str, Any], now: dict[str, Any], allow_change: bool) -> list[str]:
    """Refuse to resume the training state ``state`` on training data other than what it started on
    (unless ``allow_change``); returns the changes allowed (none for a ``last.pt`` without a record)."""
    record = state.get("provenance")
    changes = data_changes(record["data"], now) if record else []
    if changes and not allow_change:
        raise NmtError(
            f"trainer.resume: the training data changed since this run started ({'; '.join(changes)}); "
            "pass trainer.allow_data_change=true to continue on it, or train into a new run_dir=..."
        )
    return changes
