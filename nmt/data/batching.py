"""Token-count batches bucketed by length, reshuffled every epoch from a seeded generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
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

    def padded_to(self, multiple: int) -> Batch:
        """The same batch with S and T padded up to multiples of ``multiple`` (PAD, mask False, no link)."""
        grow_s, grow_t = -self.src.shape[1] % multiple, -self.tgt_in.shape[1] % multiple
        if not grow_s and not grow_t:
            return self
        return Batch(
            F.pad(self.src, (0, grow_s), value=PAD),
            F.pad(self.src_mask, (0, grow_s), value=False),
            F.pad(self.tgt_in, (0, grow_t), value=PAD),
            F.pad(self.tgt_out, (0, grow_t), value=PAD),
            None if self.links is None else F.pad(self.links, (0, grow_s, 0, grow_t)),
        )

    def pin_memory(self) -> Batch:
        """The same batch in page-locked host memory, so that ``to(cuda)`` copies asynchronously."""
        links = None if self.links is None else self.links.pin_memory()
        return Batch(*(t.pin_memory() for t in (self.src, self.src_mask, self.tgt_in, self.tgt_out)), links)

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
    order, then the batches in a seeded random order; all with NumPy on the length arrays.
    With ``pad_to_multiple`` m > 1, S and T are rounded up to multiples of m (``Batch.padded_to``) and
    a batch never mixes two (S, T) buckets: a bucket's batches all have ``batch_tokens // (S + T)``
    rows but its last, so an epoch has at most two shapes per bucket (torch.compile compiles each once,
    tensor cores get aligned sizes). A pair over the budget still gets a batch (of one) of its own. With
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
        pad_to_multiple: int = 1,
    ) -> None:
        self.multiple = pad_to_multiple
        self.src_lengths = _compact(_round_up(np.asarray(src_lengths) + 1, pad_to_multiple))  # EOS
        self.tgt_lengths = _compact(_round_up(np.asarray(tgt_lengths) + 1, pad_to_multiple))  # BOS / EOS
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
        src, tgt = self.src_lengths[order], self.tgt_lengths[order]
        batches = np.split(order, self._cuts(src, tgt, self._bucket_ends(src, tgt)))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _bucket_ends(self, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """(N,) where the run of equal (src, tgt) holding each pair ends in the sorted corpus; every
        entry N when buckets are off (m = 1: batches may span lengths)."""
        if self.multiple == 1:
            return np.full(len(src), len(src))
        change = np.flatnonzero((src[1:] != src[:-1]) | (tgt[1:] != tgt[:-1])) + 1
        ends = np.append(change, len(src))
        return np.repeat(ends, np.diff(np.concatenate([[0], ends])))

    def _cuts(self, src: np.ndarray, tgt: np.ndarray, ends: np.ndarray) -> list[int]:
        """Where batches start (after the first) in a corpus sorted by source length.

        A batch starting at ``i`` holds at most ``batch_tokens // (src[i] + tgt[i])`` pairs (a longer
        one costs more) and ends by ``ends[i]``, so each cut is found in a window of that many pairs:
        within it, the padded size of the first ``k`` pairs is ``k * (src[i + k - 1] + running max of
        tgt)``.
        """
        src, tgt = src.astype(np.int64), tgt.astype(np.int64)
        cuts, start, size = [], 0, len(src)
        while start < size:
            window = min(int(ends[start]) - start, self.batch_tokens // int(src[start] + tgt[start]) + 1)
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


def batch_shape(
    src_lengths: np.ndarray, tgt_lengths: np.ndarray, indices: np.ndarray, multiple: int = 1
) -> tuple[int, int, int]:
    """(B, S, T) of the batch of ``indices`` into the (N,) id counts ``src_lengths``/``tgt_lengths``
    (without EOS/BOS), padded as ``make_batch`` and ``Batch.padded_to(multiple)`` pad it."""
    src, tgt = (int(np.max(lengths[indices])) + 1 for lengths in (src_lengths, tgt_lengths))
    return len(indices), int(_round_up(src, multiple)), int(_round_up(tgt, multiple))


def pad_share(
    src_lengths: np.ndarray, tgt_lengths: np.ndarray, batches: Sequence[np.ndarray], multiple: int = 1
) -> float:
    """The share of PAD among the B x (S + T) tokens of ``batches`` (``batch_shape``'s arguments)."""
    real = padded = 0
    for indices in batches:
        rows, src, tgt = batch_shape(src_lengths, tgt_lengths, indices, multiple)
        ids = sum(int(np.sum(lengths[indices], dtype=np.int64)) for lengths in (src_lengths, tgt_lengths))
        real += ids + 2 * rows  # + EOS, BOS / EOS
        padded += rows * (src + tgt)
    return 1 - real / padded if padded else 0.0


def _round_up(lengths: np.ndarray, multiple: int) -> np.ndarray:
    """``lengths`` rounded up to multiples of ``multiple``."""
    return -(-lengths // multiple) * multiple


def _compact(lengths: np.ndarray) -> np.ndarray:
    """``lengths`` as uint16 when they fit (NumPy's stable sort is then a fast radix sort)."""
    return lengths.astype(np.uint16 if len(lengths) == 0 or lengths.max() < 1 << 16 else np.int64)
