"""Attention of given sentence pairs under teacher forcing (no search): the input to AER, and the
alignment ``nmt align`` shows of the translation it chose.

Every model gives a (layers, heads) grid of cross-attention maps; an RNN has one layer and one head.
Row t of a map is the attention of the step that predicts target piece t (the last row: EOS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from nmt.data.batching import make_batch
from nmt.rundir import Run

IdPairs = Sequence[tuple[Sequence[int], Sequence[int]]]
Read = Callable[[Tensor, Tensor, Tensor], Tensor]  # (src, src_mask, tgt_in) -> maps (B, ..., T+1, S+1)


@torch.inference_mode()
def _teacher_forced(run: Run, pairs: IdPairs, read: Read, batch_size: int) -> list[Tensor]:
    """``read`` on batches of id pairs (no EOS/BOS) -> each pair's own maps (..., len(tgt) + 1,
    len(src) + 1), on the CPU."""
    device, matrices = next(run.model.parameters()).device, []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = make_batch([src for src, _ in chunk], [tgt for _, tgt in chunk]).to(device)
        maps = read(batch.src, batch.src_mask, batch.tgt_in).float().cpu()
        matrices += [maps[i, ..., : len(tgt) + 1, : len(src) + 1] for i, (src, tgt) in enumerate(chunk)]
    return matrices


def forced_attention(
    run: Run, sources: Sequence[str], targets: Sequence[str], batch_size: int = 32
) -> list[tuple[list[str], list[str], Tensor]]:
    """For each pair: source pieces + "</s>", target pieces + "</s>", maps (L, H, T+1, S+1) on the CPU."""
    pairs = list(zip(run.src_vocab.encode(sources), run.tgt_vocab.encode(targets), strict=True))
    maps = _teacher_forced(run, pairs, run.model.attention_maps, batch_size)
    return [
        ([*run.src_vocab.pieces(src), "</s>"], [*run.tgt_vocab.pieces(tgt), "</s>"], pair_maps)
        for (src, tgt), pair_maps in zip(pairs, maps, strict=True)
    ]


def piece_ids(
    run: Run, translations: Sequence[tuple[Sequence[str], Sequence[str]]]
) -> list[tuple[list[int], list[int]]]:
    """Pairs given as their pieces + "</s>" on each side (``Translation.src_tokens``, ``tgt_tokens``)
    -> their ids without "</s>"."""
    src_id, tgt_id = run.src_vocab.sp.piece_to_id, run.tgt_vocab.sp.piece_to_id
    return [([src_id(p) for p in src[:-1]], [tgt_id(p) for p in tgt[:-1]]) for src, tgt in translations]


def translation_attention(
    run: Run, translations: Sequence[tuple[Sequence[str], Sequence[str]]], batch_size: int = 32
) -> list[Tensor]:
    """The model's alignment map (the one translations carry, ``forward(..., attention=True)``) of
    translations given as their pieces + "</s>", under teacher forcing: (len(tgt_tokens),
    len(src_tokens)) each. For a left-to-right map it equals the attention the search carried; a
    Transformer with ``model.full_context_alignment`` gives its full-context map."""

    def alignment_map(src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        return run.model(src, src_mask, tgt_in, attention=True)[1]

    return _teacher_forced(run, piece_ids(run, translations), alignment_map, batch_size)
