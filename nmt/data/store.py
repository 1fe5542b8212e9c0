"""Prepared training corpora: read, cleaned, sampled for sentencepiece and encoded once, then opened.

Each training corpus is stored in the data cache as memory-mapped Arrow files (`datasets`)::

    <cache_dir>/prepared/<text key>/
        text/              the cleaned pairs (columns src, tgt)
        report.json        how many pairs were read, kept, and dropped for each reason
        spm-<key>/         sentencepiece model(s) trained on a seeded sample of text/
        ids-<key>/         the pairs as subword ids (columns src_ids, tgt_ids), one folder per vocabulary
        links-<key>/       eflomal's word links of text/ (``nmt.data.links``), for supervised attention

The text key hashes the sources (each file's resolved path, size and modification time; a hub
dataset's name, split and files), the split's settings (with ``extra_train``, ``lowercase`` and
``reverse``) and the cleaning settings: a corpus file that
changes gets a new key and is prepared again. The spm key hashes the sentencepiece settings (with
the sample's own seed, ``data.spm.seed``: runs of every seed share the vocabulary and its ids), the
ids key the sentencepiece model file(s). Every entry is built in a temporary folder and
renamed into place, so readers see a whole entry or none: every DDP rank and every later run with the
same data opens the same files. Normalising, cleaning and encoding run in ``data.num_proc`` processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sentencepiece as spm
from omegaconf import DictConfig, OmegaConf

from nmt.config import DataConfig
from nmt.data.batching import Batch, make_batch
from nmt.data.clean import DROP_REASONS, KEEP, clean_batch
from nmt.data.links import LINKS_VERSION, AttentionLabels, WordLinks, align_corpus
from nmt.data.sources import iter_split, split_files
from nmt.data.vocab import train_vocab, vocab_paths
from nmt.errors import NmtError
from nmt.runtime import process_alive, worker_count

log = logging.getLogger(__name__)

VERSION = 1  # bump when the stored format or the preparation changes: older entries are then ignored
PARALLEL_MIN_PAIRS = 100_000  # smaller corpora are prepared in this process (no worker start-up)
CHUNK = 10_000  # pairs per map batch and per written record batch
PIECE = 500_000  # pairs mapped by one set of worker processes
PAIRS = pa.schema([("src", pa.string()), ("tgt", pa.string())])


# ----------------------------------------------------------------- the opened corpus
class EncodedCorpus:
    """The training pairs as subword ids, memory-mapped: ``len``, the length arrays and ``batch``."""

    def __init__(self, dataset: datasets.Dataset, labels: AttentionLabels | None = None) -> None:
        self.dataset = dataset.with_format("arrow")
        self.labels = labels  # attention targets added to every batch (supervised attention)
        self.src_lengths = _lengths(dataset, "src_ids")  # (N,) int32, ids per source sentence
        self.tgt_lengths = _lengths(dataset, "tgt_ids")

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, indices: Sequence[int] | np.ndarray) -> Batch:
        """The pairs at ``indices`` as one padded Batch (B = len(indices))."""
        rows = self.dataset[np.asarray(indices, dtype=np.int64)]
        src, tgt = rows.column("src_ids").to_pylist(), rows.column("tgt_ids").to_pylist()
        batch = make_batch(src, tgt)
        if self.labels is not None:
            batch.links = self.labels.batch(indices, src, tgt)
        return batch


def _lengths(dataset: datasets.Dataset, column: str) -> np.ndarray:
    """Each row's list length, read from the Arrow offsets alone (no ids are touched)."""
    return pc.list_value_length(dataset.data.column(column)).to_numpy().astype(np.int32)


@dataclass
class TrainingData:
    """What training needs from the data cache."""

    corpus: EncodedCorpus
    vocab_models: tuple[Path, Path]  # the source and target sentencepiece models it was encoded with
    report: dict[str, int]  # pairs read, kept and dropped per reason

    def summary(self) -> str:
        return f"kept {self.report['kept']} of {self.report['read']} (dropped: {_dropped(self.report)})"


def _dropped(report: dict[str, int]) -> str:
    return ", ".join(f"{reason} {report[reason]}" for reason in DROP_REASONS)


def prepare_training_data(
    data: DataConfig, cache_dir: str | Path, run_dir: str | Path, *, labels: bool = False, build: bool = True
) -> TrainingData:
    """The training corpus of ``data``, prepared into ``cache_dir`` unless already there.

    The vocabulary is ``run_dir``'s when it has one (a resumed run), else the cache's (trained there
    when missing). With ``labels`` (supervised attention) every batch carries attention labels from
    eflomal's links (``prepare_links``). With ``build=False`` (DDP ranks other than 0) nothing is
    built: a missing entry is an error.
    """
    text_dir = prepare_text(data, cache_dir, build)
    src_model, tgt_model = vocab_paths(run_dir, data.spm.joint)
    if not (src_model.is_file() and tgt_model.is_file()):
        src_model, tgt_model = prepare_vocabs(text_dir, data.spm, build)
    corpus = prepare_ids(text_dir, (src_model, tgt_model), worker_count(data.num_proc), build)
    if labels:
        corpus.labels = AttentionLabels(prepare_links(text_dir, build), src_model, tgt_model)
    return TrainingData(corpus, (src_model, tgt_model), read_report(text_dir))


# ----------------------------------------------------------------- text
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
    entry = Path(cache_dir) / "prepared" / _key(identity)
    where = ", ".join(map(str, files)) or f"dataset {data.train.hub.path!r}"

    def build_text(out: Path, work: Path) -> None:
        raw = _write_pairs(iter_split(data, "train", cache_dir), work / "raw.arrow", f"reading {data.name}")
        if len(raw) == 0:
            raise NmtError(f"data.train: {where} holds no sentence pairs")
        clean = OmegaConf.to_container(data.clean, resolve=True)
        cleaned = _map(
            raw, clean_batch, work / "cleaned.arrow", worker_count(data.num_proc), "cleaning", clean=clean
        )
        kept, report = _select_clean(cleaned, data.clean.dedupe)
        if not kept.size:
            raise NmtError(
                f"data.train: cleaning dropped all {report['read']} pairs of {where} ({_dropped(report)}); "
                f"check data.clean (max_words={data.clean.max_words}, max_ratio={data.clean.max_ratio})"
            )
        cleaned.select(kept).select_columns(["src", "tgt"]).save_to_disk(out / "text")
        (out / "report.json").write_text(json.dumps(report) + "\n")

    _entry(entry, build_text, build, f"prepared training pairs of {where}")
    return entry


def read_report(text_dir: Path) -> dict[str, int]:
    return json.loads((text_dir / "report.json").read_text())


def open_text(text_dir: Path) -> datasets.Dataset:
    """The cleaned training pairs (columns src, tgt), memory-mapped."""
    return datasets.load_from_disk(str(text_dir / "text"))


def _file_identity(path: Path) -> list[Any]:
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


# ----------------------------------------------------------------- vocabulary
def prepare_vocabs(text_dir: Path, cfg: DictConfig, build: bool = True) -> tuple[Path, Path]:
    """Sentencepiece model(s) trained on a sample of the cleaned pairs (seeded by ``data.spm.seed``,
    whatever the run's seed; in ``SPM_THREADS`` threads, whatever the machine), kept in the cache."""
    identity = {"version": VERSION, "spm": OmegaConf.to_container(cfg, resolve=True)}
    entry = text_dir / f"spm-{_key(identity)}"

    def build_vocabs(out: Path, work: Path) -> None:
        sides = (
            [(("src", "tgt"), vocab_paths(out, True)[0])]
            if cfg.joint
            else list(zip((("src",), ("tgt",)), vocab_paths(out, False), strict=True))
        )
        # in a child process: the memory that sampling and sentencepiece take is given back when it ends.
        # Forked from a fork server, not from this process: a fork of a process running other threads (a
        # server, a browser driver) can crash.
        with ProcessPoolExecutor(1, mp_context=_FORK_SERVER) as child:
            for columns, path in sides:
                child.submit(_train_on_sample, text_dir, columns, path, cfg).result()

    _entry(entry, build_vocabs, build, "sentencepiece model")
    return vocab_paths(entry, cfg.joint)


_FORK_SERVER = multiprocessing.get_context("forkserver")
_FORK_SERVER.set_forkserver_preload([__name__])


def _train_on_sample(text_dir: Path, columns: tuple[str, ...], path: Path, cfg: DictConfig) -> None:
    sentences = sample_sentences(open_text(text_dir), columns, cfg.input_sentence_size, cfg.seed)
    train_vocab(sentences, path, cfg)


def sample_sentences(text: datasets.Dataset, columns: Sequence[str], size: int, seed: int) -> list[str]:
    """``size`` sentences drawn without replacement from ``columns`` of every pair (all of them when
    there are fewer), in corpus order; the same seed draws the same sentences.

    The corpus is read once, in order, with plain reads: random access to its memory map would keep
    most of its pages resident in this process.
    """
    total = len(text) * len(columns)
    picked = np.arange(total)
    if total > size:
        log.info("sampling %d of %d sentences for sentencepiece (seed %d)", size, total, seed)
        picked = np.sort(np.random.default_rng(seed).choice(total, size, replace=False))
    rows, sides = picked // len(columns), picked % len(columns)
    sentences: list[str] = []
    start = 0
    for batch in _record_batches(text):
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        taken = batch.take(rows[lo:hi] - start)
        values = [taken.column(name).to_pylist() for name in columns]
        sentences += [values[side][i] for i, side in enumerate(sides[lo:hi].tolist())]
        start += batch.num_rows
    return sentences


def _record_batches(dataset: datasets.Dataset) -> Iterator[pa.RecordBatch]:
    """The record batches of a dataset saved with ``save_to_disk``, in order, read from its files."""
    for file in dataset.cache_files:
        with pa.OSFile(file["filename"]) as source:
            yield from pa.ipc.open_stream(source)


# ----------------------------------------------------------------- word links
def prepare_links(text_dir: Path, build: bool = True) -> WordLinks:
    """eflomal's word links of the cleaned pairs in ``text_dir`` (``nmt.data.links``), cached there."""
    identity = {"version": LINKS_VERSION, "aligner": "eflomal", "symmetrize": "grow-diag-final-and"}
    entry = text_dir / f"links-{_key(identity)}"

    def build_links(out: Path, work: Path) -> None:
        text = open_text(text_dir)
        align_corpus(text["src"], text["tgt"]).save(out / "links.npz")

    _entry(entry, build_links, build, "eflomal word links")
    return WordLinks.load(entry / "links.npz")


# ----------------------------------------------------------------- ids
def prepare_ids(
    text_dir: Path, models: tuple[Path, Path], num_proc: int, build: bool = True
) -> EncodedCorpus:
    """The cleaned pairs encoded with the sentencepiece ``models`` (source, target), cached per model."""
    digest = hashlib.blake2b(digest_size=16)
    for model in models:
        digest.update(model.read_bytes())
    entry = text_dir / f"ids-{digest.hexdigest()}"
    vocab_size = max(spm.SentencePieceProcessor(model_file=str(m)).get_piece_size() for m in models)
    dtype = "uint16" if vocab_size <= 1 << 16 else "int32"

    def build_ids(out: Path, work: Path) -> None:
        features = datasets.Features(
            {f"{side}_ids": datasets.List(datasets.Value(dtype)) for side in ("src", "tgt")}
        )
        text = open_text(text_dir)
        ids = _map(
            text,
            encode_batch,
            work / "ids.arrow",
            num_proc,
            "encoding",
            models=[str(m) for m in models],
            features=features,
            remove_columns=["src", "tgt"],
        )
        ids.save_to_disk(out / "ids")

    _entry(entry, build_ids, build, "encoded training pairs")
    return EncodedCorpus(datasets.load_from_disk(str(entry / "ids")))


def encode_batch(batch: dict[str, list[str]], models: list[str]) -> dict[str, list[list[int]]]:
    """Subword ids of a batch of pairs (columns src, tgt) with the source and target models."""
    src_model, tgt_model = (_processor(m) for m in models)
    # one thread each: the corpus is already shared out between processes
    return {
        "src_ids": src_model.encode(batch["src"], num_threads=1),
        "tgt_ids": tgt_model.encode(batch["tgt"], num_threads=1),
    }


@cache
def _processor(path: str) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=path)


# ----------------------------------------------------------------- cache entries
def _key(identity: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(identity, sort_keys=True).encode(), digest_size=16).hexdigest()


def _entry(entry: Path, build_into: Callable[[Path, Path], None], build: bool, what: str) -> None:
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


def _map(
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
