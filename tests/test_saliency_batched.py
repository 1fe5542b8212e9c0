"""Batched saliency (one teacher-forced forward pass per (sentence, draw), one backward pass per target
position) gives the matrices of one forward and backward pass per target word, given the same noise;
passes group pairs of similar lengths."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_model_config
from hypothesis import given
from hypothesis import strategies as st

from nmt.alignment.saliency import (
    PADDING,
    TOKENS_PER_PASS,
    _passes,
    saliency_matrices,
    saliency_matrices_per_word,
)
from nmt.data.vocab import PAD
from nmt.models import build_model

TOLERANCE = 1e-5  # max abs difference of fp32 matrices (entries in [0, 1])
PAIRS = [  # different lengths on both sides, so batches pad
    ([5, 6, 7, 8, 9, 10], [11, 12, 13, 14]),
    ([20, 21], [22, 23, 24, 25, 26, 27, 28]),
    ([30, 31, 32, 33], [34]),
]


@pytest.mark.parametrize("name", ["rnn_bahdanau_lexical", "rnn_luong_dot", "transformer"])
def test_batched_saliency_equals_one_word_at_a_time(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()
    batched = saliency_matrices(model, PAIRS, samples=3, generator=torch.Generator().manual_seed(7))
    per_word = saliency_matrices_per_word(model, PAIRS, samples=3, generator=torch.Generator().manual_seed(7))
    for fast, slow, (src, tgt) in zip(batched, per_word, PAIRS, strict=True):
        assert fast.shape == slow.shape == (len(tgt) + 1, len(src) + 1)
        assert (fast - slow).abs().max() <= TOLERANCE
    assert not torch.allclose(batched[0], torch.full_like(batched[0], 1 / 7))  # real gradients


def test_a_pair_s_saliency_does_not_depend_on_the_pairs_batched_with_it() -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config("transformer"), 40, 40, PAD).eval()
    together = saliency_matrices(model, PAIRS, samples=2, generator=torch.Generator().manual_seed(1))
    alone = saliency_matrices(model, PAIRS[:1], samples=2, generator=torch.Generator().manual_seed(1))
    assert (together[0] - alone[0]).abs().max() <= TOLERANCE


@given(st.lists(st.tuples(st.integers(1, 300), st.integers(1, 60)), max_size=40))
def test_passes_take_every_pair_once_by_length_within_the_padding_and_token_bounds(
    pairs: list[tuple[int, int]],
) -> None:
    rows, steps = [count for count, _ in pairs], [length for _, length in pairs]
    passes = _passes(rows, steps)
    assert sorted(i for chunk in passes for i in chunk) == list(range(len(pairs)))
    order = [steps[i] for chunk in passes for i in chunk]
    assert order == sorted(order)  # similar lengths together
    for chunk in passes:
        if len(chunk) > 1:  # a pair alone may exceed them
            padded = sum(rows[i] for i in chunk) * max(steps[i] for i in chunk)
            assert padded <= min(TOKENS_PER_PASS, PADDING * sum(rows[i] * steps[i] for i in chunk))
