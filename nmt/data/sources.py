"""Reading the raw sentence pairs of one split: line-aligned text files, TSV files, or `datasets`.

Corpus files are found locally or downloaded (``nmt.data.corpus_files``). Corpora without an official
split are divided into train/valid/test by hashing the source sentence (`hash_part`).
"""

from __future__ import annotations

import gzip
import hashlib
import html
from collections.abc import Iterator
from itertools import chain, islice, zip_longest
from pathlib import Path
from typing import Any

from nmt.config import DataConfig, HashSplitConfig, HubConfig, SplitConfig
from nmt.data.clean import normalize
from nmt.data.corpus_files import resolve_file
from nmt.data.pretokenize import word_tokenizer
from nmt.errors import NmtError

Pair = tuple[str, str]
PARTS = ("train", "valid", "test")


# ----------------------------------------------------------------- splits
def load_split(data: DataConfig, split: str, cache_dir: str | Path) -> list[Pair]:
    """The raw (source, target) pairs of ``split`` ("train", "valid" or "test"), as a list."""
    return list(iter_split(data, split, cache_dir))


def iter_split(data: DataConfig, split: str, cache_dir: str | Path) -> Iterator[Pair]:
    """The raw (source, target) pairs of ``split``, read as a stream.

    The training split is ``data.train`` followed by every ``data.extra_train`` source. Values are the
    lines as read, without their line ends (XML escapes undone with ``unescape``); cleaning and
    normalisation come later. Per source, ``hash_part`` keeps one hash-split part of the source, then
    ``max_pairs`` keeps the first pairs. Then ``data.reverse`` swaps the sides, ``data.tokenize``
    splits them into words (``nmt.data.pretokenize``) and ``data.lowercase`` lowercases them (after the
    hash split: both directions share one split).
    """
    pairs = chain.from_iterable(
        _iter_source(data, cfg, where, Path(cache_dir)) for cfg, where in _sources(data, split)
    )
    if data.reverse:
        pairs = ((tgt, src) for src, tgt in pairs)
    if data.tokenize != "none":
        src_words = word_tokenizer(data.tokenize, data.src_lang)
        tgt_words = word_tokenizer(data.tokenize, data.tgt_lang)
        pairs = ((src_words(src), tgt_words(tgt)) for src, tgt in pairs)
    if data.lowercase:
        pairs = ((src.lower(), tgt.lower()) for src, tgt in pairs)
    return pairs


def _iter_source(data: DataConfig, cfg: SplitConfig, where: str, cache_dir: Path) -> Iterator[Pair]:
    """The pairs of one source of a split (see ``iter_split``)."""
    pairs = _read_pairs(cfg, where, cache_dir)
    if cfg.unescape:
        pairs = ((html.unescape(src), html.unescape(tgt)) for src, tgt in pairs)
    part = cfg.hash_part
    if part is not None:
        if part not in PARTS:
            raise NmtError(f"{where}.hash_part is {part!r}; expected train, valid or test")
        # a plain copy: reading attributes of an OmegaConf node once per line would be slow
        fractions = HashSplitConfig(valid=data.hash_split.valid, test=data.hash_split.test)
        pairs = (pair for pair in pairs if hash_part(pair[0], fractions) == part)
    return islice(pairs, cfg.max_pairs)


def split_files(data: DataConfig, split: str, cache_dir: str | Path) -> list[Path]:
    """The local files that ``split`` is read from (downloaded first when missing): the corpus files
    of text and tsv sources, the local ``data_files`` of hub sources."""
    return [path for cfg, where in _sources(data, split) for path in _source_files(cfg, where, cache_dir)]


def _source_files(cfg: SplitConfig, where: str, cache_dir: str | Path) -> list[Path]:
    if cfg.format == "text":
        return [resolve_file(_needed(cfg, side, where), cache_dir) for side in ("src", "tgt")]
    if cfg.format == "tsv":
        return [resolve_file(_needed(cfg, "tsv", where), cache_dir)]
    if cfg.format == "hub":
        return [Path(f) for f in _needed(cfg, "hub", where).data_files or () if Path(f).is_file()]
    raise NmtError(f"{where}.format is {cfg.format!r}; expected text, tsv or hub")


def _sources(data: DataConfig, split: str) -> list[tuple[SplitConfig, str]]:
    """The configs of the sources of ``split`` and their keys in the data config."""
    if split not in PARTS:
        raise NmtError(f"unknown split {split!r} (expected train, valid or test)")
    if split != "train":
        return [(getattr(data, split), f"data.{split}")]
    extra = [(cfg, f"data.extra_train[{i}]") for i, cfg in enumerate(data.extra_train)]
    return [(data.train, "data.train"), *extra]


def hash_part(source: str, split: HashSplitConfig) -> str:
    """The part ("train", "valid" or "test") a source sentence belongs to, from a stable hash.

    The hash is taken over the normalised, lowercased sentence, so copies of one sentence that differ
    only in case or spacing land in the same part and no test source occurs in training.
    """
    key = normalize(source).lower().encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=8).digest()
    x = int.from_bytes(digest, "big") / 2**64
    if x < split.valid:
        return "valid"
    if x < split.valid + split.test:
        return "test"
    return "train"


def _read_pairs(cfg: SplitConfig, where: str, cache_dir: Path) -> Iterator[Pair]:
    """The pairs of one split, read in the way its ``format`` says."""
    if cfg.format == "text":
        src = resolve_file(_needed(cfg, "src", where), cache_dir)
        tgt = resolve_file(_needed(cfg, "tgt", where), cache_dir)
        return _read_text(src, tgt)
    if cfg.format == "tsv":
        return _read_tsv(resolve_file(_needed(cfg, "tsv", where), cache_dir), list(cfg.columns))
    if cfg.format == "hub":
        return _read_hub(_needed(cfg, "hub", where))
    raise NmtError(f"{where}.format is {cfg.format!r}; expected text, tsv or hub")


def _needed(cfg: SplitConfig, key: str, where: str) -> Any:
    """The sub-config ``key`` that the split's format needs."""
    value = getattr(cfg, key)
    if value is None:
        raise NmtError(f"{where}.{key} is not set, but format {cfg.format!r} needs it")
    return value


# ----------------------------------------------------------------- readers
def _read_lines(path: Path) -> Iterator[str]:
    """The lines of a plain or gzipped UTF-8 file, without their line ends, read as a stream."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as lines:
            for lineno, line in enumerate(lines, 1):
                try:
                    yield line.rstrip(b"\r\n").decode("utf-8")
                except UnicodeDecodeError as e:
                    raise NmtError(f"{path}:{lineno}: invalid UTF-8 ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise NmtError(f"could not read {path}: {e}") from e


def _read_text(src: Path, tgt: Path) -> Iterator[Pair]:
    """Pairs from two line-aligned files, read as a stream (their line counts are checked at the end)."""
    src_lines, tgt_lines = _read_lines(src), _read_lines(tgt)
    for count, (s, t) in enumerate(zip_longest(src_lines, tgt_lines), 1):
        if s is None or t is None:
            src_count = count + sum(1 for _ in src_lines) if t is None else count - 1
            tgt_count = count + sum(1 for _ in tgt_lines) if s is None else count - 1
            raise NmtError(
                f"line-aligned files differ in length: {src} has {src_count} lines, {tgt} has {tgt_count}"
            )
        yield s, t


def _read_tsv(path: Path, columns: list[int]) -> Iterator[Pair]:
    """Pairs from two columns (source, target) of a tab-separated file."""
    if len(columns) != 2 or min(columns) < 0:
        raise NmtError(f"tsv columns must be two column numbers (source, target), got {columns}")
    src_col, tgt_col = columns
    needed = max(columns) + 1
    for lineno, line in enumerate(_read_lines(path), 1):
        fields = line.split("\t")
        if len(fields) < needed:
            raise NmtError(
                f"{path}:{lineno}: {len(fields)} tab-separated column(s), expected at least {needed}"
            )
        yield fields[src_col], fields[tgt_col]


def _read_hub(hub: HubConfig) -> Iterator[Pair]:
    """Pairs from a `datasets` dataset, ``src_field``/``tgt_field`` being dotted paths into each record.

    With ``streaming``, records are read as they download, and nothing is stored by `datasets`;
    otherwise `datasets` keeps them in its own cache (``$HF_HOME``, by default ``~/.cache/huggingface``).
    """
    import datasets  # imported here: it takes a second, and only hub sources need it

    name = f"dataset {hub.path!r}" + (f" ({hub.name})" if hub.name else "")
    data_files = list(hub.data_files) if hub.data_files is not None else None
    try:
        dataset = datasets.load_dataset(
            hub.path, hub.name, split=hub.split, data_files=data_files, streaming=hub.streaming
        )
        for batch in dataset.iter(batch_size=10_000):
            yield from zip(
                _field(batch, hub.src_field, name), _field(batch, hub.tgt_field, name), strict=True
            )
    except NmtError:
        raise
    except Exception as e:  # datasets raises many types: no internet, unknown name, bad files...
        raise NmtError(
            f"could not load {name}, split {hub.split!r}: {type(e).__name__}: {e}\nWithout a network, "
            "name local copies of its files in hub.data_files (hub.path: the builder, e.g. json), or set "
            "HF_DATASETS_OFFLINE=1 to read the copy the Hugging Face cache holds"
        ) from e


def _field(batch: dict[str, list[Any]], dotted: str, name: str) -> list[Any]:
    """The values of the dotted path ``dotted`` (e.g. "translation.en") in a batch of records."""
    top, *rest = dotted.split(".")
    try:
        values = batch[top]
        for key in rest:
            values = [value[key] for value in values]
    except (KeyError, TypeError):
        raise NmtError(f"{name} has no field {dotted}; its fields: {', '.join(_paths(batch))}") from None
    return values


def _paths(batch: dict[str, list[Any]]) -> list[str]:
    """The dotted paths of the fields of the first record in ``batch``."""

    def walk(value: Any, prefix: str) -> list[str]:
        if isinstance(value, dict):
            return [p for key, inner in value.items() for p in walk(inner, f"{prefix}.{key}")]
        return [prefix]

    return [p for top, values in batch.items() for p in walk(values[0] if values else None, top)]
