"""Every model config: incremental decoding equals teacher forcing, padding is invisible, it learns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import MODEL_CONFIGS, tiny_model_config

from nmt.data.batching import make_batch
from nmt.data.vocab import PAD
from nmt.decoding import DecodeConfig, length_penalty, search
from nmt.models import build_model


def _random_batch(vocab: int = 40, batch: int = 3):
    torch.manual_seed(1)
    src = [torch.randint(4, vocab, (n,)).tolist() for n in (7, 3, 5)][:batch]
    tgt = [torch.randint(4, vocab, (n,)).tolist() for n in (4, 6, 2)][:batch]
    return make_batch(src, tgt)


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_incremental_decoding_equals_teacher_forcing(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()
    batch = _random_batch()
    logits, attention = model(batch.src, batch.src_mask, batch.tgt_in, attention=True)
    state = model.init_state(model.encode(batch.src, batch.src_mask))
    for t in range(batch.tgt_in.shape[1]):
        log_probs, step_attention, state = model.step(batch.tgt_in[:, t], state)
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1), atol=1e-4, rtol=0)
        torch.testing.assert_close(step_attention, attention[:, t], atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "name", ["rnn_luong_local_m", "rnn_bahdanau_coverage", "rnn_bahdanau_lexical", "transformer_relpos"]
)
def test_incremental_decoding_after_reorder(name: str) -> None:
    """Beam search drops, permutes and duplicates rows mid-sequence: the attention's decoder history
    (local-m's step, coverage) and the caches follow."""
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()
    batch, index = _random_batch(), torch.tensor([2, 0, 2, 1])
    logits, attention = model(batch.src[index], batch.src_mask[index], batch.tgt_in[index], attention=True)
    state = model.init_state(model.encode(batch.src, batch.src_mask))
    for t in range(batch.tgt_in.shape[1]):
        if t == 2:
            state = model.reorder(state, index)
        rows = index if t >= 2 else torch.arange(3)
        log_probs, step_attention, state = model.step(batch.tgt_in[rows, t], state)
        if t >= 2:
            torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1), atol=1e-4, rtol=0)
            torch.testing.assert_close(step_attention, attention[:, t], atol=1e-4, rtol=0)


def test_the_coverage_loss_is_reported_and_trains_the_coverage_weights() -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config("rnn_bahdanau_coverage"), 40, 40, PAD).train()
    batch = _random_batch()
    model(batch.src, batch.src_mask, batch.tgt_in)
    loss = model.auxiliary_loss()
    assert loss > 0  # sum over the real target tokens of sum_j min(a_tj, c_tj)
    loss.backward()
    assert model.attention.coverage_proj.weight.grad.abs().sum() > 0
    model.eval()
    model(batch.src, batch.src_mask, batch.tgt_in)
    assert model.auxiliary_loss() == 0  # a training term only
    assert build_model(tiny_model_config("rnn_bahdanau"), 40, 40, PAD).auxiliary_loss() == 0


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_extra_source_padding_changes_nothing(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()
    batch = _random_batch()
    logits, attention = model(batch.src, batch.src_mask, batch.tgt_in, attention=True)
    src = F.pad(batch.src, (0, 4), value=PAD)
    padded_logits, padded_attention = model(src, src != PAD, batch.tgt_in, attention=True)
    torch.testing.assert_close(padded_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_attention[..., : batch.src.shape[1]], attention, atol=1e-5, rtol=1e-5)
    assert (padded_attention[..., batch.src.shape[1] :] == 0).all()
    assert (attention.masked_select(~batch.src_mask.unsqueeze(1)) == 0).all()


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).train()
    batch = _random_batch()
    logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
    F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"no gradient reaches {param_name}"


# Sparse normalisers and coverage cost several times softmax's per decoder step: their 32 steps run
# with the slow tests (`make test-slow`).
SLOW_TO_TRAIN = {
    "rnn_bahdanau_coverage",
    "rnn_bahdanau_entmax15",
    "rnn_bahdanau_sparsemax",
    "transformer_entmax15",
}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_TRAIN else n for n in MODEL_CONFIGS]
)
def test_a_few_steps_on_real_pairs_lower_the_loss(name: str, real_pairs) -> None:
    vocab, src, tgt = real_pairs
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), len(vocab), len(vocab), PAD).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = [make_batch(src[i : i + 50], tgt[i : i + 50]) for i in range(0, 200, 50)]

    def loss_of(batch) -> torch.Tensor:
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
        return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)

    with torch.no_grad():
        before = sum(loss_of(b).item() for b in batches)
    for _ in range(8):
        for batch in batches:
            optimizer.zero_grad()
            loss_of(batch).backward()
            optimizer.step()
    with torch.no_grad():
        after = sum(loss_of(b).item() for b in batches)
    assert after < 0.9 * before, f"{name}: loss {before / 4:.3f} -> {after / 4:.3f}"


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_beam_search_scores_are_the_models_own_log_probabilities(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_model_config(name), 40, 40, PAD).eval()
    batch = _random_batch()
    options = DecodeConfig(beam=3, nbest=3, alpha=0.6, max_len_a=0.0, max_len_b=6)
    for i, nbest in enumerate(search(model, batch.src, batch.src_mask, options)):
        assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
        real = batch.src_mask[i : i + 1]
        alone = search(model, batch.src[i : i + 1, : int(real.sum())], real[:, : int(real.sum())], options)
        assert [h.tokens for h in alone[0]] == [h.tokens for h in nbest]  # batching changes nothing
        source = batch.src[i][batch.src_mask[i]][:-1].tolist()  # without its EOS
        forced = make_batch([source] * len(nbest), [h.tokens for h in nbest])
        log_probs = model.score(forced.src, forced.src_mask, forced.tgt_in, forced.tgt_out)
        for hyp, log_prob in zip(nbest, log_probs.tolist(), strict=True):
            assert hyp.log_prob == pytest.approx(log_prob, abs=1e-4)
            assert hyp.score == pytest.approx(log_prob / length_penalty(len(hyp.tokens) + 1, 0.6), abs=1e-4)


def test_callers_never_probe_a_model_with_hasattr() -> None:
    """Models declare what they can do (``nmt.models.base``); nothing asks with hasattr."""
    package = Path(__file__).resolve().parents[1] / "nmt"
    probing = [p.relative_to(package.parent) for p in package.rglob("*.py") if "hasattr(" in p.read_text()]
    assert probing == []
