"""AER of a trained run against gold word alignments, for every attention map the model has.

RNNs have one map. For a Transformer every decoder layer is scored with its heads averaged and
with each head alone, both as read and shifted one step later (Chen et al. 2020: the attention
of the step that consumes target word t, rather than the one that predicts it).
"""

from __future__ import annotations

from collections.abc import Sequence

from nmt.alignment.aer import (
    Links,
    aer,
    diagonal_alignment,
    hard_alignment,
    merge_to_words,
    shift_attention,
)
from nmt.alignment.force import forced_attention
from nmt.rundir import Run


def aer_grid(
    run: Run,
    sources: Sequence[str],
    targets: Sequence[str],
    gold: Sequence[tuple[Links, Links]],
    method: str = "argmax",
    threshold: float = 0.5,
) -> list[dict]:
    """One row per (layer, head or "mean", shifted): its AER over the whitespace-tokenized pairs."""
    forced = forced_attention(run, sources, targets)
    layers, heads = forced[0][2].shape[:2]
    rows = []
    for layer in range(layers):
        for head in ["mean", *range(heads)] if heads > 1 else ["mean"]:
            for shifted in (False, True) if run.model.alignment_may_lag else (False,):
                predicted = []
                for (src_pieces, tgt_pieces, maps), src, tgt in zip(forced, sources, targets, strict=True):
                    matrix = maps[layer].mean(0) if head == "mean" else maps[layer, head]
                    if shifted:
                        matrix, tgt_pieces = shift_attention(matrix), tgt_pieces[:-1]
                    words = merge_to_words(matrix, src_pieces, tgt_pieces, src.split(), tgt.split())
                    predicted.append(hard_alignment(words, method, threshold))
                rows.append({"layer": layer, "head": head, "shifted": shifted, "aer": aer(predicted, gold)})
    return rows


def configured_map(run: Run) -> tuple[int, int | str]:
    """The (layer, head) of the attention that translations carry and `nmt align` shows: a
    Transformer's align_layer and align_head ("mean" for the mean of the heads); (0, "mean") for an RNN."""
    layer, head = run.model.alignment_map
    one_head = run.model.attention_grid[1] == 1  # its only head is the mean, as aer_grid lists it
    return layer, "mean" if head is None or one_head else head


def diagonal_aer(
    sources: Sequence[str], targets: Sequence[str], gold: Sequence[tuple[Links, Links]]
) -> float:
    """AER of ``diagonal_alignment`` on the whitespace-tokenized pairs: what attention has to beat."""
    predicted = [
        diagonal_alignment(len(s.split()), len(t.split())) for s, t in zip(sources, targets, strict=True)
    ]
    return aer(predicted, gold)
