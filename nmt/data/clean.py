"""Text normalisation for every split, and the filters that clean training pairs.

Training pairs are normalised and filtered (empty, too long, extreme length ratio, duplicates);
validation and test pairs are only normalised, so that their scores stay comparable with published ones.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable

from nmt.config import CleanConfig

logger = logging.getLogger(__name__)

Pair = tuple[str, str]
DROP_REASONS = ("empty", "too_long", "ratio", "duplicate")


def normalize(text: str) -> str:
    """Unicode NFC, without leading/trailing whitespace, each internal whitespace run one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def normalize_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    """Both sides of every pair normalised; nothing is dropped (for validation and test data)."""
    return [(normalize(src), normalize(tgt)) for src, tgt in pairs]


def clean_pairs(pairs: Iterable[Pair], cfg: CleanConfig) -> tuple[list[Pair], dict[str, int]]:
    """Normalise and filter training pairs, keeping their order.

    Returns the kept pairs and a report counting them (``kept``) and each reason to drop one
    (``empty``, ``too_long``, ``ratio``, ``duplicate``); the report is also logged.
    """
    # a plain copy: reading attributes of an OmegaConf node once per pair would be slow
    cfg = CleanConfig(cfg.max_words, cfg.max_ratio, cfg.ratio_min_words, cfg.dedupe)
    kept: list[Pair] = []
    seen: set[Pair] = set()
    report = dict.fromkeys(("kept", *DROP_REASONS), 0)
    for pair in normalize_pairs(pairs):
        reason = _drop_reason(pair, cfg)
        if reason is None and cfg.dedupe:
            reason = "duplicate" if pair in seen else None
            seen.add(pair)
        if reason is None:
            kept.append(pair)
        else:
            report[reason] += 1
    report["kept"] = len(kept)
    dropped = ", ".join(f"{reason} {report[reason]}" for reason in DROP_REASONS)
    logger.info("training pairs: kept %d of %d (dropped: %s)", len(kept), sum(report.values()), dropped)
    return kept, report


def _drop_reason(pair: Pair, cfg: CleanConfig) -> str | None:
    """Why a normalised pair should be dropped (before deduplication), or None to keep it."""
    src, tgt = pair
    if not src or not tgt:
        return "empty"
    longer, shorter = sorted((len(src.split(" ")), len(tgt.split(" "))), reverse=True)
    if longer > cfg.max_words:
        return "too_long"
    if longer >= cfg.ratio_min_words and longer / shorter > cfg.max_ratio:
        return "ratio"
    return None
