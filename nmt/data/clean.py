"""Text normalisation for every split, and the filters that clean training pairs.

Training pairs are normalised and filtered (empty, too long, extreme length ratio, duplicates);
validation and test pairs are only normalised, so that their scores stay comparable with published ones.
``clean_batch`` does the per-pair work on a batch of a `datasets` corpus (in worker processes);
duplicates are then removed across the whole corpus from the keys it returns (``nmt.data.prepared_text``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from typing import Any

from nmt.config import CleanConfig

Pair = tuple[str, str]
DROP_REASONS = ("empty", "too_long", "ratio", "duplicate")
KEEP = -1  # the reason code of a pair that passes every per-pair filter


def normalize(text: str) -> str:
    """Unicode NFC, without leading/trailing whitespace, each internal whitespace run one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def normalize_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    """Both sides of every pair normalised; nothing is dropped (for validation and test data)."""
    return [(normalize(src), normalize(tgt)) for src, tgt in pairs]


def drop_reason(src: str, tgt: str, cfg: CleanConfig) -> str | None:
    """Why a normalised pair should be dropped (before deduplication), or None to keep it."""
    if not src or not tgt:
        return "empty"
    longer, shorter = sorted((len(src.split(" ")), len(tgt.split(" "))), reverse=True)
    if longer > cfg.max_words:
        return "too_long"
    if longer >= cfg.ratio_min_words and longer / shorter > cfg.max_ratio:
        return "ratio"
    return None


def clean_batch(batch: dict[str, list[str]], clean: dict[str, Any]) -> dict[str, list[Any]]:
    """Normalise a batch of pairs (columns ``src``, ``tgt``) and say what to do with each.

    ``clean`` holds the fields of a CleanConfig. Adds ``reason``, the index in DROP_REASONS of why
    the pair is dropped or KEEP, and ``key``, a 64-bit hash of the normalised pair (for deduplication).
    """
    cfg = CleanConfig(**clean)
    src = [normalize(s) for s in batch["src"]]
    tgt = [normalize(t) for t in batch["tgt"]]
    reasons = [drop_reason(s, t, cfg) for s, t in zip(src, tgt, strict=True)]
    return {
        "src": src,
        "tgt": tgt,
        "reason": [KEEP if r is None else DROP_REASONS.index(r) for r in reasons],
        "key": [pair_key(s, t) for s, t in zip(src, tgt, strict=True)],
    }


def pair_key(src: str, tgt: str) -> int:
    """A stable signed 64-bit hash of a pair (two pairs share it only when equal, but for chance)."""
    digest = hashlib.blake2b(f"{src}\t{tgt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
