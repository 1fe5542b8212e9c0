"""Decode many sentences: batches of similar length through ``search``, results in input order."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tqdm.auto import tqdm

from nmt.data.batching import make_batch
from nmt.decoding.config import DecodeConfig
from nmt.decoding.search import Hypothesis, search
from nmt.models import EncoderDecoder


def generate(
    model: EncoderDecoder,
    src_ids: Sequence[Sequence[int]],
    config: DecodeConfig | None = None,
    *,
    prefixes: Sequence[Sequence[int]] | None = None,
    progress: bool = False,
) -> list[list[Hypothesis]]:
    """Search every id sequence (without EOS) with ``config``, ``config.batch_size`` sentences of
    similar length at a time; n-best lists in input order. ``prefixes``: target ids forced at the
    start of each output. ``progress``: a progress bar (sentences/s, ETA) on stderr when the input
    takes more than one batch."""
    config = config or DecodeConfig()
    device = next(model.parameters()).device
    order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
    results: list[list[Hypothesis]] = [[] for _ in src_ids]
    long_input = progress and len(order) > config.batch_size
    with tqdm(
        total=len(order), unit="sent", desc="translating", file=sys.stderr, disable=not long_input
    ) as bar:
        for start in range(0, len(order), config.batch_size):
            chunk = order[start : start + config.batch_size]
            batch = make_batch([src_ids[i] for i in chunk]).to(device)
            forced = None if prefixes is None else [prefixes[i] for i in chunk]
            found = search(model, batch.src, batch.src_mask, config, prefixes=forced)
            for i, hyps in zip(chunk, found, strict=True):
                results[i] = hyps
            bar.update(len(chunk))
    return results
