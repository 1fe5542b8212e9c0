"""Supervised attention (Liu et al. 2016; Garg et al. 2019): a loss that pulls the attention that
translations carry toward a statistical aligner's links (``nmt.data.links``).

For every target step with a label, the loss is the cross-entropy of the attention row toward the
label row minus the label's own entropy, i.e. KL(label || attention):

    sum over labelled steps t of  sum_s  l_ts (log l_ts - log a_ts)

It has the cross-entropy's gradient with respect to the attention, and it is exactly 0 when the
attention equals the labels (the cross-entropy alone would bottom out at the labels' entropy). Like
the translation loss it is summed, not averaged, so ``trainer.alignment_weight`` weighs one
labelled step against one target token.
"""

from __future__ import annotations

import torch
from torch import Tensor

TINY = 1e-12  # attention never reaches 0 on a real token; the floor keeps the log finite in fp32


def alignment_loss(attention: Tensor, labels: Tensor) -> Tensor:
    """attention (B, T, S), rows summing to 1 over the real source tokens; labels (B, T, S), rows
    summing to 1 or all 0 (no label: no loss). Returns the summed KL divergence (a scalar)."""
    attention, labels = attention.float(), labels.float()
    return (torch.xlogy(labels, labels) - labels * attention.clamp_min(TINY).log()).sum()
