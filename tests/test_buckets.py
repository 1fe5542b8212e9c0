"""Batches of few, aligned shapes: lengths padded to multiples of 8, one (S, T) bucket per batch."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MODEL_CONFIGS, tiny_model_config
from helpers import TINY_RUN, assert_clean_error, nmt
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from nmt.data.batching import TokenBatches, batch_shape, make_batch, pad_share
from nmt.data.pipeline import EncodedPairs
from nmt.data.vocab import PAD
from nmt.models import build_model
from nmt.training.step import training_loss

BUDGET = 2000


@pytest.fixture(scope="module")
def corpus(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EncodedPairs:
    """All 29,000 Multi30k en-de training pairs, encoded with a small sentencepiece model trained on
    the first 2,000 of them."""
    from nmt.config import SubwordConfig
    from nmt.data.vocab import Vocab, train_vocab

    with (
        gzip.open(data_dir / "multi30k/train.en.gz", "rt") as en,
        gzip.open(data_dir / "multi30k/train.de.gz", "rt") as de,
    ):
        pairs = [(s.strip(), t.strip()) for s, t in zip(en, de, strict=True)]
    path = tmp_path_factory.mktemp("spm") / "spm.model"
    train_vocab([side for pair in pairs[:2000] for side in pair], path, SubwordConfig(vocab_size=1000))
    vocab = Vocab(path)
    return EncodedPairs.encode(pairs, vocab, vocab)


def lengths_of(corpus: EncodedPairs) -> tuple[np.ndarray, np.ndarray]:
    return np.array([len(s) for s in corpus.src]), np.array([len(t) for t in corpus.tgt])


def buckets(src: np.ndarray, tgt: np.ndarray, multiple: int) -> set[tuple[int, int]]:
    """The (S, T) buckets the pairs fall in: lengths with EOS / BOS, rounded up."""
    rounded = (-(-(src + 1) // multiple) * multiple, -(-(tgt + 1) // multiple) * multiple)
    return set(zip(*(r.tolist() for r in rounded), strict=True))


@pytest.mark.parametrize("world", [1, 2])
def test_an_epoch_of_real_batches_takes_few_aligned_shapes_within_the_budget(corpus, world: int) -> None:
    """Bound: two shapes per occupied (S, T) bucket (full batches and the bucket's last), plus the one
    batch of pooled left-overs every rank gets under DDP."""
    src, tgt = lengths_of(corpus)
    shards = [
        TokenBatches(src, tgt, BUDGET, seed=3, rank=r, world=world, pad_to_multiple=8) for r in range(world)
    ]
    shapes, seen = set(), []
    for shard in shards:
        shard.set_epoch(1)
        for indices in shard.batches():
            batch = corpus.batch(indices).padded_to(8)
            rows, s, t = batch.src.shape[0], batch.src.shape[1], batch.tgt_in.shape[1]
            assert s % 8 == 0 and t % 8 == 0
            assert (rows, s, t) == batch_shape(src, tgt, indices, 8)
            assert rows * (s + t) <= BUDGET
            shapes.add((rows, s, t))
            seen.append(indices)
    occupied = buckets(src, tgt, 8)
    assert len(shapes) <= 2 * len(occupied) + (world > 1)
    assert len(shapes) * 5 < len(
        seen
    )  # one rank: 63 buckets, 93 shapes in 850 batches (553 in 732 unrounded)
    every = np.concatenate(seen)
    assert len(every) == len(src) and np.array_equal(np.sort(every), np.arange(len(src)))


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)), min_size=1, max_size=300),
    budget=st.integers(1, 600),
    multiple=st.sampled_from([1, 2, 8, 16]),
    seed=st.integers(0, 5),
)
def test_every_pair_once_in_aligned_batches_that_keep_the_budget(pairs, budget, multiple, seed) -> None:
    src, tgt = (np.array(side) for side in zip(*pairs, strict=True))
    batches = TokenBatches(src, tgt, budget, seed=seed, pad_to_multiple=multiple).batches()
    every = np.concatenate(batches)
    assert np.array_equal(np.sort(every), np.arange(len(src)))  # none lost, none twice
    shapes = [batch_shape(src, tgt, b, multiple) for b in batches]
    for rows, s, t in shapes:
        assert s % multiple == 0 and t % multiple == 0
        assert rows * (s + t) <= budget or rows == 1  # a pair over the budget: a batch of its own
    if multiple > 1:
        assert len(set(shapes)) <= 2 * len(buckets(src, tgt, multiple))


def test_a_pair_longer_than_any_bucket_keeps_its_own_rounded_shape() -> None:
    src, tgt = np.array([3, 4, 300, 5]), np.array([3, 3, 250, 4])
    batches = TokenBatches(src, tgt, 100, shuffle=False, pad_to_multiple=8).batches()
    long = next(b for b in batches if 2 in b)
    assert long.tolist() == [2] and batch_shape(src, tgt, long, 8) == (1, 304, 256)
    batch = make_batch([[5] * 300], [[6] * 250]).padded_to(8)
    assert batch.src.shape == (1, 304) and batch.tgt_out.shape == (1, 256)
    assert batch.src_mask.sum() == 301 and batch.num_tokens == 251


def test_the_pad_share_of_a_hand_checked_batch() -> None:
    """Lengths 3 and 5 (+ EOS: 4, 6), targets 2 and 2 (+ BOS/EOS: 3, 3): 16 real tokens.
    Padded to the longest pair: 2 x (6 + 3) = 18, so 2/18 pad; to multiples of 8: 2 x (8 + 8) = 32, half."""
    src, tgt, batches = np.array([3, 5]), np.array([2, 2]), [np.array([0, 1])]
    assert pad_share(src, tgt, batches) == pytest.approx(2 / 18)
    assert pad_share(src, tgt, batches, 8) == pytest.approx(0.5)
    padded = make_batch([[7] * 3, [7] * 5], [[7] * 2, [7] * 2]).padded_to(8)
    real = int(padded.src_mask.sum() + (padded.tgt_in != PAD).sum())  # BOS is real, so tgt_in counts it
    assert 1 - real / (padded.src.numel() + padded.tgt_in.numel()) == pytest.approx(0.5)
    assert pad_share(src, tgt, []) == 0.0


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_padding_to_a_multiple_leaves_the_training_loss_unchanged(real_pairs, name: str) -> None:
    """The whole objective (label-smoothed cross-entropy plus the model's own terms, e.g. coverage)."""
    vocab, src, tgt = real_pairs
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), len(vocab), len(vocab), PAD).eval()
    batch = make_batch(src[:16], tgt[:16])
    padded = batch.padded_to(8)
    assert padded.src.shape[1] % 8 == 0 and padded.src.shape[1] > batch.src.shape[1]
    tc = OmegaConf.create({"label_smoothing": 0.1, "alignment_weight": 0.0})
    with torch.no_grad():
        expected = training_loss(model, batch, None, tc)
        torch.testing.assert_close(training_loss(model, padded, None, tc), expected, atol=1e-4, rtol=1e-5)


@pytest.mark.slow
def test_training_logs_the_padding_share_once(tmp_path: Path) -> None:
    nmt("train", *TINY_RUN, f"run_dir={tmp_path / 'run'}", "trainer.pad_to_multiple=8")
    lines = [line for line in (tmp_path / "run" / "train.log").read_text().splitlines() if "padding:" in line]
    assert len(lines) == 1 and "multiples of 8" in lines[0] and "batch shapes" in lines[0]


def test_a_pad_multiple_below_one_is_refused_by_name(tmp_path: Path) -> None:
    result = nmt("train", *TINY_RUN, f"run_dir={tmp_path}", "trainer.pad_to_multiple=0", check=False)
    assert_clean_error(result, "trainer.pad_to_multiple=0")
