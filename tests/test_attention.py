"""Every member of the attention family: weights are distributions that ignore padding."""

from __future__ import annotations

import pytest
import torch

from nmt.models.attention import ATTENTION_TYPES, build_attention


def _inputs(dim: int = 8, batch: int = 3, tq: int = 4, src: int = 6):
    torch.manual_seed(0)
    query, keys = torch.randn(batch, tq, dim), torch.randn(batch, src, dim)
    lengths = torch.tensor([src, 4, 1])
    mask = (torch.arange(src) < lengths[:, None]).unsqueeze(1)  # (B, 1, S)
    return query, keys, mask


def _weights(weights: torch.Tensor) -> torch.Tensor:
    """Per-head weights (B, H, Tq, S) -> (B * H, Tq, S) so all members are checked alike."""
    return weights.flatten(0, 1) if weights.dim() == 4 else weights


@pytest.mark.parametrize("kind", ATTENTION_TYPES)
def test_weights_sum_to_one_and_are_zero_on_padding(kind: str) -> None:
    query, keys, mask = _inputs()
    attention = build_attention(kind, 8, 8, attn_dim=5, heads=2).eval()
    context, weights = attention(query, keys, keys, mask)
    assert context.shape == (3, 4, 8)
    heads = 2 if kind == "multihead" else 1
    flat, flat_mask = _weights(weights), mask.repeat_interleave(heads, 0).expand(-1, 4, -1)
    torch.testing.assert_close(flat.sum(-1), torch.ones(3 * heads, 4))
    assert (flat[~flat_mask] == 0).all()
    assert (flat[flat_mask] > 0).all()


@pytest.mark.parametrize("kind", ATTENTION_TYPES)
def test_extra_padding_changes_nothing(kind: str) -> None:
    query, keys, mask = _inputs()
    attention = build_attention(kind, 8, 8, attn_dim=5, heads=2).eval()
    context, weights = attention(query, keys, keys, mask)
    padded_keys = torch.cat([keys, torch.randn(3, 5, 8)], 1)
    padded_mask = torch.cat([mask, torch.zeros(3, 1, 5, dtype=torch.bool)], -1)
    padded_context, padded_weights = attention(query, padded_keys, padded_keys, padded_mask)
    torch.testing.assert_close(padded_context, context)
    torch.testing.assert_close(padded_weights[..., :6], weights)


def test_none_is_the_mean_of_the_encoder_states_whatever_the_query() -> None:
    query, keys, mask = _inputs()
    context, _ = build_attention("none", 8, 8)(query, keys, keys, mask)
    real = mask.squeeze(1).unsqueeze(-1).float()
    mean = (keys * real).sum(1) / real.sum(1)
    torch.testing.assert_close(context, mean.unsqueeze(1).expand(-1, 4, -1))


def test_dot_scores_are_inner_products() -> None:
    query, keys, mask = _inputs()
    _, weights = build_attention("dot", 8, 8)(query, keys, keys, mask)
    expected = torch.softmax((query @ keys.transpose(1, 2)).masked_fill(~mask, float("-inf")), -1)
    torch.testing.assert_close(weights, expected)


def test_multihead_fused_path_matches_the_explicit_one() -> None:
    query, keys, mask = _inputs()
    attention = build_attention("multihead", 8, 8, heads=2).eval()
    explicit, _ = attention(query, keys, keys, mask, need_weights=True)
    fused, weights = attention(query, keys, keys, mask, need_weights=False)
    assert weights is None
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
