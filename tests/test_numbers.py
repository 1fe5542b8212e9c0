"""Every number is validated where it enters: the options of decoding, the server's fields, the training
config's keys; and the fixed output counts of `nmt translate --nbest N` (test_fuzz.py holds the fuzzing)."""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import compose
from helpers import TINY_RUN, run_cli, trained_run

from nmt.config_checks import check_training_config
from nmt.decoding.config import RANGES, DecodeConfig
from nmt.errors import NmtError
from nmt.numbers import Range


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny RNN run on 300 real pairs (test_fuzz.py imports this fixture)."""
    return trained_run(tmp_path_factory, *TINY_RUN)


def test_a_range_names_the_value_and_its_bounds() -> None:
    assert str(Range(0, 1, open_low=True, note="1: all")) == "a finite number in (0, 1] (1: all)"
    assert str(Range(1, None, integer=True)) == "a whole number in [1, inf)"
    assert Range(0, 5).contains(5) and not Range(0, 5).contains(float("nan"))
    assert not Range(integer=True).contains(True) and not Range(integer=True).contains(1.0)
    assert not Range(0, None).contains(10**400)  # too big for a float: out of range, not OverflowError
    with pytest.raises(NmtError, match=r"^--alpha inf: must be a finite number in \[0, 5\]"):
        Range(0, 5).check("--alpha", float("inf"))


@pytest.mark.parametrize(
    ("command", "option", "value", "message"),
    [
        ("translate", "--alpha", "nan", "--alpha nan: must be a finite number in [0, 5]"),
        ("translate", "--alpha", "-inf", "--alpha -inf: must be a finite number in [0, 5]"),
        ("translate", "--alpha", "1e308", "--alpha 1e+308: must be a finite number in [0, 5]"),
        ("translate", "--temperature", "nan", "--temperature nan: must be a finite number in [0.01, 100]"),
        ("translate", "--temperature", "inf", "--temperature inf: must be a finite number in [0.01, 100]"),
        ("translate", "--max-len-a", "nan", "--max-len-a nan: must be a finite number in [0, 100]"),
        ("translate", "--seed", str(2**70), f"--seed {2**70}: must be a whole number in [0, 2**32 - 1]"),
        ("translate", "--top-k", "-1", "--top-k -1: must be a whole number in [0, 2**31 - 1]"),
        ("translate", "--nbest", str(2**64), f"--nbest {2**64}: must be a whole number in [1, 1024]"),
        ("evaluate", "--alpha", "nan", "--alpha nan: must be a finite number in [0, 5]"),
        ("align", "--batch-size", "0", "--batch-size 0: must be a whole number in [1, 2**31 - 1]"),
    ],
)
def test_decoding_options_out_of_range_are_refused_by_name_before_the_run_is_read(
    command: str, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [command, str(tmp_path / "no-run"), "x"] if command != "evaluate" else [command, str(tmp_path)]
    status, out, err = run_cli(capsys, *argv, f"{option}={value}")
    assert (status, out) == (1, "")
    assert err.startswith(f"nmt {command}: error: {message}") and err.count("\n") == 1, err


def test_every_decoding_number_has_one_declared_range_that_the_defaults_satisfy() -> None:
    defaults = DecodeConfig()
    numbers = {field.name for field in fields(DecodeConfig) if field.name != "sampling"}
    assert set(RANGES) == numbers
    for name, allowed in RANGES.items():
        value = getattr(defaults, name)
        assert value is None or allowed.contains(value), name  # None: unset (batch_tokens)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("trainer.lr=nan", "trainer.lr=nan: must be a finite number in (0, inf)"),
        ("trainer.lr=inf", "trainer.lr=inf: must be a finite number in (0, inf)"),
        ("trainer.clip_norm=-inf", "trainer.clip_norm=-inf: must be a finite number in [0, inf)"),
        ("trainer.max_minutes=nan", "trainer.max_minutes=nan: must be a finite number in (0, inf)"),
        ("model.dropout=nan", "model.dropout=nan: must be a finite number in [0, 1)"),
        ("data.spm.vocab_size=0", "data.spm.vocab_size=0: must be a whole number in [1, 2**31 - 1]"),
        ("data.clean.max_ratio=nan", "data.clean.max_ratio=nan: must be a finite number in (-inf, inf)"),
        ("trainer.optimizer_betas=[0.9,inf]", "trainer.optimizer_betas[1]=inf: must be a finite number"),
        (f"seed={2**70}", f"seed={2**70}: must be a whole number in [0, 2**32 - 1]"),
        (f"trainer.max_steps={2**64}", f"trainer.max_steps={2**64}: must be a whole number"),
    ],
)
def test_numeric_config_keys_out_of_range_are_named_with_their_range(override: str, named: str) -> None:
    with pytest.raises(NmtError) as error:
        check_training_config(compose(override))
    assert named in str(error.value)


def test_an_unknown_key_in_a_saved_model_section_is_named_with_its_file(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("model:\n", "model:\n  bogus_width: 3\n", 1))
    status, out, err = run_cli(capsys, "translate", str(run), "A dog.")
    assert (status, out) == (1, "")
    assert f"{config}: unknown key model.bogus_width (not an option of model.arch=rnn)" in err


def test_nbest_gives_exactly_n_numbered_lines_for_every_input_empty_lines_included(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["A dog runs.", "", "   ", "Two men.", "\u200b"]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for options in (["--nbest", "2", "--beam", "3"], ["--sample", "--nbest", "3", "--seed", "7"]):
        status, out, _ = run_cli(capsys, "translate", str(tiny_run), "--input", str(source), *options)
        n = int(options[options.index("--nbest") + 1])
        numbers = [int(line.split("\t")[0]) for line in out.splitlines()]
        assert status == 0 and numbers == [i for i in range(1, len(lines) + 1) for _ in range(n)], out


@pytest.mark.parametrize("sentence", ["", "   ", "\t"])
def test_align_of_a_blank_sentence_is_one_clear_message(
    tiny_run: Path, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "align", str(tiny_run), "A dog.", sentence)
    assert (status, out, err) == (1, "", "nmt align: error: sentence 2 is empty: there is nothing to align\n")
