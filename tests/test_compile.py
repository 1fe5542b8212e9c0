"""``trainer.compile``: the compiled update trains like the eager one, compiles once per batch shape,
resumes bitwise, is chosen only where measured to pay, and falls back to eager in one log line.

Compiling a tiny model's training step takes from tens of seconds to minutes on a 2-core CPU, so
every test that really compiles is slow; the fast ones fake the compiler or its timings. (On a
heavily shared 2-core machine the Transformer's compiled-against-eager test took 20 minutes, four
batch shapes; the missing-compiler run 4.6 minutes.)
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, compose
from helpers import TINY_RUN, assert_clean_error, nmt
from hypothesis import given
from hypothesis import strategies as st
from test_resume import EXACT, parameters, start_train, wait_for_step

from nmt.data.batching import TokenBatches, batch_shape, make_batch
from nmt.data.vocab import PAD
from nmt.models import build_model
from nmt.rundir import load_checkpoint
from nmt.runtime import Distributed
from nmt.training import compile_choice
from nmt.training.compile import CompiledLoss, EagerLoss
from nmt.training.compile_choice import MARGIN, CompileTimings, decide, training_compile
from nmt.training.step import Speedups, UpdateStep

CPU = torch.device("cpu")
NO_DROPOUT = {"rnn": ["model.dropout=0"], "transformer": ["model.dropout=0", "model.attn_dropout=0"]}


def _model(real_pairs, name: str):
    """A tiny model ``name`` without dropout (compiled dropout draws other random numbers than eager)."""
    arch = compose(f"model={name}").model.arch
    cfg = compose(f"model={name}", *TINY_MODEL[arch], *NO_DROPOUT[arch]).model
    torch.manual_seed(0)
    return build_model(cfg, len(real_pairs[0]), len(real_pairs[0]), PAD)


def _batches(real_pairs, size: int = 25):
    _, src, tgt = real_pairs
    return [make_batch(src[i : i + size], tgt[i : i + size]) for i in range(0, 200, size)]


def _train(model, loss, batches, steps: int = 5):
    """Losses of ``steps`` fp32 updates of ``model`` with the loss class ``loss``, and its parameters."""
    tc = compose("trainer=tiny").trainer
    update = UpdateStep(model, tc, CPU, None, loss=loss)
    losses = [update([batches[i % len(batches)]], tc.lr)[0] for i in range(steps)]
    return losses, torch.cat([p.detach().flatten() for p in model.parameters()]), update


# ------------------------------------------------------------------ the decision (fast)
@given(
    eager=st.floats(1e-3, 10),
    ratio=st.floats(0.1, 2),
    compile_seconds=st.floats(0, 1000),
    steps=st.integers(1, 10**7),
    shapes=st.integers(1, 500),
)
def test_compiling_is_chosen_only_when_measured_faster_and_repaid_within_the_run(
    eager: float, ratio: float, compile_seconds: float, steps: int, shapes: int
) -> None:
    timings = CompileTimings(eager=eager, compiled=eager * ratio, compile=compile_seconds)
    chosen, why = decide(timings, steps, shapes)
    repaid = steps * (eager - eager * ratio) > MARGIN * compile_seconds * shapes
    assert chosen == (ratio < 1 and repaid)
    assert ("not faster" in why) == (ratio >= 1)


@pytest.mark.parametrize(
    ("compiled_ms", "compile_s", "max_steps", "chosen"),
    [(50, 30, 100_000, True), (120, 30, 100_000, False), (50, 30, 100, False), (100, 0, 100_000, False)],
)
def test_auto_follows_the_cached_timings_and_the_run_budget(
    compiled_ms: float,
    compile_s: float,
    max_steps: int,
    chosen: bool,
    real_pairs,
    tmp_path: Path,
    monkeypatch,
) -> None:
    """Eager updates take 100 ms; compiled ones ``compiled_ms``; the run plans ``max_steps`` updates
    over 4 batch shapes. The timings come from the probe's cache: nothing is compiled or timed."""
    overrides = ["trainer=tiny", "model=transformer", *TINY_MODEL["transformer"], f"cache_dir={tmp_path}"]
    cfg = compose(*overrides, f"trainer.max_steps={max_steps}")
    key = compile_choice._cache_key(cfg, CPU, None)
    timings = {"eager": 0.1, "compiled": compiled_ms / 1000, "compile": compile_s}
    (tmp_path / "compile_probe.json").write_text(json.dumps({key: timings}))
    monkeypatch.setattr(compile_choice, "Probe", lambda *args: pytest.fail("probed despite the cache"))
    model, batch = _model(real_pairs, "transformer"), _batches(real_pairs)[0]
    loss, line = training_compile(cfg, model, batch, CPU, Distributed(), None, Speedups(), 4)
    assert (loss is not EagerLoss) == chosen
    assert line.startswith(f"auto -> {'on' if chosen else 'off'} (probe (cached): ")


def test_a_run_too_short_to_repay_a_compilation_is_not_probed(
    real_pairs, tmp_path: Path, monkeypatch
) -> None:
    """An eager update takes 0.5 s: 30 updates over 4 shapes cannot save the 60 s that compiling takes
    at least, so nothing is compiled."""
    monkeypatch.setattr(compile_choice.Probe, "seconds", lambda self, step: 0.5)
    monkeypatch.setattr(compile_choice.Probe, "time_compiled", lambda self: pytest.fail("compiled"))
    cfg = compose("trainer=tiny", "model=transformer", *TINY_MODEL["transformer"], f"cache_dir={tmp_path}")
    model, batch = _model(real_pairs, "transformer"), _batches(real_pairs)[0]
    loss, line = training_compile(cfg, model, batch, CPU, Distributed(), None, Speedups(), 4)
    assert loss is EagerLoss and line.endswith("not probed)"), line
    assert not (tmp_path / "compile_probe.json").exists()


def test_trainer_compile_takes_auto_true_or_false(tmp_path: Path) -> None:
    result = nmt("train", *TINY_RUN, f"run_dir={tmp_path / 'run'}", "trainer.compile=sometimes", check=False)
    assert_clean_error(result, "trainer.compile=sometimes: choose one of auto, true, false")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ the fallback (fast)
def _failing_compile(function, **options):
    """What torch.compile returns where the C++ compiler is missing: it fails on the first call."""
    from torch._inductor.exc import InvalidCxxCompiler

    def compiled(*args, **kwargs):
        raise InvalidCxxCompiler("/nonexistent/c++")

    return compiled


@pytest.mark.parametrize("failure", ["on the first call", "in torch.compile"])
def test_a_failing_compiler_falls_back_to_eager_with_one_log_line(
    failure: str, real_pairs, monkeypatch, caplog
) -> None:
    """The update is made again eagerly: the losses and parameters are those of eager training."""
    batches = _batches(real_pairs)[:2]
    expected_losses, expected_params, _ = _train(_model(real_pairs, "rnn_bahdanau"), EagerLoss, batches, 2)
    fake = _failing_compile if failure == "on the first call" else _refusing_compile
    monkeypatch.setattr(torch, "compile", fake)
    with caplog.at_level(logging.INFO, logger="nmt"):
        losses, params, update = _train(_model(real_pairs, "rnn_bahdanau"), CompiledLoss, batches, 2)
    assert losses == expected_losses and torch.equal(params, expected_params)
    [line] = [r for r in caplog.records if "trainer.compile" in r.getMessage()]
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "compiling the training step failed" in line.getMessage()
    assert "training without compiling" in line.getMessage() and "\n" not in line.getMessage()
    assert update.loss.compilations == 0


def _refusing_compile(function, **options):
    """An old torch, or a Python torch.compile does not support: it refuses at once."""
    raise RuntimeError("Python 3.99+ not yet supported for torch.compile")


@pytest.mark.slow
def test_a_missing_cxx_compiler_falls_back_to_eager_in_a_real_run(tmp_path: Path) -> None:
    """``nmt train trainer.compile=true`` with $CXX naming no compiler (and an empty kernel cache)."""
    run = tmp_path / "run"
    env = {**os.environ, "CXX": "/nonexistent/c++", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    args = [*TINY_RUN, f"run_dir={run}", "trainer.compile=true", "trainer.max_steps=2", "trainer.threads=1"]
    result = subprocess.run([sys.executable, "-m", "nmt.cli", "train", *args], env=env, capture_output=True)
    output = result.stderr.decode() + result.stdout.decode()
    assert result.returncode == 0 and "Traceback" not in output, output
    log = (run / "train.log").read_text()
    assert log.count("trainer.compile: compiling the training step failed") == 1, log
    assert load_checkpoint(run / "last.pt")["step"] == 2


# ------------------------------------------------------------------ really compiled (slow)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["transformer", "rnn_bahdanau"])
def test_the_compiled_update_keeps_the_losses_and_parameters_of_the_eager_one(name: str, real_pairs) -> None:
    """Five updates, the same initial weights and batches: every loss within 1e-4 relative, every
    parameter within a third of one learning-rate step (inductor sums in another order; Adam divides
    by the root of the squared gradients, so rounding in near-zero gradients moves a weight by up to lr)."""
    batches = _batches(real_pairs)[:4]
    eager_losses, eager_params, _ = _train(_model(real_pairs, name), EagerLoss, batches)
    losses, params, update = _train(_model(real_pairs, name), partial(CompiledLoss, shapes=4), batches)
    assert losses == pytest.approx(eager_losses, rel=1e-4)
    assert losses[4] < losses[0]
    torch.testing.assert_close(params, eager_params, rtol=0, atol=compose("trainer=tiny").trainer.lr / 3)
    assert update.loss.compilations == len({tuple(b.src.shape) + tuple(b.tgt_in.shape) for b in batches})
    assert update.loss.compile_seconds > 0


@pytest.mark.slow
def test_an_epoch_compiles_at_most_once_per_batch_shape(real_pairs) -> None:
    """A whole epoch of real batches padded to multiples of 16: one compilation per (B, S, T) at most."""
    _, src, tgt = real_pairs
    lengths = np.array([len(s) for s in src]), np.array([len(t) for t in tgt])
    order = TokenBatches(*lengths, 1500, seed=0, pad_to_multiple=16).batches()
    batches = [make_batch([src[i] for i in b], [tgt[i] for i in b]).padded_to(16) for b in order]
    shapes = {batch_shape(*lengths, b, 16) for b in order}
    compiled = partial(CompiledLoss, shapes=len(shapes))
    _, _, update = _train(_model(real_pairs, "transformer"), compiled, batches, len(batches))
    assert 0 < update.loss.compilations <= len(shapes) < len(batches)
    assert update.loss.graphs == update.loss.compilations  # the Transformer compiles into one graph


@pytest.mark.slow
def test_a_run_killed_with_compile_auto_resumes_to_bitwise_equal_parameters(tmp_path: Path) -> None:
    args = [*TINY_RUN, *EXACT, "trainer.max_steps=24", "trainer.valid_every=12", "trainer.save_every=1"]
    args.append("trainer.compile=auto")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    nmt("train", *args, f"run_dir={straight}")
    process = start_train(*args, f"run_dir={killed}", output=tmp_path / "killed")
    reached = wait_for_step(killed, process, random.randint(2, 20))
    process.kill()
    process.wait()
    nmt("train", *args, f"run_dir={killed}")
    for run in (straight, killed):
        assert "compile: auto -> " in (run / "train.log").read_text()
    expected, resumed = parameters(straight), parameters(killed)
    unequal = [name for name in expected if not torch.equal(expected[name], resumed[name])]
    assert not unequal, f"killed at step {reached}; differ: {unequal}"
