"""The cleaned training pairs of a corpus, prepared once into the data cache (``nmt.data.store``)::

    <cache_dir>/prepared/<text key>/
        text/              the cleaned pairs (columns src, tgt)
        report.json        how many pairs were read, kept, and dropped for each reason

The text key hashes the sources (each file's resolved path, size and modification time; a hub
dataset's name, split and files), the split's settings (with ``extra_train``, ``lowercase`` and
``reverse``) and the cleaning settings: a corpus file that changes gets a new key and is prepared
again. Normalising and cleaning run in ``data.num_proc`` processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
from omegaconf import OmegaConf

from nmt.config import DataConfig
from nmt.data.cache_entries import CHUNK, VERSION, build_entry, entry_key, map_pieces
from nmt.data.clean import DROP_REASONS, KEEP, clean_batch
from nmt.data.sources import iter_split, split_files
from nmt.errors import NmtError
from nmt.runtime import worker_count

PAIRS = pa.schema([("src", pa.string()), ("tgt", pa.string())])


def text_identity(data: DataConfig, cache_dir: str | Path) -> dict[str, Any]:
    """What the prepared training pairs of ``data`` depend on (hashed into their cache key): the
    sources' files (resolved path, size, modification time) and the options that read and clean them."""
    return {
        "version": VERSION,
        "split": OmegaConf.to_container(data.train, resolve=True),
        "extra_train": OmegaConf.to_container(data.extra_train, resolve=True),
        "lowercase": data.lowercase,
        "tokenize": data.tokenize,
        "reverse": data.reverse,
        "hash_split": OmegaConf.to_container(data.hash_split, resolve=True),
        "clean": OmegaConf.to_container(data.clean, resolve=True),
        "files": [_file_identity(path) for path in split_files(data, "train", cache_dir)],
    }


def prepare_text(data: DataConfig, cache_dir: str | Path, build: bool = True) -> Path:
    """The cache entry of the cleaned training pairs of ``data`` (see the module doc); raises NmtError
    when the corpus is empty or cleaning drops every pair."""
    files = split_files(data, "train", cache_dir)
    identity = text_identity(data, cache_dir)
    entry = Path(cache_dir) / "prepared" / entry_key(identity)
    where = ", ".join(map(str, files)) or f"dataset {data.train.hub.path!r}"

    def build_text(out: Path, work: Path) -> None:
        raw = _write_pairs(iter_split(data, "train", cache_dir), work / "raw.arrow", f"reading {data.name}")
        if len(raw) == 0:
            raise NmtError(f"data.train: {where} holds no sentence pairs")
        clean = OmegaConf.to_container(data.clean, resolve=True)
        cleaned = map_pieces(
            raw, clean_batch, work / "cleaned.arrow", worker_count(data.num_proc), "cleaning", clean=clean
        )
        kept, report = _select_clean(cleaned, data.clean.dedupe)
        if not kept.size:
            raise NmtError(
                f"data.train: cleaning dropped all {report['read']} pairs of {where} ({dropped(report)}); "
                f"check data.clean (max_words={data.clean.max_words}, max_ratio={data.clean.max_ratio})"
            )
        cleaned.select(kept).select_columns(["src", "tgt"]).save_to_disk(out / "text")
        (out / "report.json").write_text(json.dumps(report) + "\n")

    build_entry(entry, build_text, build, f"prepared training pairs of {where}")
    return entry


def read_report(text_dir: Path) -> dict[str, int]:
    """How many pairs were read, kept, and dropped for each reason."""
    return json.loads((text_dir / "report.json").read_text())


def open_text(text_dir: Path) -> datasets.Dataset:
    """The cleaned training pairs (columns src, tgt), memory-mapped."""
    return datasets.load_from_disk(str(text_dir / "text"))


def _file_identity(path: Path) -> list[Any]:
    """Resolved path, size and modification time: a file that changes is another corpus."""
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _write_pairs(pairs: Iterable[tuple[str, str]], path: Path, desc: str) -> datasets.Dataset:
    """Stream ``pairs`` into an Arrow file (never all in memory) and open it."""
    from tqdm.auto import tqdm

    pairs = iter(tqdm(pairs, desc=desc, unit=" pairs", mininterval=2))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, PAIRS) as writer:
        while chunk := list(islice(pairs, CHUNK * 10)):
            src, tgt = zip(*chunk, strict=True)
            writer.write_batch(
                pa.record_batch([pa.array(src, pa.string()), pa.array(tgt, pa.string())], PAIRS)
            )
    return datasets.Dataset.from_file(str(path))


def _select_clean(cleaned: datasets.Dataset, dedupe: bool) -> tuple[np.ndarray, dict[str, int]]:
    """Indices of the pairs to keep (in corpus order) and the cleaning report."""
    reasons = cleaned.data.column("reason").to_numpy()
    keep = np.flatnonzero(reasons == KEEP)
    counts = np.bincount(reasons[reasons != KEEP], minlength=len(DROP_REASONS))
    if dedupe:
        first = np.unique(cleaned.data.column("key").to_numpy()[keep], return_index=True)[1]
        counts[DROP_REASONS.index("duplicate")] = keep.size - first.size
        keep = keep[np.sort(first)]
    report = {"read": len(cleaned), "kept": int(keep.size)} | {
        reason: int(count) for reason, count in zip(DROP_REASONS, counts, strict=True)
    }
    return keep, report


def dropped(report: dict[str, int]) -> str:
    """'empty 0, too_long 3, ratio 1, duplicate 2': the pairs cleaning dropped, per reason."""
    return ", ".join(f"{reason} {report[reason]}" for reason in DROP_REASONS)
