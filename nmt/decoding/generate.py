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
    chunks = batches_of(order, [len(ids) + 1 for ids in src_ids], config)
    results: list[list[Hypothesis]] = [[] for _ in src_ids]
    long_input = progress and len(chunks) > 1
    with tqdm(
        total=len(order), unit="sent", desc="translating", file=sys.stderr, disable=not long_input
    ) as bar:
        for chunk in chunks:
            batch = make_batch([src_ids[i] for i in chunk]).to(device)
            forced = None if prefixes is None else [prefixes[i] for i in chunk]
            found = search(model, batch.src, batch.src_mask, config, prefixes=forced)
            for i, hyps in zip(chunk, found, strict=True):
                results[i] = hyps
            bar.update(len(chunk))
    return results


def batches_of(order: Sequence[int], lengths: Sequence[int], config: DecodeConfig) -> list[list[int]]:
    """``order`` (indices sorted by ascending length) cut into consecutive batches: ``config.batch_size``
    sentences each, or with ``config.batch_tokens`` set, as many as keep the padded size (sentences x
    the longest of ``lengths``) within it; a sentence longer than that gets a batch of its own."""
    if config.batch_tokens is None:
        return [
            list(order[start : start + config.batch_size])
            for start in range(0, len(order), config.batch_size)
        ]
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= config.batch_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
