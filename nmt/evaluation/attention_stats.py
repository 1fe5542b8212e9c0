"""How a run attends, in four numbers: entropy, sparsity, peak weight and distance from the diagonal.

Computed on the attention of given sentence pairs under teacher forcing (``nmt.alignment.force``):
in ``nmt compare``, each test source with the run's own translation, so the rows are the
attention its translations carry. Every cross-attention map counts (an RNN has one; a Transformer
one per layer and head, each a distribution of its own), every row of a map (target pieces and
EOS) over the real source positions (pieces and EOS):

    entropy      -sum_j a_j ln a_j, in nats (0 ln 0 = 0), averaged over rows: ln S for uniform rows
    zeros        the share of the weights that are exactly 0 (sparsemax, entmax, local, hard attention)
    max_weight   the largest weight of a row, averaged over rows (1 for one-hot rows)
    diagonal     |(j* + 1/2) / S - (i + 1/2) / T| for the argmax j* of row i of a T x S map, averaged:
                 how far the most attended position strays from the diagonal, as a share of the source
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nmt.alignment.force import forced_attention
from nmt.rundir import Run

STATISTICS = ("entropy", "zeros", "max_weight", "diagonal")


@dataclass(frozen=True)
class AttentionStatistics:
    entropy: float
    zeros: float
    max_weight: float
    diagonal: float


def map_statistics(maps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-row sums of each statistic for maps (..., T, S) of one sentence (rows summing to 1), with
    the row count under "rows" and the weight count under "weights"."""
    rows, cols = maps.shape[-2:]
    entropy = -torch.xlogy(maps, maps).sum(-1)
    target = (torch.arange(rows, dtype=maps.dtype) + 0.5) / rows
    source = (maps.argmax(-1).to(maps.dtype) + 0.5) / cols
    return {
        "entropy": entropy.sum(),
        "zeros": (maps == 0).sum().to(maps.dtype),
        "max_weight": maps.amax(-1).sum(),
        "diagonal": (source - target).abs().sum(),
        "rows": torch.tensor(float(maps[..., 0].numel())),
        "weights": torch.tensor(float(maps.numel())),
    }


def attention_statistics(run: Run, sources: Sequence[str], targets: Sequence[str]) -> AttentionStatistics:
    """The four statistics of ``run``'s attention over the pairs (see the module docstring)."""
    totals: dict[str, float] = {}
    for _, _, maps in forced_attention(run, sources, targets):
        for key, value in map_statistics(maps.double()).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    per_row = {key: totals[key] / totals["rows"] for key in ("entropy", "max_weight", "diagonal")}
    return AttentionStatistics(zeros=totals["zeros"] / totals["weights"], **per_row)
