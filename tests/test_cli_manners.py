"""The command line's manners: --version, every default shown in every --help, every command with its
summary in `nmt --help`, no internal names among the choices of `nmt train --help`; and every
command's work is a library function a Python user calls without the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from helpers import assert_clean_error, gold_files, nmt
from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

from nmt import __version__
from nmt.alignment.aer_report import AerSettings, aer_report, aligning_run, read_checked_gold, report_text
from nmt.alignment.plot import Caption
from nmt.alignment.show import WordView, align_sentences, check_targets, refuse_blank, write_folder
from nmt.cli import build_parser, main
from nmt.cli.options import decode_config
from nmt.decoding import DecodeConfig
from nmt.decoding.options import decode_options
from nmt.errors import NmtError
from nmt.evaluation.compare import compare
from nmt.evaluation.hypotheses import translate_and_score
from nmt.export import export_ctranslate2
from nmt.models.describe import architecture
from nmt.tables import markdown_table
from nmt.training.average import average_run
from nmt.translate import Translator


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out == f"nmt {__version__}\n"


def test_the_top_level_help_lists_every_command_with_its_summary() -> None:
    parser, commands = build_parser()
    page = _flat(parser.format_help())
    summaries = {a.dest: a.help for a in parser._subparsers._group_actions[0]._choices_actions}
    every = (
        "train",
        "translate",
        "export",
        "score",
        "evaluate",
        "align",
        "aer",
        "compare",
        "average",
        "serve",
    )
    assert tuple(commands) == every
    for name in commands:
        summary = _flat(summaries[name].replace("%%", "%"))
        assert summary and f" {name} {summary}" in page, f"{name} is not listed with its summary"


@pytest.mark.parametrize("name", [name for name in build_parser()[1] if name != "train"])
def test_every_help_shows_every_default(name: str) -> None:
    command = build_parser()[1][name]
    page = _flat(command.format_help())
    assert "==SUPPRESS==" not in page and "(default: None)" not in page
    for action in command._actions:
        default = action.default
        if not action.option_strings or default is None or default is False or default == argparse.SUPPRESS:
            continue
        shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        said = "default" in (action.help or "")  # the help says the default in its own words
        assert said or f"(default: {shown})" in page, f"nmt {name} --help: no default for {action.dest}"


def test_train_help_offers_no_internal_names() -> None:
    page = nmt("train", "--help").stdout.decode()
    assert "model: " in page and "rnn_bahdanau" in page and "_schema" not in page, page[:2000]


def test_an_unknown_config_option_lists_the_choices_and_no_schema(tmp_path: Path) -> None:
    stderr = assert_clean_error(
        nmt("train", "model=rnn_bahdanu", f"run_dir={tmp_path}", check=False), "model/"
    )
    assert "rnn_bahdanau" in stderr and "_schema" not in stderr, stderr


def test_decoding_options_are_the_fields_of_decode_config() -> None:
    options = {option.name: option for option in decode_options()}
    assert list(options) == list(DecodeConfig.__dataclass_fields__)
    assert options["sampling"].flag == "--sample" and options["batch_size"].flag == "--batch-size"
    assert all(option.doc for option in options.values()), "a DecodeConfig field has no docstring"
    assert "[1, 1024]" in options["beam"].help and options["beam"].default == DecodeConfig().beam
    evaluate = build_parser()[1]["evaluate"]
    args = evaluate.parse_args(["run", "--beam", "3", "--sample", "--seed", "7"])
    config = decode_config(args)  # evaluate has no --nbest: its default holds
    assert (config.beam, config.sampling, config.seed, config.nbest) == (3, True, 7, 1)
    assert DecodeConfig(beam=1).describe() == "greedy" and DecodeConfig().describe() == "beam 5"


def test_the_library_checks_what_the_commands_check() -> None:
    for function in (compare, translate_and_score, export_ctranslate2, average_run, Translator.from_run):
        assert callable(function)  # every command's work, importable without the command line
    with pytest.raises(NmtError, match="sentence 2 is empty"):
        refuse_blank(["A dog.", " "], "sentence ")
    with pytest.raises(NmtError, match="one translation per sentence: 2 sentence"):
        check_targets(["A dog.", "A cat."], ["Ein Hund."], "--target")
    with pytest.raises(NmtError, match="--heads scores attention maps"):
        AerSettings(methods=("saliency",), heads=True)
    assert (
        markdown_table(["a", "b", "c"], [[1, 2, 3]], align="lcr").splitlines()[1] == "| :--- | :---: | ---: |"
    )


def test_align_and_aer_from_python(tiny_run: Path, data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    translator = Translator.from_run(tiny_run, device="cpu")
    aligned = align_sentences(translator, ["A dog runs.", "Two men."], DecodeConfig(beam=1), view=WordView())
    table = aligned[1].tables["attention"]
    assert table.text().splitlines()[-1].startswith("strongest: ")
    index = write_folder(aligned, tmp_path / "out", "svg", WordView(), Caption.of_run(translator.run))
    assert index.is_file() and (tmp_path / "out" / "alignments.jsonl").is_file()

    src, tgt, gold_path = (Path(p) for p in gold_files(data_dir)[1::2])
    sources = src.read_text(encoding="utf-8").splitlines()[:3]
    targets = tgt.read_text(encoding="utf-8").splitlines()[:3]
    gold_lines = gold_path.read_text(encoding="utf-8").splitlines()[:3]
    (tmp_path / "gold.txt").write_text("\n".join(gold_lines) + "\n", encoding="utf-8")
    gold = read_checked_gold(tmp_path / "gold.txt", sources, targets)
    report = aer_report(aligning_run(tiny_run, device="cpu"), sources, targets, gold)
    assert report["default"] == report["best"] and 0 <= report["best"]["aer"] <= 1
    assert f"AER {report['diagonal']:.3f}" in report_text(json.loads(json.dumps(report)))
    assert architecture(translator.run.cfg.model)[0].startswith("RNN")
