"""Fewer, larger kernels: the stacked q/k/v projection computes the same function as three separate
ones and loads checkpoints written with three; the loss on bf16 logits is the label-smoothed
cross-entropy."""

from __future__ import annotations

import copy
import random
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

from nmt.config import TransformerConfig
from nmt.data.prefetch import prefetch
from nmt.data.vocab import PAD
from nmt.decoding.config import DecodeConfig
from nmt.decoding.generate import batches_of
from nmt.models import SpecialIds
from nmt.models.multihead import MultiHeadAttention
from nmt.models.transformer import Transformer
from nmt.training.step import smoothed_cross_entropy

VOCAB = 50
SPECIALS = SpecialIds(pad=PAD, bos=1, eos=2)


def _model(seed: int, **overrides: object) -> Transformer:
    torch.manual_seed(seed)
    cfg = TransformerConfig(
        name="tiny", d_model=32, heads=2, enc_layers=2, dec_layers=2, ffn_dim=64, **overrides
    )
    return Transformer(cfg, VOCAB, VOCAB, SPECIALS).eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sources of lengths 7, 3, 5 padded to 7 and targets (3, 6) starting with BOS."""
    torch.manual_seed(1)
    src_mask = torch.arange(7) < torch.tensor([7, 3, 5])[:, None]
    src = torch.randint(3, VOCAB, (3, 7)).masked_fill(~src_mask, PAD)
    tgt_in = torch.randint(3, VOCAB, (3, 6))
    tgt_in[:, 0] = 1
    return src, src_mask, tgt_in


def _old_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as checkpoints held it before the fused projection: separate q/k/v."""
    old = {}
    for key, value in state.items():
        if ".in_proj." in key:
            for name, part in zip("qkv", value.chunk(3), strict=True):
                old[key.replace(".in_proj.", f".{name}_proj.")] = part.clone()
        else:
            old[key] = value
    return old


def test_an_old_checkpoint_with_separate_projections_loads_and_computes_the_same() -> None:
    for overrides in ({}, {"max_relative_position": 2}):
        trained, fresh = _model(0, **overrides), _model(1, **overrides)
        old = _old_layout(trained.state_dict())
        assert not any(".in_proj." in key for key in old) and any(".q_proj." in key for key in old)
        fresh.load_state_dict(old)  # strict: no key missing, none left over
        src, src_mask, tgt_in = _batch()
        with torch.no_grad():
            expected, alignment = trained(src, src_mask, tgt_in, attention=True)
            logits, loaded_alignment = fresh(src, src_mask, tgt_in, attention=True)
        torch.testing.assert_close(logits, expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(loaded_alignment, alignment, atol=1e-6, rtol=0)


def test_the_stacked_projection_is_the_three_separate_ones() -> None:
    """Self-attention's one product equals q, k, v projected one at a time, and cross-attention's
    keys and values of one tensor equal those of two."""
    attention = _model(0).decoder[0].self_attn
    x = torch.randn(3, 5, 32)
    with torch.no_grad():
        stacked = attention.project_self(x)
        separate = [attention.split(F.linear(x, *attention.rows(i, i + 1))) for i in range(3)]
        for ours, theirs in zip(stacked, separate, strict=True):
            torch.testing.assert_close(ours, theirs)
        torch.testing.assert_close(attention.prepare(x, x), attention.prepare(x, x.clone()))


def test_weights_are_initialised_per_projection() -> None:
    """Each of q, k, v is Xavier-uniform for a (D, D) matrix, not for the stacked (3D, D) one."""
    weight = _model(0).encoder[0].self_attn.in_proj.weight
    bound = (6 / (32 + 32)) ** 0.5
    assert weight.abs().max() <= bound and weight.abs().max() > (6 / (32 + 96)) ** 0.5


@settings(max_examples=25, deadline=None)
@given(
    tokens=st.integers(1, 12),
    vocab=st.integers(3, 40),
    smoothing=st.sampled_from([0.0, 0.1, 0.3]),
    seed=st.integers(0, 1000),
)
def test_the_loss_is_label_smoothed_cross_entropy(
    tokens: int, vocab: int, smoothing: float, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(tokens, vocab, generator=generator) * 3
    targets = torch.randint(0, vocab, (tokens,), generator=generator)  # PAD (0) among them, ignored
    expected = F.cross_entropy(logits, targets, ignore_index=PAD, label_smoothing=smoothing, reduction="sum")
    torch.testing.assert_close(smoothed_cross_entropy(logits, targets, smoothing), expected)


def test_the_loss_on_bf16_logits_accumulates_in_fp32() -> None:
    """bf16 logits of a large vocabulary: within 0.05% of the fp32 loss (F.cross_entropy on the
    bf16 tensor is about 0.2% off), with gradients of the same values."""
    torch.manual_seed(0)
    logits = torch.randn(512, 8000).bfloat16().requires_grad_()
    targets = torch.randint(0, 8000, (512,))
    expected = F.cross_entropy(
        logits.float(), targets, ignore_index=PAD, label_smoothing=0.1, reduction="sum"
    )
    loss = smoothed_cross_entropy(logits, targets, 0.1)
    assert loss.dtype == torch.float32
    assert abs(loss.item() - expected.item()) < 5e-4 * expected.item()
    (gradient,) = torch.autograd.grad(loss, logits)
    (reference,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(gradient.float(), reference.float(), atol=2e-3, rtol=0)


# --------------------------------------------------------------------------- prefetching
@settings(max_examples=30, deadline=None)
@given(items=st.lists(st.integers(0, 100), max_size=12), depth=st.integers(1, 4), seed=st.integers(0, 99))
def test_prefetch_yields_every_item_made_in_order(items: list[int], depth: int, seed: int) -> None:
    """However long each item takes to make, they come back in the order they went in."""
    delays = random.Random(seed)

    def make(item: int) -> int:
        time.sleep(delays.random() / 2000)
        return 2 * item

    assert list(prefetch(items, make, depth)) == [2 * item for item in items]


def test_prefetch_makes_the_next_item_while_the_current_one_is_used() -> None:
    started = [threading.Event() for _ in range(3)]

    def make(item: int) -> int:
        started[item].set()
        return item

    ready = prefetch(range(3), make, depth=1)
    assert next(ready) == 0
    assert started[1].wait(5), "the second item was not being made while the first was in use"
    assert list(ready) == [1, 2]


def test_prefetch_raises_where_the_failed_item_would_come_and_stops_early_cleanly() -> None:
    made: list[int] = []

    def make(item: int) -> int:
        if item == 2:
            raise ValueError("item 2")
        made.append(item)
        return item

    ready = prefetch(range(10), make, depth=2)
    assert [next(ready), next(ready)] == [0, 1]
    with pytest.raises(ValueError, match="item 2"):
        next(ready)
    early = prefetch(range(100), make, depth=3)
    assert next(early) == 0
    early.close()  # what the training loop does when the budget is spent mid-epoch
    assert len(made) < 20, "closing did not stop the prefetch thread"


# --------------------------------------------------------------------------- decoding --batch-tokens
@settings(max_examples=50, deadline=None)
@given(lengths=st.lists(st.integers(1, 60), max_size=40), budget=st.integers(1, 200))
def test_token_batches_cover_the_sorted_input_once_within_the_budget(lengths: list[int], budget: int) -> None:
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches = batches_of(order, lengths, DecodeConfig(batch_tokens=budget))
    assert [i for batch in batches for i in batch] == order
    for batch, after in zip(batches, [*batches[1:], None], strict=False):
        size = len(batch) * max(lengths[i] for i in batch)
        assert size <= budget or len(batch) == 1
        if after:  # cut only where the next sentence would not have fitted
            assert (len(batch) + 1) * lengths[after[0]] > budget


def test_translate_with_batch_tokens_keeps_every_line_in_input_order(
    tiny_run: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    lines = ["A dog runs.", "", "Two men sit on a bench in the park near a big old tree.", "A cat.", "Hi."]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n")
    common = ["translate", str(tiny_run), "--input", str(source), "--device", "cpu", "--beam", "2"]
    status, by_sentences, err = run_cli(capsys, *common)
    assert status == 0, err
    for budget in ("1", "12", "10000"):
        status, by_tokens, err = run_cli(capsys, *common, "--batch-tokens", budget)
        assert status == 0, err
        assert by_tokens == by_sentences and len(by_tokens.splitlines()) == len(lines)


@pytest.mark.parametrize("value", ["0", "-5"])
def test_batch_tokens_below_one_is_refused_naming_the_option(
    tiny_run: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    status, out, err = run_cli(capsys, "translate", str(tiny_run), "A dog.", "--batch-tokens", value)
    assert status == 1 and out == "" and "Traceback" not in err
    assert f"--batch-tokens {value}: must be a whole number in [1, " in err


# --------------------------------------------------------------------------- bench.py --ablate
def test_each_ablation_undoes_its_change_and_computes_the_same() -> None:
    """``scripts/bench_kernels.py``: the separate projections and the fp32-copy loss are the same
    functions as the stacked projection and the bf16-friendly loss; the ablation leaves the model
    it was given alone, and the op counter counts the ops of the extra products."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from bench_kernels import CHANGES, aten_ops, fp32_copy_loss, separate_projections

    model, (src, src_mask, tgt_in) = _model(0), _batch()
    separate = separate_projections(copy.deepcopy(model))
    assert all(
        type(m).__name__ == "SeparateProjections"
        for m in separate.modules()
        if isinstance(m, MultiHeadAttention)
    )
    assert not any(type(m).__name__ == "SeparateProjections" for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(separate(src, src_mask, tgt_in)[0], model(src, src_mask, tgt_in)[0])
        ops = [aten_ops(lambda _, m=m: m(src, src_mask, tgt_in), None) for m in (model, separate)]
    assert 0 < ops[0] < ops[1]
    logits, targets = torch.randn(20, 30), torch.randint(0, 30, (20,))
    torch.testing.assert_close(
        fp32_copy_loss(logits, targets, 0.1), smoothed_cross_entropy(logits, targets, 0.1)
    )
    assert set(CHANGES) == {"stacked_qkv", "bf16_loss"}
