"""Token-budget batches from length arrays: budget, coverage across ranks, determinism."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from nmt.data.batching import TokenBatches


@pytest.fixture(scope="module")
def lengths(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Word counts of the real Multi30k en-de training pairs (29,000), as stand-ins for subword counts."""

    def words(path: Path) -> np.ndarray:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            return np.array([len(line.split()) for line in lines])

    return words(data_dir / "multi30k/train.en.gz"), words(data_dir / "multi30k/train.de.gz")


def padded_size(batch: np.ndarray, src: np.ndarray, tgt: np.ndarray) -> int:
    """B x (S + T) of a batch, with EOS on the source and BOS/EOS on the target."""
    return len(batch) * (int(src[batch].max()) + 1 + int(tgt[batch].max()) + 1)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_every_pair_once_per_epoch_across_ranks_within_the_budget(lengths, world: int) -> None:
    src, tgt = lengths
    for epoch in (0, 1):
        shards = []
        for rank in range(world):
            batches = TokenBatches(src, tgt, 1000, seed=7, rank=rank, world=world)
            batches.set_epoch(epoch)
            shards.append(batches.batches())
        assert len({len(shard) for shard in shards}) == 1  # DDP: every rank takes as many steps
        every = np.concatenate([b for shard in shards for b in shard])
        assert len(every) == len(src) and np.array_equal(np.sort(every), np.arange(len(src)))
        assert max(padded_size(b, src, tgt) for shard in shards for b in shard) <= 1000


def test_batches_are_full_and_group_similar_lengths(lengths) -> None:
    src, tgt = lengths
    batches = TokenBatches(src, tgt, 2000, seed=1).batches()
    sizes = [padded_size(b, src, tgt) for b in batches]
    assert np.mean(sizes) > 0.9 * 2000  # greedy packing wastes little of the budget
    spread = np.mean([src[b].max() - src[b].min() for b in batches])
    assert spread <= 1  # sorted by source length: a batch spans at most a step of it


def test_the_order_depends_only_on_seed_and_epoch(lengths) -> None:
    src, tgt = lengths

    def order(seed: int, epoch: int) -> list[list[int]]:
        batches = TokenBatches(src, tgt, 1500, seed=seed, rank=1, world=2)
        batches.set_epoch(epoch)
        return [b.tolist() for b in batches]

    assert order(3, 0) == order(3, 0)
    assert order(3, 0) != order(3, 1)
    assert order(3, 0) != order(4, 0)


def test_batches_are_computed_once_per_epoch(lengths) -> None:
    batches = TokenBatches(*lengths, 1500, seed=0)
    first = batches.batches()
    assert batches.batches() is first and len(batches) == len(first)
    batches.set_epoch(1)
    assert batches.batches() is not first


def test_a_pair_over_the_budget_gets_a_batch_of_its_own() -> None:
    batches = TokenBatches([3, 500, 4, 5], [3, 400, 4, 5], 100, shuffle=False).batches()
    assert sorted(b.tolist() for b in batches) == [[0, 2, 3], [1]]


def test_without_shuffle_batches_follow_the_length_order() -> None:
    src = np.array([5, 1, 3, 1, 5, 3])
    batches = TokenBatches(src, src, 8, shuffle=False).batches()  # a pair of n words costs 2 (n + 1)
    assert [b.tolist() for b in batches] == [[1, 3], [2], [5], [0], [4]]
