"""The training update's speed-ups keep training the same, the benchmark counts FLOPs as torch does,
and ``trainer.precision=auto`` follows what the probe measured."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch
from conftest import REPO, compose, tiny_model_config
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from nmt.data.batching import make_batch
from nmt.data.vocab import PAD
from nmt.models import build_model
from nmt.models.flops import training_flops
from nmt.runtime import Distributed
from nmt.training import precision
from nmt.training.step import Speedups, UpdateStep

SPEEDUPS = [field.name for field in fields(Speedups)]


def _batches(real_pairs, size: int = 50):
    _, src, tgt = real_pairs
    return [make_batch(src[i : i + size], tgt[i : i + size]) for i in range(0, 200, size)]


@pytest.fixture(scope="module")
def tiny_trainer():
    return compose("trainer=tiny").trainer  # lr 3e-3, label smoothing 0.1, clipping at 1


def _train(name: str, real_pairs, tc, speedups: Speedups, steps: int = 5):
    """Losses of ``steps`` fp32 updates of a tiny model (dropout on), and its parameters afterwards."""
    torch.manual_seed(0)
    vocab = real_pairs[0]
    model = build_model(tiny_model_config(name), len(vocab), len(vocab), PAD)
    update = UpdateStep(model, tc, torch.device("cpu"), None, speedups=speedups)
    batches = _batches(real_pairs, 25)[:4]
    losses = [update([batches[i % len(batches)]], tc.lr)[0] for i in range(steps)]
    return losses, torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("speedup", SPEEDUPS)
@pytest.mark.parametrize("name", ["transformer", "rnn_bahdanau"])
def test_each_speedup_keeps_the_losses_and_parameters_of_the_plain_update(
    name: str, speedup: str, real_pairs, tiny_trainer
) -> None:
    """Five updates with and without the speed-up (the same seed and batches): every loss within 1e-4
    relative; every parameter within a third of one learning-rate step (Adam divides by the root of
    the squared gradients, so rounding differences in near-zero gradients move a weight by up to lr)."""
    fast_losses, fast_params = _train(name, real_pairs, tiny_trainer, Speedups())
    without = replace(Speedups(), **{speedup: False})
    plain_losses, plain_params = _train(name, real_pairs, tiny_trainer, without)
    assert fast_losses == pytest.approx(plain_losses, rel=1e-4)
    assert fast_losses[4] < fast_losses[0]  # and it learns: the first batch again, after 4 updates
    torch.testing.assert_close(fast_params, plain_params, rtol=0, atol=tiny_trainer.lr / 3)


@pytest.mark.parametrize(
    "name", ["transformer", "rnn_bahdanau", "rnn_bahdanau_conditional", "rnn_luong_general"]
)
def test_the_benchmark_counts_the_flops_torch_counts(name: str) -> None:
    """``training_flops`` from the model's dimensions against torch's FlopCounterMode over a forward and
    backward pass without padding (attention through the math kernel, which the counter sees): equal
    for the Transformer; within 1% for RNNs, where torch skips a few weight-only gradients."""
    torch.manual_seed(0)
    cfg, vocab = tiny_model_config(name), 50
    model = build_model(cfg, vocab, vocab, PAD)
    src, tgt_in, tgt_out = (torch.randint(4, vocab, (3, n)) for n in (7, 5, 5))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        logits, _ = model(src, src != PAD, tgt_in)
        logits.sum().backward()
    counted = training_flops(cfg, vocab, (src != PAD).sum(1), (tgt_out != PAD).sum(1))
    assert counted == pytest.approx(counter.get_total_flops(), rel=0 if cfg.arch == "transformer" else 0.01)


def test_the_probe_times_both_precisions_and_leaves_the_model_and_random_streams_alone(
    real_pairs, tiny_trainer
) -> None:
    torch.manual_seed(0)
    vocab = real_pairs[0]
    model = build_model(tiny_model_config("transformer"), len(vocab), len(vocab), PAD)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    speeds = precision.probe(
        model, compose("trainer=tiny").trainer, _batches(real_pairs)[:1], torch.device("cpu")
    )
    assert set(speeds) == {"fp32", "bf16", "fp32 unfused", "bf16 unfused"} and all(
        s > 0 for s in speeds.values()
    )
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def model_for(cfg, real_pairs) -> torch.nn.Module:
    """``cfg.model``, randomly initialised, for the vocabulary of ``real_pairs``."""
    size = len(real_pairs[0])
    return build_model(cfg.model, size, size, PAD)


@pytest.mark.parametrize(("bf16_speedup", "chosen"), [(1.3, "bf16"), (1.0, "fp32"), (0.5, "fp32")])
def test_auto_takes_bf16_where_the_probe_measured_it_faster(
    bf16_speedup: float, chosen: str, real_pairs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run of the same shape reads the first one's probe from the cache."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(precision, "probe", lambda *args: {"fp32": 1000.0, "bf16": 1000.0 * bf16_speedup})
    cfg = compose("trainer=tiny", "trainer.max_steps=1000", "model=rnn_bahdanau", f"cache_dir={tmp_path}")
    model = model_for(cfg, real_pairs)
    args = (cfg, model, _batches(real_pairs)[:1], torch.device("cpu"), Distributed())
    dtype, speedups, line = precision.training_precision(*args)
    assert speedups == Speedups()  # an RNN has no fused attention kernel to choose
    assert {None: "fp32", torch.bfloat16: "bf16"}[dtype] == chosen
    assert line == f"auto -> {chosen} (probe: bf16 {bf16_speedup:.2f}x fp32, 1,000 tokens/s in fp32)"
    monkeypatch.setattr(precision, "probe", lambda *args: pytest.fail("probed again"))
    assert precision.training_precision(*args) == (dtype, speedups, line.replace("probe:", "probe (cached):"))
    assert len(json.loads((tmp_path / "precision_probe.json").read_text())) == 1


@pytest.mark.parametrize(("unfused_gain", "fused"), [(1.3, False), (0.9, True)])
def test_auto_trains_attention_with_the_kernel_the_probe_measured_faster(
    unfused_gain: float, fused: bool, real_pairs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Transformer is also timed with its attention as plain matrix products, in each precision."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    speeds = {"fp32": 1000.0, "fp32 unfused": 900.0, "bf16": 1500.0, "bf16 unfused": 1500.0 * unfused_gain}
    monkeypatch.setattr(precision, "probe", lambda *args: speeds)
    cfg = compose("trainer=tiny", "trainer.max_steps=1000", "model=transformer", f"cache_dir={tmp_path}")
    model = model_for(cfg, real_pairs)
    assert model.has_fused_attention
    dtype, speedups, line = precision.training_precision(cfg, model, [], torch.device("cpu"), Distributed())
    assert dtype == torch.bfloat16 and speedups == Speedups(fused_attention=fused)
    assert line.endswith(f"attention by matrix products {unfused_gain:.2f}x the fused kernel)")


def test_auto_keeps_fp32_without_native_bf16_and_obeys_an_explicit_precision(
    real_pairs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(precision, "probe", lambda *args: pytest.fail("emulated bf16 is not probed"))
    cpu = torch.device("cpu")
    for setting, dtype, line in [
        ("auto", None, "auto -> fp32 (this CPU has no native bf16"),
        ("bf16", torch.bfloat16, "bf16 (trainer.precision=bf16)"),
        ("fp32", None, "fp32 (trainer.precision=fp32)"),
    ]:
        cfg = compose("trainer=tiny", "model=transformer", f"trainer.precision={setting}")
        model = model_for(cfg, real_pairs)
        chosen, speedups, said = precision.training_precision(cfg, model, [], cpu, Distributed())
        assert chosen == dtype and speedups == Speedups() and said.startswith(line)


def test_auto_does_not_probe_a_run_too_short_to_repay_the_probe(
    real_pairs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(precision, "probe", lambda *args: pytest.fail("a 30-update run is not probed"))
    cfg = compose("trainer=tiny", "model=rnn_bahdanau")  # 30 updates; the probe's: 3 rounds x 2 batches x 2
    model = model_for(cfg, real_pairs)
    said = "auto -> fp32 (a run of 30 updates is too short to repay the probe's 12)"
    assert precision.training_precision(cfg, model, [], torch.device("cpu"), Distributed()) == (
        None,
        Speedups(),
        said,
    )


def test_the_benchmark_smoke_run_prints_the_table() -> None:
    """``scripts/bench.py --smoke``: both families, both precisions, ours, the reference, peak, MFU."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench.py"), "--smoke", "--ablate", *SPEEDUPS],
        capture_output=True,
        text=True,
        check=True,
    )
    number = r"[\d,.]+"
    row = re.compile(
        rf"\| cpu \| (\w+) \| {number}k / {number}k \| (fp32|bf16)(?: unfused)? "
        rf"\| {number} \| {number} \| {number}x "
        rf"\| {number} \| {number} \| {number} \| {number}% \|"
    )
    rows = {match[:2] for match in row.findall(result.stdout)}
    assert rows == {(m, p) for m in ("transformer", "rnn_bahdanau") for p in ("fp32", "bf16")}
    for speedup in SPEEDUPS:
        assert (
            len(
                re.findall(
                    rf"\| (fp32|bf16) \| {speedup} \| {number} \| {number} \| {number}x \|", result.stdout
                )
            )
            == 4
        )
