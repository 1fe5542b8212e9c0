"""Token-count batches bucketed by length, reshuffled every epoch from a seeded generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.vocab import BOS, EOS, PAD


@dataclass
class Batch:
    """Padded tensors for one batch; masks are True on real tokens.

    src (B, S) ids ending in EOS; tgt_in (B, T) = BOS + target; tgt_out (B, T) = target + EOS.
    """

    src: Tensor
    src_mask: Tensor
    tgt_in: Tensor
    tgt_out: Tensor

    @property
    def num_tokens(self) -> int:
        """Real target tokens (what the loss is averaged over)."""
        return int((self.tgt_out != PAD).sum())

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            *(t.to(device, non_blocking=True) for t in (self.src, self.src_mask, self.tgt_in, self.tgt_out))
        )


def pad(sequences: Sequence[Sequence[int]]) -> Tensor:
    """Right-pad id lists into (B, max_len) with PAD."""
    out = torch.full((len(sequences), max(map(len, sequences))), PAD, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def make_batch(src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]] | None = None) -> Batch:
    """Add EOS/BOS and pad. Without targets (translation), tgt_in/tgt_out are BOS-only/EOS-only."""
    src_ids = pad([[*s, EOS] for s in src])
    tgt = tgt if tgt is not None else [[] for _ in src]
    return Batch(src_ids, src_ids != PAD, pad([[BOS, *t] for t in tgt]), pad([[*t, EOS] for t in tgt]))


class TokenBatches:
    """Batches of pair indices whose padded size (B x (S + T)) stays within ``batch_tokens``.

    Each epoch: a seeded random permutation, a stable sort by length (so similar lengths share a
    batch and equal lengths mix differently every epoch), then the batches in a seeded random order.
    With ``world > 1`` every rank takes every ``world``-th batch of the same order (DDP sharding).
    """

    def __init__(
        self,
        src_lengths: Sequence[int],
        tgt_lengths: Sequence[int],
        batch_tokens: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.src_lengths = torch.as_tensor(src_lengths) + 1  # EOS
        self.tgt_lengths = torch.as_tensor(tgt_lengths) + 1  # BOS / EOS
        self.batch_tokens, self.seed, self.shuffle = batch_tokens, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        size = len(self.src_lengths)
        order = torch.randperm(size, generator=generator) if self.shuffle else torch.arange(size)
        order = order[torch.sort(self.tgt_lengths[order], stable=True).indices]
        order = order[torch.sort(self.src_lengths[order], stable=True).indices]
        batches: list[list[int]] = []
        current: list[int] = []
        max_src = max_tgt = 0
        for i, src_len, tgt_len in zip(
            order.tolist(), self.src_lengths[order].tolist(), self.tgt_lengths[order].tolist(), strict=True
        ):
            if (
                current
                and (len(current) + 1) * (max(max_src, src_len) + max(max_tgt, tgt_len)) > self.batch_tokens
            ):
                batches.append(current)
                current, max_src, max_tgt = [], 0, 0
            current.append(i)
            max_src, max_tgt = max(max_src, src_len), max(max_tgt, tgt_len)
        if current:
            batches.append(current)
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        usable = len(batches) // self.world * self.world or len(batches)
        return batches[self.rank : usable : self.world]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
