"""The Transformer: incremental decoding equals teacher forcing, padding is invisible, attention is sound."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nmt.config import TransformerConfig
from nmt.models import SpecialIds
from nmt.models.transformer import Transformer

PAD, VOCAB = 0, 50
SPECIALS = SpecialIds(pad=PAD, bos=1, eos=2)


def _model(pre_norm: bool = True, **overrides) -> Transformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(
        name="tiny",
        d_model=32,
        heads=2,
        enc_layers=2,
        dec_layers=2,
        ffn_dim=64,
        pre_norm=pre_norm,
        **overrides,
    )
    return Transformer(cfg, VOCAB, VOCAB, SPECIALS).eval()


def _batch():
    """Three sources of lengths 7, 3, 5 padded to 7, and targets (B, 6) starting with BOS (1)."""
    torch.manual_seed(1)
    lengths = torch.tensor([7, 3, 5])
    src_mask = torch.arange(7) < lengths[:, None]
    src = torch.randint(3, VOCAB, (3, 7)).masked_fill(~src_mask, PAD)
    tgt_in = torch.randint(3, VOCAB, (3, 6))
    tgt_in[:, 0] = 1
    return src, src_mask, tgt_in


@pytest.mark.parametrize("pre_norm", [True, False])
@pytest.mark.parametrize("align_head", [None, 1])
def test_incremental_decoding_equals_teacher_forcing(pre_norm: bool, align_head: int | None) -> None:
    model = _model(pre_norm, align_head=align_head, align_layer=0 if align_head else -1)
    src, src_mask, tgt_in = _batch()
    with torch.no_grad():
        logits, attention = model(src, src_mask, tgt_in, attention=True)
        state = model.init_state(model.encode(src, src_mask))
        for t in range(tgt_in.shape[1]):
            log_probs, step_attention, state = model.step(tgt_in[:, t], state)
            assert log_probs.dtype == torch.float32 and state["self_k0"].shape[2] == t + 1
            torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1), atol=1e-4, rtol=0)
            torch.testing.assert_close(step_attention, attention[:, t], atol=1e-4, rtol=0)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_incremental_decoding_after_reorder(pre_norm: bool) -> None:
    """Beam search reorders rows mid-sequence (dropping, permuting, duplicating): the cache follows."""
    model = _model(pre_norm)
    src, src_mask, tgt_in = _batch()
    index = torch.tensor([2, 0, 2, 1])
    with torch.no_grad():
        logits, attention = model(src[index], src_mask[index], tgt_in[index], attention=True)
        state = model.init_state(model.encode(src, src_mask))
        for t in range(3):
            _, _, state = model.step(tgt_in[:, t], state)
        state = model.reorder(state, index)
        for t in range(3, tgt_in.shape[1]):
            log_probs, step_attention, state = model.step(tgt_in[index, t], state)
            torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1), atol=1e-4, rtol=0)
            torch.testing.assert_close(step_attention, attention[:, t], atol=1e-4, rtol=0)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_extra_source_padding_changes_nothing(pre_norm: bool) -> None:
    model = _model(pre_norm)
    src, src_mask, tgt_in = _batch()
    with torch.no_grad():
        logits, attention = model(src, src_mask, tgt_in, attention=True)
        padded = F.pad(src, (0, 4), value=PAD)
        padded_logits, padded_attention = model(padded, padded != PAD, tgt_in, attention=True)
    torch.testing.assert_close(padded_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_attention[..., :7], attention, atol=1e-5, rtol=1e-5)
    assert (padded_attention[..., 7:] == 0).all()


def test_cross_attention_rows_are_distributions_over_real_tokens() -> None:
    model = _model()
    src, src_mask, tgt_in = _batch()
    with torch.no_grad():
        _, attention = model(src, src_mask, tgt_in, attention=True)
        every = model.attention_maps(src, src_mask, tgt_in)
    assert every.shape == (3, 2, 2, 6, 7)  # (B, L, H, T, S)
    torch.testing.assert_close(every.sum(-1), torch.ones(3, 2, 2, 6))
    assert (every.masked_select(~src_mask[:, None, None, None]) == 0).all()
    assert (every.masked_select(src_mask[:, None, None, None]) > 0).all()
    torch.testing.assert_close(every[:, -1].mean(1), attention)  # align_layer -1, mean over heads
    assert (attention.masked_select(~src_mask.unsqueeze(1)) == 0).all()
    one_head = _model(align_layer=0, align_head=1)
    with torch.no_grad():
        _, head_attention = one_head(src, src_mask, tgt_in, attention=True)
        torch.testing.assert_close(head_attention, one_head.attention_maps(src, src_mask, tgt_in)[:, 0, 1])


@pytest.mark.parametrize(("pre_norm", "shared"), [(True, True), (False, False)])
def test_gradients_reach_every_parameter(pre_norm: bool, shared: bool) -> None:
    model = _model(pre_norm, share_embeddings=shared, tie_embeddings=shared).train()
    src, src_mask, tgt_in = _batch()
    logits, _ = model(src, src_mask, tgt_in)
    F.cross_entropy(logits.flatten(0, 1), tgt_in.roll(-1, 1).flatten()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_fused_path_gives_the_same_logits() -> None:
    """Attention is asked for by an argument; without it every layer takes the fused path."""
    model = _model()
    src, src_mask, tgt_in = _batch()
    with torch.no_grad():
        logits, attention = model(src, src_mask, tgt_in, attention=True)
        fused_logits, no_attention = model(src, src_mask, tgt_in)
    assert attention is not None and no_attention is None
    torch.testing.assert_close(fused_logits, logits, atol=1e-5, rtol=1e-5)


def test_shared_and_tied_embeddings_are_one_parameter() -> None:
    model = _model(share_embeddings=True, tie_embeddings=True)
    assert model.src_embed.weight is model.tgt_embed.weight is model.generator.weight
    separate = _model(share_embeddings=False, tie_embeddings=False)
    assert separate.src_embed.weight is not separate.tgt_embed.weight
    assert separate.generator.weight is not separate.tgt_embed.weight
    assert separate.num_parameters() == model.num_parameters() + 2 * VOCAB * 32
    cfg = TransformerConfig(name="tiny", d_model=32, heads=2, share_embeddings=True)
    with pytest.raises(ValueError, match="share_embeddings"):
        Transformer(cfg, VOCAB, VOCAB + 1, SPECIALS)


def test_bf16_autocast_on_cpu() -> None:
    model = _model()
    src, src_mask, tgt_in = _batch()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, attention = model(src, src_mask, tgt_in, attention=True)
        state = model.init_state(model.encode(src, src_mask))
        _, _, state = model.step(tgt_in[:, 0], state)
        log_probs, step_attention, state = model.step(tgt_in[:, 1], state)
    assert logits.shape == (3, 6, VOCAB) and attention.shape == (3, 6, 7)
    assert log_probs.dtype == torch.float32 and torch.isfinite(log_probs).all()
    torch.testing.assert_close(step_attention.float().sum(-1), torch.ones(3))
    torch.testing.assert_close(log_probs, logits[:, 1].float().log_softmax(-1), atol=0.1, rtol=0)


def test_full_context_alignment_sees_the_whole_target_but_not_its_padding() -> None:
    """Garg et al. (2019): the alignment row of a target position depends on later target tokens,
    padding stays invisible, and the logits are the causal model's."""
    head = {"align_layer": 0, "align_head": 1}
    causal, full = _model(**head), _model(**head, full_context_alignment=True)
    src, src_mask, tgt_in = _batch()
    later = tgt_in.clone()
    later[:, -1] = (later[:, -1] + 1 - 3) % (VOCAB - 3) + 3  # another last token, never a special
    with torch.no_grad():
        logits, attention = full(src, src_mask, tgt_in, attention=True)
        causal_logits, causal_attention = causal(src, src_mask, tgt_in, attention=True)
        _, later_attention = full(src, src_mask, later, attention=True)
        _, later_causal = causal(src, src_mask, later, attention=True)
        padded = F.pad(tgt_in, (0, 3), value=PAD)
        padded_logits, padded_attention = full(src, src_mask, padded, attention=True)
        maps = full.attention_maps(src, src_mask, tgt_in)
    torch.testing.assert_close(logits, causal_logits)
    torch.testing.assert_close(later_causal[:, :-1], causal_attention[:, :-1])
    assert not torch.allclose(later_attention[:, 0], attention[:, 0])  # the first row saw the last token
    torch.testing.assert_close(padded_attention[:, :6], attention, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_logits[:, :6], logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 6))
    torch.testing.assert_close(maps[:, 0, 1], attention)
    assert causal.alignment_may_lag and not full.alignment_may_lag  # its row t has seen word t: no shift
