"""Every member of the attention family, with every normaliser: weights are distributions that
ignore padding; sparse ones can be exactly 0, local ones stay in their window, hard ones are one-hot."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from nmt.models.attention import SCORES, build_attention
from nmt.models.multihead import MultiHeadAttention, RelativeMultiHeadAttention
from nmt.models.normalizers import Normalizer, build_normalizer
from nmt.schema import NORMALIZERS

DIM, HEADS = 8, 2
MECHANISMS: dict[str, Callable[[Normalizer], torch.nn.Module]] = {
    **{kind: (lambda n, kind=kind: build_attention(kind, DIM, DIM, 5, n)) for kind in SCORES},
    "local_m": lambda n: build_attention("general", DIM, DIM, 5, n, span="local_m", window=1),
    "local_p": lambda n: build_attention("dot", DIM, DIM, 5, n, span="local_p", window=2),
    "coverage": lambda n: build_attention("additive", DIM, DIM, 5, n, coverage=True, coverage_loss=1.0),
    "multihead": lambda n: MultiHeadAttention(DIM, HEADS, normalizer=n),
    "relative": lambda n: RelativeMultiHeadAttention(DIM, HEADS, normalizer=n, max_distance=2),
}
SPARSE = ("sparsemax", "entmax15", "entmax_bisect")


def _build(mechanism: str, normalizer: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return MECHANISMS[mechanism](build_normalizer(normalizer, alpha=1.3)).eval()


def _inputs(dim: int = DIM, batch: int = 3, tq: int = 4, src: int = 6):
    torch.manual_seed(0)
    query, keys = torch.randn(batch, tq, dim), torch.randn(batch, src, dim)
    lengths = torch.tensor([src, 4, 1])
    mask = (torch.arange(src) < lengths[:, None]).unsqueeze(1)  # (B, 1, S)
    return query, keys, mask


def _flat(weights: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head weights (B, H, Tq, S) -> (B * H, Tq, S) so all members are checked alike, with the mask."""
    heads = weights.shape[1] if weights.dim() == 4 else 1
    flat = weights.flatten(0, 1) if weights.dim() == 4 else weights
    return flat, mask.repeat_interleave(heads, 0).expand(-1, flat.shape[1], -1)


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_weights_sum_to_one_and_are_zero_on_padding(mechanism: str, normalizer: str) -> None:
    query, keys, mask = _inputs()
    context, weights = _build(mechanism, normalizer)(query, keys, keys, mask)
    assert context.shape == (3, 4, 8)
    flat, flat_mask = _flat(weights, mask)
    torch.testing.assert_close(flat.sum(-1), torch.ones(flat.shape[:2]))
    assert (flat[~flat_mask] == 0).all() and (flat >= 0).all()
    if normalizer == "softmax" and not mechanism.startswith("local"):
        assert (flat[flat_mask] > 0).all()
    if normalizer == "hard":
        assert ((flat == 0) | (flat == 1)).all()


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("mechanism", [m for m in MECHANISMS if m != "relative"])
def test_extra_padding_changes_nothing(mechanism: str, normalizer: str) -> None:
    """(Relative positions count from the queries' end of the keys, as in self-attention, where
    padding lengthens both: the Transformer tests cover them.)"""
    query, keys, mask = _inputs()
    attention = _build(mechanism, normalizer)
    context, weights = attention(query, keys, keys, mask)
    padded_keys = torch.cat([keys, torch.randn(3, 5, 8)], 1)
    padded_mask = torch.cat([mask, torch.zeros(3, 1, 5, dtype=torch.bool)], -1)
    padded_context, padded_weights = attention(query, padded_keys, padded_keys, padded_mask)
    torch.testing.assert_close(padded_context, context)
    torch.testing.assert_close(padded_weights[..., :6], weights)


@pytest.mark.parametrize("normalizer", SPARSE)
@pytest.mark.parametrize("mechanism", ["additive", "dot", "general", "multihead", "relative"])
def test_sparse_normalizers_give_exact_zeros_to_real_positions(mechanism: str, normalizer: str) -> None:
    query, keys, mask = _inputs()
    attention = _build(mechanism, normalizer)
    with torch.no_grad():  # scores spread wide enough for a sparse mapping to cut some off
        for param in attention.parameters():
            param.mul_(4)
    _, weights = attention(2 * query, 2 * keys, 2 * keys, mask)
    flat, flat_mask = _flat(weights, mask)
    assert (flat[flat_mask] == 0).any() and (flat[flat_mask] > 0).any()


def test_entmax_bisect_spans_softmax_to_sparsemax() -> None:
    scores, mask = torch.randn(5, 7) * 3, torch.ones(5, 7, dtype=torch.bool)
    near_softmax = build_normalizer("entmax_bisect", alpha=1.001)(scores, mask)
    torch.testing.assert_close(near_softmax, scores.softmax(-1), atol=2e-3, rtol=0)
    as_sparsemax = build_normalizer("entmax_bisect", alpha=2.0)(scores, mask)
    torch.testing.assert_close(as_sparsemax, build_normalizer("sparsemax")(scores, mask), atol=1e-4, rtol=0)


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("mechanism", ["local_m", "local_p"])
def test_local_attention_is_zero_outside_its_window(mechanism: str, normalizer: str) -> None:
    query, keys, mask = _inputs()
    attention = _build(mechanism, normalizer)
    span = attention.span
    history = attention.start(mask)
    for _ in range(3):  # a few decoder steps, one query each
        step_query = query[:, :1]
        _, weights = attention(step_query, keys, keys, mask, history=history)
        centre = span.position(step_query, mask, history)  # (B, 1)
        distance = (torch.arange(6) - centre.unsqueeze(-1)).abs()  # (B, 1, S)
        assert (weights[distance > span.window] == 0).all()
        assert (weights[distance <= span.window].sum() > 0).all()
        assert ((centre >= 0) & (centre <= mask.sum(-1) - 1)).all()
        history = attention.advance(history, weights)


def test_local_m_follows_the_target_position() -> None:
    query, keys, mask = _inputs()
    attention = _build("local_m", "softmax")
    history = attention.start(mask)
    for t in range(4):
        centre = attention.span.position(query[:, :1], mask, history)
        torch.testing.assert_close(centre, torch.tensor([[t], [min(t, 3)], [0]], dtype=torch.float))
        _, weights = attention(query[:, :1], keys, keys, mask, history=history)
        history = attention.advance(history, weights)


@pytest.mark.parametrize("mechanism", ["additive", "general", "multihead"])
def test_hard_attention_is_one_hot_argmax_at_inference_and_trains_through_gumbel(mechanism: str) -> None:
    query, keys, mask = _inputs()
    hard, soft = _build(mechanism, "hard"), _build(mechanism, "softmax")  # same seed: same parameters
    _, weights = hard(query, keys, keys, mask)
    _, soft_weights = soft(query, keys, keys, mask)
    flat, _ = _flat(weights, mask)
    assert ((flat == 0) | (flat == 1)).all() and (flat.sum(-1) == 1).all()
    torch.testing.assert_close(weights, torch.nn.functional.one_hot(soft_weights.argmax(-1), 6).float())
    hard.train()
    query.requires_grad_(True)
    context, weights = hard(query, keys, keys, mask)
    flat, flat_mask = _flat(weights, mask)
    torch.testing.assert_close(flat.sum(-1), torch.ones(flat.shape[:2]))
    assert (flat[~flat_mask] == 0).all() and torch.isclose(flat, torch.ones(())).sum() == flat.shape[0] * 4
    context.square().sum().backward()
    assert query.grad is not None and query.grad.abs().sum() > 0  # straight through to the scores


def test_coverage_sums_past_weights_and_penalises_attending_again() -> None:
    query, keys, mask = _inputs()
    attention = _build("coverage", "softmax")
    history, total, penalties = attention.start(mask), torch.zeros(3, 6), []
    for t in range(3):
        _, weights = attention(query[:, t : t + 1], keys, keys, mask, history=history)
        expected = torch.minimum(weights.squeeze(1), total).sum(-1)
        penalties.append(attention.penalty(history, weights))
        torch.testing.assert_close(penalties[-1], expected)
        history, total = attention.advance(history, weights), total + weights.squeeze(1)
        torch.testing.assert_close(history["coverage"], total)
    assert (penalties[0] == 0).all() and (penalties[2] > 0).all()
    assert (history["coverage"][~mask.squeeze(1)] == 0).all()


def test_none_is_the_mean_of_the_encoder_states_whatever_the_query() -> None:
    query, keys, mask = _inputs()
    context, _ = build_attention("none", 8, 8, 8)(query, keys, keys, mask)
    real = mask.squeeze(1).unsqueeze(-1).float()
    mean = (keys * real).sum(1) / real.sum(1)
    torch.testing.assert_close(context, mean.unsqueeze(1).expand(-1, 4, -1))


def test_dot_scores_are_inner_products() -> None:
    query, keys, mask = _inputs()
    _, weights = build_attention("dot", 8, 8, 8)(query, keys, keys, mask)
    expected = torch.softmax((query @ keys.transpose(1, 2)).masked_fill(~mask, float("-inf")), -1)
    torch.testing.assert_close(weights, expected)


@pytest.mark.parametrize(
    ("mechanism", "normalizer"), [("multihead", n) for n in NORMALIZERS] + [("relative", "softmax")]
)
def test_multihead_fused_path_only_where_exact_and_then_matches_the_explicit_one(
    mechanism: str, normalizer: str
) -> None:
    query, keys, mask = _inputs()
    attention = _build(mechanism, normalizer)
    assert attention.fused == (mechanism == "multihead" and normalizer == "softmax")
    explicit, _ = attention(query, keys, keys, mask, need_weights=True)
    fused, weights = attention(query, keys, keys, mask, need_weights=False)
    assert weights is None
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_relative_positions_are_clipped_distances_from_the_last_queries() -> None:
    attention = _build("relative", "softmax")
    distances = attention.distances(2, 5, torch.device("cpu")) - attention.max_distance  # queries at 3, 4
    assert distances.tolist() == [[-2, -2, -1, 0, 1], [-2, -2, -2, -1, 0]]
    plain = MultiHeadAttention(DIM, HEADS)
    plain.load_state_dict(attention.state_dict(), strict=False)
    with torch.no_grad():
        attention.rel_keys.weight.zero_()
        attention.rel_values.weight.zero_()
    query, keys, mask = _inputs()
    torch.testing.assert_close(attention(query, keys, keys, mask)[0], plain(query, keys, keys, mask)[0])
