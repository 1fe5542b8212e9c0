"""Prepared training corpora: cleaned (``nmt.data.prepared_text``), sampled for sentencepiece and
encoded once, then opened.

Each training corpus is stored in the data cache as memory-mapped Arrow files (`datasets`), entries
built whole or not at all (``nmt.data.cache_entries``)::

    <cache_dir>/prepared/<text key>/
        text/, report.json the cleaned pairs and the cleaning report (``nmt.data.prepared_text``)
        spm-<key>/         sentencepiece model(s) trained on a seeded sample of text/
        ids-<key>/         the pairs as subword ids (columns src_ids, tgt_ids), one folder per vocabulary
        links-<key>/       eflomal's word links of text/ (``nmt.data.links``), for supervised attention

The spm key hashes the sentencepiece settings (with the sample's own seed, ``data.spm.seed``: runs
of every seed share the vocabulary and its ids), the ids key the sentencepiece model file(s).
Encoding runs in ``data.num_proc`` processes.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sentencepiece as spm
from omegaconf import OmegaConf

from nmt.config import DataConfig, SubwordConfig
from nmt.data.batching import Batch, make_batch
from nmt.data.cache_entries import VERSION, build_entry, entry_key, map_pieces
from nmt.data.links import LINKS_VERSION, AttentionLabels, WordLinks, align_corpus
from nmt.data.prepared_text import dropped, open_text, prepare_text, read_report
from nmt.data.vocab import train_vocab, vocab_paths
from nmt.runtime import worker_count

log = logging.getLogger(__name__)


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
        return f"kept {self.report['kept']} of {self.report['read']} (dropped: {dropped(self.report)})"


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


# ----------------------------------------------------------------- vocabulary
def prepare_vocabs(text_dir: Path, cfg: SubwordConfig, build: bool = True) -> tuple[Path, Path]:
    """Sentencepiece model(s) trained on a sample of the cleaned pairs (seeded by ``data.spm.seed``,
    whatever the run's seed; in ``SPM_THREADS`` threads, whatever the machine), kept in the cache."""
    identity = {"version": VERSION, "spm": OmegaConf.to_container(cfg, resolve=True)}
    entry = text_dir / f"spm-{entry_key(identity)}"

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

    build_entry(entry, build_vocabs, build, "sentencepiece model")
    return vocab_paths(entry, cfg.joint)


_FORK_SERVER = multiprocessing.get_context("forkserver")
_FORK_SERVER.set_forkserver_preload([__name__])


def _train_on_sample(text_dir: Path, columns: tuple[str, ...], path: Path, cfg: SubwordConfig) -> None:
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
    entry = text_dir / f"links-{entry_key(identity)}"

    def build_links(out: Path, work: Path) -> None:
        text = open_text(text_dir)
        align_corpus(text["src"], text["tgt"]).save(out / "links.npz")

    build_entry(entry, build_links, build, "eflomal word links")
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
        ids = map_pieces(
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

    build_entry(entry, build_ids, build, "encoded training pairs")
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
