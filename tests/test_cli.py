"""The real `nmt` command end to end: train a tiny model on real pairs, reload it, translate, evaluate.

Bad input of every kind must end in one clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_MODEL

from nmt.translate import Translator

TINY_RUN = [
    "data=multi30k_en_de",
    "model=rnn_bahdanau",
    "trainer=tiny",
    *TINY_MODEL["rnn"],
    "data.train.max_pairs=300",
    "data.valid.max_pairs=40",
    "data.spm.vocab_size=400",
]


def nmt(*args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "nmt.cli", *args], input=stdin, capture_output=True)
    if check and result.returncode != 0:
        raise AssertionError(f"nmt {' '.join(args)} failed:\n{result.stderr.decode()}")
    return result


def assert_clean_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Non-zero exit, one message naming what is wrong, no traceback."""
    stderr = result.stderr.decode() + result.stdout.decode()
    assert result.returncode != 0, stderr
    assert "Traceback" not in stderr, stderr
    for text in expected:
        assert text in stderr, f"{text!r} not in:\n{stderr}"
    return stderr


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    nmt("train", *TINY_RUN, f"run_dir={run}")
    return run


def test_training_writes_a_complete_run_directory(run_dir: Path) -> None:
    for name in ("config.yaml", "spm.model", "best.pt", "last.pt", "train.log"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    log = (run_dir / "train.log").read_text()
    assert "validation at step 30" in log and "300 training pairs" in log


def test_training_resumes_from_the_last_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    result = nmt("train", *TINY_RUN, f"run_dir={run_dir}", "trainer.max_steps=35")
    assert "resumed from" in (run_dir / "train.log").read_text(), result.stderr.decode()


def test_translate_arguments_stdin_and_files_one_line_each(run_dir: Path, tmp_path: Path) -> None:
    out = nmt("translate", str(run_dir), "A man is walking.", "Two dogs play.").stdout.decode()
    assert len(out.splitlines()) == 2 and all(line.strip() for line in out.splitlines())
    lines = [
        "A dog runs.",
        "",
        "  ",
        "Ein 🐕 läuft 🙂",
        "مرحبا بالعالم",
        "line\u2028separator",
        "x " * 2000,
        "end",
    ]
    text = "\n".join(lines) + "\n"
    assert (
        len(nmt("translate", str(run_dir), "--beam", "2", stdin=text.encode()).stdout.decode().split("\n"))
        - 1
        == 8
    )
    source = tmp_path / "in.txt"
    source.write_text(text)
    nmt("translate", str(run_dir), "--input", str(source), "--output", str(tmp_path / "out.txt"))
    translations = (tmp_path / "out.txt").read_text().split("\n")[:-1]
    assert len(translations) == 8
    assert translations[1] == "" and translations[2] == ""


def test_reloaded_checkpoint_translates_like_the_command_line(run_dir: Path) -> None:
    translator = Translator.from_run(str(run_dir), device="cpu")
    api = translator.translate(["A man is walking.", "Two dogs play."], beam=5)
    cli = nmt("translate", str(run_dir), "A man is walking.", "Two dogs play.").stdout.decode().splitlines()
    assert [n[0].text for n in api] == cli


def test_evaluate_prints_scores_with_signatures_and_writes_hypotheses(run_dir: Path) -> None:
    out = nmt("evaluate", str(run_dir), "--split", "valid", "--beam", "1").stdout.decode()
    for metric in ("BLEU = ", "chrF = ", "TER = ", "nrefs:1"):
        assert metric in out
    hyps = (run_dir / "hyps" / "valid.beam1.txt").read_text().splitlines()
    assert len(hyps) == 40
    scores = json.loads((run_dir / "hyps" / "valid.beam1.json").read_text())
    assert scores["sentences"] == 40 and {"bleu", "chrf", "ter"} <= scores.keys()


# ---------------------------------------------------------------- bad input
def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    assert_clean_error(nmt("train", "trainer.max_stepz=5", f"run_dir={tmp_path}", check=False), "max_stepz")


def test_missing_corpus_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.en"
    result = nmt(
        "train", *TINY_RUN, f"run_dir={tmp_path / 'run'}", f"data.train.src.path={missing}", check=False
    )
    assert_clean_error(result, "nowhere.en")


def test_corpus_sides_with_different_line_counts_are_named(tmp_path: Path) -> None:
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    overrides = [f"data.train.src.path={tmp_path / 'a.en'}", f"data.train.tgt.path={tmp_path / 'a.de'}"]
    result = nmt("train", *TINY_RUN, f"run_dir={tmp_path / 'run'}", *overrides, check=False)
    assert_clean_error(result, "a.en", "a.de", "3", "2")


def test_invalid_utf8_corpus_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "b.en").write_bytes(b"fine\nbroken \xff\xfe here\n")
    (tmp_path / "b.de").write_text("gut\nkaputt\n")
    overrides = [f"data.train.src.path={tmp_path / 'b.en'}", f"data.train.tgt.path={tmp_path / 'b.de'}"]
    result = nmt("train", *TINY_RUN, f"run_dir={tmp_path / 'run'}", *overrides, check=False)
    assert_clean_error(result, "b.en", "2")


def test_run_directory_without_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    assert_clean_error(nmt("translate", str(tmp_path), "Hello.", check=False), "checkpoint")
    assert_clean_error(nmt("translate", str(tmp_path / "nope"), "Hello.", check=False), "nope")


def test_invalid_utf8_translation_input_names_the_line(run_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.txt"
    source.write_bytes(b"good\nalso good\n\xc3\x28 bad\n")
    assert_clean_error(nmt("translate", str(run_dir), "--input", str(source), check=False), "bad.txt:3")
