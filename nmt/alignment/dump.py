"""Alignments on disk: JSON lines (one object per sentence) and NPZ archives for batches.

Both formats hold the same ``AlignmentRecord`` fields. JSON rounds weights to ``DIGITS`` decimals
(error <= 5e-5); NPZ stores them as float32 and every token list as a numpy unicode array, so
``numpy.load(path, allow_pickle=False)`` reads it. Tokens round-trip exactly in both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from nmt.alignment.words import word_alignment
from nmt.errors import NmtError
from nmt.outputs import atomic_write
from nmt.translate import Translation

DIGITS = 4
_TEXT = ("source", "translation")
_NUMBERS = ("score", "log_prob")
_TOKENS = ("src_tokens", "tgt_tokens", "src_words", "tgt_words")
_MATRICES = {"attention": ("tgt_tokens", "src_tokens"), "word_attention": ("tgt_words", "src_words")}


@dataclass
class AlignmentRecord:
    """One translated sentence with its subword and word attention (rows = target, columns = source)."""

    source: str
    translation: str
    score: float
    log_prob: float
    src_tokens: list[str]  # source pieces + "</s>"
    tgt_tokens: list[str]  # target pieces + "</s>"
    attention: np.ndarray  # float32 (len(tgt_tokens), len(src_tokens))
    src_words: list[str]
    tgt_words: list[str]
    word_attention: np.ndarray  # float32 (len(tgt_words), len(src_words)), see nmt.alignment.words


def record(translation: Translation, *, clitics: bool = True, punctuation: bool = True) -> AlignmentRecord:
    """A translation with its word table (``word_alignment`` with the same options)."""
    words = word_alignment(translation, clitics=clitics, punctuation=punctuation)
    return AlignmentRecord(
        source=translation.source,
        translation=translation.text,
        score=float(translation.score),
        log_prob=float(translation.log_prob),
        src_tokens=list(translation.src_tokens),
        tgt_tokens=list(translation.tgt_tokens),
        attention=translation.attention.detach().to("cpu").float().numpy(),
        src_words=words.src_words,
        tgt_words=words.tgt_words,
        word_attention=words.matrix.astype(np.float32),
    )


def to_json_record(rec: AlignmentRecord) -> dict:
    """A JSON-ready dict of ``rec``: matrices as nested lists (rows = target) rounded to DIGITS decimals."""
    out: dict = {name: getattr(rec, name) for name in (*_TEXT, *_NUMBERS, *_TOKENS)}
    for name in _MATRICES:
        out[name] = np.round(getattr(rec, name).astype(np.float64), DIGITS).tolist()
    return out


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Every character ``str.splitlines()`` breaks a line on."""
_ESCAPES = str.maketrans({c: f"\\u{ord(c):04x}" for c in LINE_BREAKS})


def write_jsonl(records: Iterable[AlignmentRecord], path: str | Path) -> None:
    """One JSON object per line (UTF-8, non-ASCII kept as is, except every character that
    ``str.splitlines()`` breaks on, escaped, so that readers splitting on any line break still see
    one record a line)."""
    with atomic_write(Path(path)) as out:
        for rec in records:
            out.write(json.dumps(to_json_record(rec), ensure_ascii=False).translate(_ESCAPES) + "\n")


def read_jsonl(path: str | Path) -> list[AlignmentRecord]:
    """The records of a ``write_jsonl`` file; a malformed line raises NmtError naming file:line."""
    records = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                records.append(_from_fields(json.loads(line).__getitem__))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise NmtError(f"{path}:{number}: not an alignment record ({e!r})") from None
    return records


def write_npz(records: Iterable[AlignmentRecord], path: str | Path) -> None:
    """All records in one uncompressed NPZ: key "count", and "{i}/{field}" for record i (0-based).

    Text is a 0-d unicode array, score and log_prob 0-d float64, token lists 1-d unicode arrays,
    matrices float32 (rows = target).
    """
    records = list(records)
    arrays = {"count": np.array(len(records))}
    for i, rec in enumerate(records):
        for field in fields(AlignmentRecord):
            value = getattr(rec, field.name)
            if field.name in _MATRICES:
                arrays[f"{i}/{field.name}"] = np.asarray(value, dtype=np.float32)
            elif field.name in _NUMBERS:
                arrays[f"{i}/{field.name}"] = np.array(value, dtype=np.float64)
            else:
                arrays[f"{i}/{field.name}"] = np.array(value, dtype=np.str_)
    with atomic_write(Path(path), "wb") as out:
        np.savez(out, **arrays)


def read_npz(path: str | Path) -> list[AlignmentRecord]:
    """The records of a ``write_npz`` file, read without pickle."""
    with np.load(path, allow_pickle=False) as archive:
        try:
            return [
                _from_fields(lambda name, i=i: archive[f"{i}/{name}"]) for i in range(int(archive["count"]))
            ]
        except (KeyError, ValueError) as e:
            raise NmtError(f"{path}: not an alignment archive ({e})") from None


def _from_fields(get: Callable[[str], Any]) -> AlignmentRecord:
    """A record from ``get(field name)`` (JSON values or NPZ arrays); matrices take their token counts."""
    values = {name: str(get(name)) for name in _TEXT}
    values |= {name: float(get(name)) for name in _NUMBERS}
    values |= {name: [str(token) for token in get(name)] for name in _TOKENS}
    for name, (rows, cols) in _MATRICES.items():
        shape = (len(values[rows]), len(values[cols]))
        values[name] = np.asarray(get(name), dtype=np.float32).reshape(shape)
    return AlignmentRecord(**values)
