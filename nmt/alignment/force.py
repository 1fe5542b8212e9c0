"""Attention of given sentence pairs under teacher forcing (no search): the input to AER.

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
