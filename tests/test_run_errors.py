"""Bad input around training: values training cannot use, damaged run directories, a run directory
made for another model. Each gives one clear message and a non-zero exit, and leaves the run
directory exactly as it was."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import compose
from helpers import TINY_RUN, assert_clean_error, nmt, trained_run

from nmt.config_checks import check_training_config
from nmt.errors import NmtError
from nmt.runtime import cpu_has_native_bf16


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (nothing at all for a folder that does not exist)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("trainer.batch_tokens=0", "trainer.batch_tokens=0"),
        ("trainer.max_steps=0", "trainer.max_steps=0"),
        ("trainer.lr=-0.001", "trainer.lr=-0.001"),
        ("model.dropout=1.0", "model.dropout=1.0"),
        ("model.dropout=-0.1", "model.dropout=-0.1"),
        ("model.hidden_dim=33", "model.hidden_dim=33"),
        ("model.decoder=cgru", "model.decoder=cgru: choose one of bahdanau, conditional, luong"),
        ("model.cell=rnn", "model.cell=rnn: choose one of gru, lstm"),
        ("trainer.update_freq=0", "trainer.update_freq=0"),
        ("data.spm.vocab_size=-1", "data.spm.vocab_size=-1"),
        ("seed=-1", "seed=-1: must be a whole number in [0, 2**32 - 1]"),
        ("data.spm.seed=4294967296", "data.spm.seed=4294967296"),
    ],
)
def test_config_values_training_cannot_use_are_named(override: str, named: str) -> None:
    with pytest.raises(NmtError, match=re.escape(named)):
        check_training_config(compose(*TINY_RUN, override))


@pytest.mark.parametrize("override", ["trainer.batch_tokens=0", "model.decoder=cgru"])
def test_nmt_train_names_a_value_it_cannot_use_before_anything_is_written(
    override: str, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    assert_clean_error(nmt("train", *TINY_RUN, f"run_dir={run}", override, check=False), override)
    assert not run.exists()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny run (30 updates), a copy of its own."""
    return trained_run(tmp_path_factory, *TINY_RUN)


@pytest.fixture
def copy_of_run(finished_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def resume(run: Path, *overrides: str):
    return nmt("train", *TINY_RUN, f"run_dir={run}", "trainer.max_steps=12", *overrides, check=False)


def test_the_log_names_the_precision_chosen_and_why(finished_run: Path) -> None:
    """On a CPU with native bf16 why the tiny run (30 updates) was not probed, else that bf16 is emulated."""
    short = r"a run of 30 updates is too short to repay the probe's \d+\)"
    why = short if cpu_has_native_bf16() else r"this CPU has no native bf16"
    log = (finished_run / "train.log").read_text()
    assert re.search(rf"precision: auto -> (fp32|bf16)( unfused)? \({why}", log)


def test_retraining_a_finished_run_as_another_model_is_refused_and_touches_nothing(copy_of_run: Path) -> None:
    before = contents(copy_of_run)
    result = resume(copy_of_run, "model.hidden_dim=64")
    assert_clean_error(result, str(copy_of_run), "model.hidden_dim: 32 -> 64", "new run_dir")
    assert contents(copy_of_run) == before


@pytest.mark.parametrize("damage", ["random", "empty", "truncated"])
def test_a_damaged_last_checkpoint_stops_the_resume_and_touches_nothing(
    damage: str, copy_of_run: Path
) -> None:
    last = copy_of_run / "last.pt"
    data = last.read_bytes()
    last.write_bytes(
        {"random": bytes(range(256)) * 64, "empty": b"", "truncated": data[: len(data) // 2]}[damage]
    )
    before = contents(copy_of_run)
    assert_clean_error(resume(copy_of_run), str(last), "cannot load checkpoint")
    assert contents(copy_of_run) == before


@pytest.mark.parametrize("damage", ["random", "empty"])
def test_a_damaged_best_checkpoint_is_named_by_translate(damage: str, copy_of_run: Path) -> None:
    best = copy_of_run / "best.pt"
    best.write_bytes(bytes(range(256)) * 64 if damage == "random" else b"")
    assert_clean_error(nmt("translate", str(copy_of_run), "A dog.", check=False), str(best))


def test_a_garbage_sentencepiece_model_is_named(copy_of_run: Path) -> None:
    spm_model = copy_of_run / "spm.model"
    spm_model.write_bytes(b"not a model\n" * 50)
    before = contents(copy_of_run)
    message = "not a sentencepiece model"
    assert_clean_error(nmt("translate", str(copy_of_run), "A dog.", check=False), str(spm_model), message)
    assert_clean_error(resume(copy_of_run), str(spm_model), message)
    assert contents(copy_of_run) == before


def test_a_malformed_config_is_named(copy_of_run: Path) -> None:
    config = copy_of_run / "config.yaml"
    config.write_text("model: [unclosed\n  data: {\n")
    before = contents(copy_of_run)
    assert_clean_error(nmt("translate", str(copy_of_run), "A dog.", check=False), str(config), "malformed")
    assert_clean_error(resume(copy_of_run), str(config), "malformed")
    assert contents(copy_of_run) == before


def test_non_finite_losses_stop_the_run_naming_the_step_and_the_limit(tmp_path: Path) -> None:
    result = nmt(
        "train", *TINY_RUN, f"run_dir={tmp_path}", "trainer.lr=1e30", "trainer.max_bad_steps=2", check=False
    )
    stderr = assert_clean_error(
        result, "the loss was not finite in 2 updates in a row", "trainer.max_bad_steps=2"
    )
    assert (
        "nmt train: error: step 2:" in stderr
    )  # step 1 sent the weights to 1e30; step 2 is the first bad one


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["model.normalizer=softermax"], "model.normalizer=softermax"),
        (["model.normalizer=entmax_bisect", "model.entmax_alpha=1.0"], "model.entmax_alpha=1.0"),
        (["model=rnn_bahdanau_hard", "model.gumbel_tau=0"], "model.gumbel_tau=0"),
        (["model=rnn_luong_local_p", "model.window=0"], "model.window=0"),
        (["model.span=local_q"], "model.span=local_q"),
        (["model=rnn_luong_dot", "model.coverage=true"], "model.attention=dot"),
        (["model.coverage_loss=0.5"], "only with model.coverage=true"),
        (["model=rnn_luong_dot", "model.word_keys=true"], "model.word_keys=true"),
        (["model=transformer_relpos", "model.max_relative_position=-1"], "model.max_relative_position=-1"),
    ],
)
def test_attention_switches_training_cannot_use_are_named(overrides: list[str], named: str) -> None:
    with pytest.raises(NmtError, match=re.escape(named)):
        check_training_config(compose(*overrides))
