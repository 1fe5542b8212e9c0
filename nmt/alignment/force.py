"""Attention of given sentence pairs under teacher forcing (no search): the input to AER, and the
alignment ``nmt align`` shows of the translation it chose.

Every model gives a (layers, heads) grid of cross-attention maps; an RNN has one layer and one head.
Row t of a map is the attention of the step that predicts target piece t (the last row: EOS).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from nmt.data.batching import make_batch
from nmt.rundir import Run


@torch.inference_mode()
def forced_attention(
    run: Run, sources: Sequence[str], targets: Sequence[str], batch_size: int = 32
) -> list[tuple[list[str], list[str], Tensor]]:
    """For each pair: source pieces + "</s>", target pieces + "</s>", maps (L, H, T+1, S+1) on the CPU."""
    src_ids, tgt_ids = run.src_vocab.encode(sources), run.tgt_vocab.encode(targets)
    device = next(run.model.parameters()).device
    results = []
    for start in range(0, len(src_ids), batch_size):
        src_chunk, tgt_chunk = src_ids[start : start + batch_size], tgt_ids[start : start + batch_size]
        batch = make_batch(src_chunk, tgt_chunk).to(device)
        maps = run.model.attention_maps(batch.src, batch.src_mask, batch.tgt_in).float().cpu()
        for i, (src, tgt) in enumerate(zip(src_chunk, tgt_chunk, strict=True)):
            results.append(
                (
                    [*run.src_vocab.pieces(src), "</s>"],
                    [*run.tgt_vocab.pieces(tgt), "</s>"],
                    maps[i, :, :, : len(tgt) + 1, : len(src) + 1],
                )
            )
    return results


def piece_ids(
    run: Run, translations: Sequence[tuple[Sequence[str], Sequence[str]]]
) -> list[tuple[list[int], list[int]]]:
    """Pairs given as their pieces + "</s>" on each side (``Translation.src_tokens``, ``tgt_tokens``)
    -> their ids without "</s>"."""
    src_id, tgt_id = run.src_vocab.sp.piece_to_id, run.tgt_vocab.sp.piece_to_id
    return [([src_id(p) for p in src[:-1]], [tgt_id(p) for p in tgt[:-1]]) for src, tgt in translations]


@torch.inference_mode()
def translation_attention(
    run: Run, translations: Sequence[tuple[Sequence[str], Sequence[str]]], batch_size: int = 32
) -> list[Tensor]:
    """The model's alignment map (the one translations carry, ``forward(..., attention=True)``) of
    translations given as their pieces + "</s>", under teacher forcing: (len(tgt_tokens),
    len(src_tokens)) each. For a left-to-right map it equals the attention the search carried; a
    Transformer with ``model.full_context_alignment`` gives its full-context map."""
    pairs, device = piece_ids(run, translations), next(run.model.parameters()).device
    matrices = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = make_batch([src for src, _ in chunk], [tgt for _, tgt in chunk]).to(device)
        _, maps = run.model(batch.src, batch.src_mask, batch.tgt_in, attention=True)
        matrices += [
            maps[i, : len(tgt) + 1, : len(src) + 1].float().cpu() for i, (src, tgt) in enumerate(chunk)
        ]
    return matrices
