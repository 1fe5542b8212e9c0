"""Entries of the data cache: each named by a hash of what it depends on (``entry_key``), built in a
temporary folder and renamed into place (``build_entry``), so readers see a whole entry or none: every
DDP rank and every later run with the same data opens the same files. Corpora are mapped in pieces,
in worker processes when large (``map_pieces``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from nmt.errors import NmtError
from nmt.runtime import process_alive

log = logging.getLogger(__name__)

VERSION = 1  # bump when the stored format or the preparation changes: older entries are then ignored
PARALLEL_MIN_PAIRS = 100_000  # smaller corpora are prepared in this process (no worker start-up)
CHUNK = 10_000  # pairs per map batch and per written record batch
PIECE = 500_000  # pairs mapped by one set of worker processes


def entry_key(identity: dict[str, Any]) -> str:
    """The name of the entry that ``identity`` (any JSON) describes."""
    return hashlib.blake2b(json.dumps(identity, sort_keys=True).encode(), digest_size=16).hexdigest()


def build_entry(entry: Path, build_into: Callable[[Path, Path], None], build: bool, what: str) -> None:
    """Make sure the cache entry ``entry`` exists: ``build_into(staging, scratch)`` fills a staging
    folder that is then renamed to ``entry`` (scratch files are removed either way)."""
    if entry.is_dir():
        log.info("reusing the %s in %s", what, entry)
        return
    if not build:
        raise NmtError(
            f"{entry} is missing: rank 0 should have prepared it; the cache_dir ({entry.parents[1]}) "
            "must be one folder that every process sees"
        )
    log.info("preparing the %s into %s", what, entry)
    for stale in entry.parent.glob(f".work-{entry.name}-*"):  # left by a process that was killed
        if not process_alive(int(stale.name.rsplit("-", 1)[1])):
            shutil.rmtree(stale, ignore_errors=True)
    work = entry.parent / f".work-{entry.name}-{os.getpid()}"
    (work / "entry").mkdir(parents=True)
    try:
        build_into(work / "entry", work)
        try:
            (work / "entry").rename(entry)
        except OSError:  # another process finished the same entry first: theirs is as good
            if not entry.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def map_pieces(
    dataset: datasets.Dataset, function: Callable, path: Path, num_proc: int, desc: str, **kwargs: Any
) -> datasets.Dataset:
    """``dataset.map(function)`` in batches, in ``num_proc`` processes for large corpora, into files
    beside ``path``. Large corpora are mapped one piece of PIECE pairs at a time: a worker keeps the
    pages of the memory map that it has read resident until it ends."""
    options = {key: kwargs.pop(key) for key in ("features", "remove_columns") if key in kwargs}
    starts = range(0, max(len(dataset), 1), PIECE)
    pieces = []
    for i, start in enumerate(starts):
        piece = dataset.select(range(start, min(start + PIECE, len(dataset))))  # a slice: nothing copied
        name = f"{path.stem}-{i:05d}"
        pieces.append(
            piece.map(
                function,
                batched=True,
                batch_size=CHUNK,
                writer_batch_size=CHUNK,
                num_proc=num_proc if num_proc > 1 and len(piece) >= PARALLEL_MIN_PAIRS else None,
                fn_kwargs=kwargs,
                cache_file_name=str(path.with_name(f"{name}.arrow")),
                new_fingerprint=name,
                desc=desc if len(starts) == 1 else f"{desc} ({i + 1}/{len(starts)})",
                **options,
            )
        )
    return datasets.concatenate_datasets(pieces) if len(pieces) > 1 else pieces[0]
