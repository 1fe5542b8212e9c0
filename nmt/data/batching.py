"""Token-count batches bucketed by length, reshuffled every epoch from a seeded generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nmt.data.vocab import BOS, EOS, PAD


@dataclass
class Batch:
    """Padded tensors for one batch; masks are True on real tokens.

    src (B, S) ids ending in EOS; tgt_in (B, T) = BOS + target; tgt_out (B, T) = target + EOS;
    links (B, T, S), only for supervised attention: the attention target of every step (rows summing
    to 1, or all 0 where there is no label; ``nmt.data.links``).
    """

    src: Tensor
    src_mask: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    links: Tensor | None = None

    @property
    def num_tokens(self) -> int:
        """Real target tokens (what the loss is averaged over)."""
        return int((self.tgt_out != PAD).sum())

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            *(t.to(device, non_blocking=True) for t in (self.src, self.src_mask, self.tgt_in, self.tgt_out)),
            None if self.links is None else self.links.to(device, non_blocking=True),
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

    Each epoch: a seeded random permutation, a stable sort by source then target length (so similar
    lengths share a batch and equal lengths mix differently every epoch), batches cut greedily in that
    order, then the batches in a seeded random order; all with NumPy on the length arrays. With
    ``world > 1`` every rank takes every ``world``-th batch of the same order (DDP sharding); the
    batches left over when their number is not a multiple of ``world`` are pooled and split into one
    smaller batch per rank, so every rank has as many batches and every pair is used once per epoch
    (unless fewer pairs are left over than there are ranks: those wait for the next epoch).
    The order depends only on (seed, epoch, rank, world); ``batches()`` computes it once per epoch.
    """

    def __init__(
        self,
        src_lengths: Sequence[int] | np.ndarray,
        tgt_lengths: Sequence[int] | np.ndarray,
        batch_tokens: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.src_lengths = _compact(np.asarray(src_lengths) + 1)  # EOS
        self.tgt_lengths = _compact(np.asarray(tgt_lengths) + 1)  # BOS / EOS
        self.batch_tokens, self.seed, self.shuffle = batch_tokens, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch = 0
        self._cached: tuple[int, list[np.ndarray]] | None = None  # (epoch, this rank's batches)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[np.ndarray]:
        """This rank's batches of the current epoch, in training order (arrays of pair indices)."""
        if self._cached is None or self._cached[0] != self.epoch:
            self._cached = (self.epoch, self._shard(self._all_batches()))
        return self._cached[1]

    def _all_batches(self) -> list[np.ndarray]:
        rng = np.random.default_rng((self.seed, self.epoch))
        size = len(self.src_lengths)
        order = rng.permutation(size) if self.shuffle else np.arange(size)
        for lengths in (self.tgt_lengths, self.src_lengths):  # stable: sorted by source, then target
            order = order[np.argsort(lengths[order], kind="stable")]
        batches = np.split(order, self._cuts(self.src_lengths[order], self.tgt_lengths[order]))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _cuts(self, src: np.ndarray, tgt: np.ndarray) -> list[int]:
        """Where batches start (after the first) in a corpus sorted by source length.

        A batch starting at ``i`` holds at most ``batch_tokens // (src[i] + tgt[i])`` pairs (a longer
        one costs more), so each cut is found in a window of that many pairs: within it, the padded
        size of the first ``k`` pairs is ``k * (src[i + k - 1] + running max of tgt)``.
        """
        src, tgt = src.astype(np.int64), tgt.astype(np.int64)
        cuts, start, size = [], 0, len(src)
        while start < size:
            window = min(size - start, self.batch_tokens // int(src[start] + tgt[start]) + 1)
            padded = np.arange(1, window + 1) * (
                src[start : start + window] + np.maximum.accumulate(tgt[start : start + window])
            )
            count = max(int(np.searchsorted(padded, self.batch_tokens, side="right")), 1)
            start += count
            cuts.append(start)
        return cuts[:-1]

    def _shard(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """This rank's share: every ``world``-th batch, then one piece of the pooled left-overs."""
        if self.world == 1:
            return batches
        usable = len(batches) // self.world * self.world
        mine = batches[self.rank : usable : self.world]
        left = np.concatenate([np.empty(0, dtype=np.int64), *batches[usable:]])
        if len(left) >= self.world:
            mine.append(np.array_split(left, self.world)[self.rank])
        return mine

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())


def _compact(lengths: np.ndarray) -> np.ndarray:
    """``lengths`` as uint16 when they fit (NumPy's stable sort is then a fast radix sort)."""
    return lengths.astype(np.uint16 if len(lengths) == 0 or lengths.max() < 1 << 16 else np.int64)
