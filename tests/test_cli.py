"""The real `nmt` command end to end: train a tiny model on real pairs, reload it, translate, evaluate.

Bad input of every kind must end in one clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY_MODEL
from helpers import TINY_RUN, assert_clean_error, gold_files, nmt, run_cli, trained_run
from omegaconf import OmegaConf

from nmt.alignment.force import translation_attention
from nmt.alignment.score import as_trained
from nmt.data.sources import load_split
from nmt.decoding import DecodeConfig, length_penalty
from nmt.errors import NmtError
from nmt.export import CTranslate2Translator
from nmt.rundir import load_config, load_run
from nmt.translate import Translator


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory, *TINY_RUN)


def test_training_writes_a_complete_run_directory(run_dir: Path) -> None:
    for name in ("config.yaml", "spm.model", "best.pt", "last.pt", "train.log"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    log = (run_dir / "train.log").read_text()
    assert "validation at step 30" in log and "300 training pairs" in log


def test_training_logs_attention_heatmaps_to_tensorboard(run_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert "attention/0" in events.Tags()["images"]
    image = events.Images("attention/0")[-1]
    assert image.encoded_image_string.startswith(b"\x89PNG") and image.width > 50
    assert {"valid/bleu", "valid/loss", "train/loss", "train/tokens_per_second"} <= set(
        events.Tags()["scalars"]
    )


def test_training_resumes_from_the_last_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    result = nmt("train", *TINY_RUN, f"run_dir={run_dir}", "trainer.max_steps=35")
    assert "resumed from" in (run_dir / "train.log").read_text(), result.stderr.decode()


def test_translate_arguments_stdin_and_files_one_line_each(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_cli(capsys, "translate", str(run_dir), "A man is walking.", "Two dogs play.")
    assert len(out.splitlines()) == 2 and all(line.strip() for line in out.splitlines())
    lines = ["A dog runs.", "", "  ", "Ein 🐕 läuft 🙂", "مرحبا بالعالم", "line\u2028separator", "end"]
    stdin = ("\n".join(lines) + "\n").encode()
    assert nmt("translate", str(run_dir), "--beam", "2", stdin=stdin).stdout.decode().count("\n") == 7
    source = tmp_path / "in.txt"
    source.write_text("\n".join([*lines, "word " * 2000]) + "\n")
    options = [
        "--beam",
        "1",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "out"),
        "--align",
        str(tmp_path / "al"),
    ]
    result = nmt("translate", str(run_dir), *options)  # a process of its own: the warning is logged
    translations = (tmp_path / "out").read_text().split("\n")[:-1]
    assert len(translations) == 8
    records = [json.loads(line) for line in (tmp_path / "al").read_text().splitlines()]
    assert len(records) == 8 and records[1]["tgt_words"] == []
    assert translations[1] == "" and translations[2] == ""
    assert "translating its first" in result.stderr.decode()  # the over-long line is cut, with a warning


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


def test_the_transformer_trains_translates_and_aligns_through_the_same_commands(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "transformer"
    overrides = [o.replace("rnn_bahdanau", "transformer") for o in TINY_RUN if not o.startswith("model.")]
    nmt("train", *overrides, *TINY_MODEL["transformer"], "trainer.max_steps=10", f"run_dir={run}")
    out = nmt("translate", str(run), "--beam", "2", stdin=b"A dog runs.\n\nTwo men.\n").stdout.decode()
    assert out.count("\n") == 3 and out.split("\n")[1] == ""
    check_ctranslate2_export(run, capsys)
    assert run_cli(capsys, "aer", str(run), *gold_files(data_dir), "--heads")[0] == 0
    report = json.loads((run / "aer.json").read_text())
    # its readings: the map translations carry (align_layer -1: the last layer; the mean of the
    # heads), as read and shifted; the diagnostics: 2 layers x (the mean + 2 heads) x both
    assert [(r["layer"], r["head"], r["shifted"]) for r in report["rows"]] == [
        (1, "mean", False),
        (1, "mean", True),
    ]
    assert report["default"] == report["rows"][0]
    assert len(report["heads"]) == 2 * 3 * 2 and report["rows"][1] in report["heads"]


def check_ctranslate2_export(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The export gives CTranslate2 our model exactly: the same log-probability for every output,
    and `--engine ctranslate2` translates through the same command, one line per input."""
    for quantization in ([], ["--quantization", "int8"]):
        assert run_cli(capsys, "export", str(run), "--format", "ctranslate2", *quantization)[0] == 0
    exported = CTranslate2Translator(run / "ctranslate2")
    sources = ["A dog runs.", "Two men sit on a bench in the park."]
    ours = Translator.from_run(str(run), device="cpu", precision="fp32")  # as the export
    for source, nbest in zip(sources, ours.translate(sources, beam=3, nbest=3), strict=True):
        src = [[*exported.src_vocab.pieces(exported.src_vocab.encode([source])[0]), "</s>"]] * len(nbest)
        scored = exported.translator.score_batch(src, [h.tgt_tokens[:-1] for h in nbest])
        assert [sum(s.log_probs) for s in scored] == pytest.approx([h.log_prob for h in nbest], abs=1e-3)
    for folder in ("ctranslate2", "ctranslate2-int8"):
        out = nmt(
            "translate", str(run / folder), "--engine", "ctranslate2", stdin=b"A dog runs.\n\nTwo men.\n"
        )
        assert out.stdout.decode().count("\n") == 3 and out.stdout.decode().split("\n")[1] == ""
    status, _, err = run_cli(capsys, "translate", str(run), "--engine", "ctranslate2", "Hi.")
    assert status == 1 and "export" in err and "Traceback" not in err
    check_ctranslate2_ranking(exported, sources)


def check_ctranslate2_ranking(exported: CTranslate2Translator, sources: list[str]) -> None:
    """CTranslate2's hypotheses carry their log-probability (recovered from its own length
    normalisation) and are ranked by ours; prefixes are checked as ours are."""
    for alpha in (0.0, 0.6, 1.5):
        found = exported.translate(sources, DecodeConfig(beam=4, nbest=3, alpha=alpha))
        for source, nbest in zip(sources, found, strict=True):
            src = [[*exported.src_vocab.pieces(exported.src_vocab.encode([source])[0]), "</s>"]] * len(nbest)
            scored = exported.translator.score_batch(src, [h.tgt_tokens[:-1] for h in nbest])
            assert [h.log_prob for h in nbest] == pytest.approx([sum(s.log_probs) for s in scored], abs=1e-3)
            expected = [h.log_prob / length_penalty(len(h.tgt_tokens), alpha) for h in nbest]
            assert [h.score for h in nbest] == pytest.approx(expected, abs=1e-5)
            assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
    with pytest.raises(NmtError, match="2 prefixes for 1 sentences"):
        exported.translate(["A dog runs."], prefixes=["Ein", "Zwei"])
    with pytest.raises(NmtError, match="prefix"):
        exported.translate(["A dog runs."], prefixes=["漢字"])


def test_ctranslate2_refuses_rnn_runs(run_dir: Path) -> None:
    assert_clean_error(nmt("export", str(run_dir), "--format", "ctranslate2", check=False), "Transformer")


def test_align_reads_a_translation_under_teacher_forcing_as_the_search_carried_it(run_dir: Path) -> None:
    """`nmt align` re-reads the chosen translation's alignment under teacher forcing, as `nmt aer`
    does; for a left-to-right map that is the attention the beam search carried."""
    translator = Translator.from_run(str(run_dir), device="cpu", precision="fp32")
    best = [n[0] for n in translator.translate(["A man is walking.", "Two dogs play in the snow."], beam=3)]
    forced = translation_attention(translator.run, [(h.src_tokens, h.tgt_tokens) for h in best])
    for hypothesis, matrix in zip(best, forced, strict=True):
        assert matrix.shape == hypothesis.attention.shape
        torch.testing.assert_close(matrix, hypothesis.attention, atol=1e-4, rtol=0)


def test_align_prints_the_word_table_and_draws_heatmaps(run_dir: Path, tmp_path: Path) -> None:
    out = nmt("align", str(run_dir), "A man is walking.", "--out", str(tmp_path / "a.svg")).stdout.decode()
    assert "A man is walking." in out  # the source words head the table, punctuation apart
    assert out.splitlines()[2].split() == ["A", "man", "is", "walking", "."]
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")
    source = tmp_path / "in.txt"
    source.write_text("A dog runs.\nTwo men talk.\n")
    nmt("align", str(run_dir), "--input", str(source), "--out-dir", str(tmp_path / "html"))
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == [
        "0001.png",
        "0002.png",
        "alignments.jsonl",
        "alignments.npz",
        "index.html",
    ]
    assert "Two men talk." in (tmp_path / "html" / "index.html").read_text()


def test_align_aligns_a_given_translation_under_teacher_forcing(run_dir: Path, tmp_path: Path) -> None:
    """`--target` (`--tgt FILE` for `--input`) aligns the given translation, not the model's own."""
    out = nmt("align", str(run_dir), "A man is walking.", "--target", "Ein Mann geht.").stdout.decode()
    source, translation, header, *rows = out.splitlines()
    assert (source, translation, header.split()) == (
        "A man is walking.",
        "Ein Mann geht.",
        ["A", "man", "is", "walking", "."],
    )
    table = [row.split() for row in rows[:4]]
    assert [row[0] for row in table] == ["Ein", "Mann", "geht", "."]
    assert all(abs(sum(map(float, row[1:])) - 1) < 0.03 for row in table)
    sources, targets = tmp_path / "src.txt", tmp_path / "tgt.txt"
    sources.write_text("A dog runs.\nTwo men talk.\n")
    targets.write_text("Ein Hund rennt.\n\n")
    result = nmt("align", str(run_dir), "--input", str(sources), "--tgt", str(targets), check=False)
    assert_clean_error(result, str(targets), "pair 2 is empty")
    result = nmt(
        "align", str(run_dir), "A dog runs.", "Two men talk.", "--target", "Ein Hund rennt.", check=False
    )
    assert_clean_error(result, "--target", "2 sentence(s), 1 given")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_demo_prints_the_word_matrix_and_draws_it(run_dir: Path, tmp_path: Path) -> None:
    """`make demo` on an existing run (no training, no install: the running interpreter's nmt)."""
    bin_dir = Path(sys.executable).parent
    variables = [f"BIN={bin_dir}", f"RUN={run_dir}", f"DEMO_OUT={tmp_path / 'love.png'}", "BEAM=2"]
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "-o", f"{bin_dir}/.installed", "demo", *variables],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines.index("I love you.") + 2  # the source, its translation, then the table
    assert lines[header].split() == ["I", "love", "you", "."]
    *table, strongest = itertools.takewhile(bool, lines[header + 1 :])
    rows = [line.split() for line in table]
    assert rows and all(len(row) == 5 and abs(sum(map(float, row[1:])) - 1) < 0.03 for row in rows)
    # then each French word's strongest English word: the maximum of its row
    pairs = strongest.removeprefix("strongest: ").split(", ")
    for (word, *weights), pair in zip(rows, pairs, strict=True):
        link, weight = pair.split(" ")
        assert link.split("→")[0] == word and float(weight) == max(map(float, weights))
        assert weights[["I", "love", "you", "."].index(link.split("→")[1])] == weight
    assert f"heatmap: {tmp_path / 'love.png'}" in lines
    assert (tmp_path / "love.png").read_bytes().startswith(b"\x89PNG")


def test_aer_scores_forced_attention_against_gold_links(run_dir: Path, data_dir: Path) -> None:
    out = nmt("aer", str(run_dir), *gold_files(data_dir)).stdout.decode()
    report = json.loads((run_dir / "aer.json").read_text())
    assert len(report["rows"]) == 1 and report["default"] == report["best"]  # an RNN has one attention map
    assert 0.0 <= report["best"]["aer"] <= 1.0 and f"{report['best']['aer']:.3f} (default, best)" in out
    assert 0.0 < report["diagonal"] < 1.0 and f"AER {report['diagonal']:.3f}" in out


def test_aer_reads_saliency_symmetrizes_two_runs_and_scores_the_aligner(
    run_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Three trial sentences; the tiny run stands in for both directions (the plumbing, not the AER)."""
    files = gold_files(data_dir)
    for flag in ("--src", "--tgt", "--gold"):
        path = Path(files[files.index(flag) + 1])
        files[files.index(flag) + 1] = str(tmp_path / path.name)
        (tmp_path / path.name).write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    options = ["--method", "attention", "saliency", "--backward", str(run_dir), "--aligner"]
    out = nmt("aer", str(run_dir), *files, *options).stdout.decode()
    report = json.loads((run_dir / "aer.json").read_text())
    assert [row["method"] for row in report["rows"]] == ["attention", "saliency"]
    for row in report["rows"]:
        assert {"aer", "backward", "intersection", "union", "grow-diag-final-and"} <= row.keys()
        assert all(0.0 <= row[key] <= 1.0 for key in ("aer", "intersection", "union"))
    assert len(report["agreement"]["spearman"]) == 3 and -1 <= report["agreement"]["mean"] <= 1
    assert set(report["aligner"]) == {"forward", "backward", "intersection", "union", "grow-diag-final-and"}
    assert "| grow-diag-final-and |" in out.splitlines()[0] and "Spearman rho per sentence" in out
    assert "statistical aligner (eflomal, 300 training pairs + these 3)" in out


def test_gold_text_reaches_a_lowercased_run_lowercased(run_dir: Path) -> None:
    run = load_run(run_dir)
    lines = ["I thank Mr Speaker .", "le projet de loi C - 49 ."]
    assert as_trained(run, lines) == lines  # trained on cased text: given as it is
    lowercased = replace(run, cfg=OmegaConf.merge(run.cfg, {"data": {"lowercase": True}}))
    assert as_trained(lowercased, lines) == ["i thank mr speaker .", "le projet de loi c - 49 ."]


def test_a_run_saved_before_a_data_option_existed_reads_as_its_default(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-run"
    old.mkdir()
    saved = OmegaConf.load(run_dir / "config.yaml")
    del saved.data["tokenize"]
    OmegaConf.save(saved, old / "config.yaml")
    cfg = load_config(old)
    assert cfg.data.tokenize == "none" and cfg.data.src_lang == saved.data.src_lang
    assert load_split(cfg.data, "valid", cfg.cache_dir) == load_split(
        load_config(run_dir).data, "valid", cfg.cache_dir
    )


def test_align_shows_saliency_beside_attention(run_dir: Path, tmp_path: Path) -> None:
    options = ["--method", "both", "--beam", "2", "--out", str(tmp_path / "a.png")]
    out = nmt("align", str(run_dir), "A man is walking.", *options, "--out-dir", str(tmp_path / "both"))
    lines = out.stdout.decode().splitlines()
    assert "attention:" in lines and "saliency:" in lines
    assert any(line.startswith("attention vs saliency: Spearman rho ") for line in lines)
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    assert {"alignments.jsonl", "saliency.jsonl", "saliency.npz", "0001.png"} <= {
        p.name for p in (tmp_path / "both").iterdir()
    }
    salient = json.loads((tmp_path / "both" / "saliency.jsonl").read_text())
    assert all(abs(sum(row) - 1) < 1e-3 for row in salient["attention"])


def test_a_gold_file_that_does_not_fit_the_text_is_refused(data_dir: Path, tmp_path: Path) -> None:
    files = gold_files(data_dir)
    files[files.index("--gold") + 1] = str(data_dir / "alignments/en-fr/normalized/trial.gold.1based.talp")
    result = nmt("aer", str(tmp_path / "no-run"), *files, check=False)
    assert_clean_error(result, "trial.gold.1based.talp:", "looks 1-based (pass --one-based)")


def test_heads_need_attention_to_scan(data_dir: Path, tmp_path: Path) -> None:
    options = ["--method", "saliency", "--heads"]
    result = nmt("aer", str(tmp_path / "no-run"), *gold_files(data_dir), *options, check=False)
    assert_clean_error(result, "--heads", "add --method attention")


@pytest.mark.slow
def test_supervised_attention_trains_with_eflomal_links(tmp_path: Path) -> None:
    run = tmp_path / "supervised"
    nmt("train", *TINY_RUN, "trainer.alignment_weight=1", f"run_dir={run}")
    assert "validation at step 30" in (run / "train.log").read_text()
    cache = Path(os.environ["NMT_CACHE_DIR"]) / "prepared"
    assert list(cache.glob("*/links-*/links.npz"))


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


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.clean.max_words=1"], ["cleaning dropped all 300 pairs", "data.clean", "max_words=1"]),
        (["data.spm.vocab_size=20"], ["data.spm.vocab_size=20 is too small", "at least"]),
    ],
)
def test_unusable_training_data_is_named_before_the_run_directory_is_touched(
    tmp_path: Path, overrides: list[str], expected: list[str]
) -> None:
    run = tmp_path / "run"
    result = nmt("train", *TINY_RUN, f"run_dir={run}", *overrides, check=False)
    assert_clean_error(result, *expected)
    assert not run.exists()


def test_an_empty_corpus_is_named_and_the_run_directory_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "e.en").write_text("")
    (tmp_path / "e.de").write_text("")
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    overrides = [f"data.train.src.path={tmp_path / 'e.en'}", f"data.train.tgt.path={tmp_path / 'e.de'}"]
    result = nmt("train", *TINY_RUN, f"run_dir={run}", *overrides, check=False)
    assert_clean_error(result, "e.en", "e.de", "no sentence pairs")
    assert [p.name for p in run.iterdir()] == ["notes.txt"]


# ---------------------------------------------------------------- decoding
def test_decoding_options_that_make_no_sense_name_the_option(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["--beam", "0"], "--beam 0"),
        (["--nbest", "0"], "--nbest 0"),
        (["--batch-size", "0"], "--batch-size 0"),
        (["--nbest", "6", "--beam", "5"], "--nbest 6"),
        (["--sample", "--top-p", "1.5"], "--top-p"),
        (["--sample", "--temperature", "0"], "--temperature"),
        (["--prefix", "漢字"], "prefix"),
        (["--attention-from", "first"], "--attention-from"),
        (["--precision", "fp64"], "--precision: unknown 'fp64'"),
        (["--precision", "fp16", "--device", "cpu"], "--precision: fp16 needs a CUDA GPU"),
    ]
    assert_clean_error(nmt("translate", str(run_dir), "A man.", *cases[0][0], check=False), cases[0][1])
    bad = ["--split", "valid", "--precision", "half"]
    in_process = [(["translate", str(run_dir), "A man.", *options], named) for options, named in cases[1:]]
    in_process += [(["evaluate", str(run_dir), *bad], "--precision: unknown 'half'")]
    in_process += [(["score", str(run_dir), "--src", "x", "--tgt", "y"], "x")]
    for argv, named in in_process:  # the same main() as the command, in this process (seconds faster)
        status, _, err = run_cli(capsys, *argv)
        assert status != 0 and named in err and "Traceback" not in err, (argv, err)


def test_precision_is_an_option_and_keys_the_hypothesis_cache(run_dir: Path) -> None:
    """auto keeps an RNN in fp32 on a CPU; bf16 really computes in bf16 (the same outputs score a
    little differently); evaluate records the precision, which the hypothesis cache matches."""
    auto, fp32, bf16 = (
        Translator.from_run(str(run_dir), device="cpu", precision=p) for p in ("auto", "fp32", "bf16")
    )
    assert (auto.precision, fp32.precision, bf16.precision) == ("fp32", "fp32", "bf16")
    lines = ["A man is walking.", "Two dogs play in the snow."]
    outputs = [n[0].text for n in fp32.translate(lines, beam=3)]
    exact, rounded = fp32.score(lines, outputs), bf16.score(lines, outputs)
    assert [r.log_prob for r in rounded] != [e.log_prob for e in exact]
    assert [r.log_prob for r in rounded] == pytest.approx([e.log_prob for e in exact], rel=0.05)
    report = run_dir / "hyps" / "valid.beam1.json"
    for precision in ("bf16", "fp32"):
        nmt("evaluate", str(run_dir), "--split", "valid", "--beam", "1", "--precision", precision)
        assert json.loads(report.read_text())["precision"] == precision


def test_score_is_the_searchs_own_log_probability_of_its_output(run_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_text("A man is walking.\nTwo dogs play in the snow.\nA girl.\n")
    out, align = tmp_path / "out.txt", tmp_path / "al.jsonl"
    nmt(
        "translate",
        str(run_dir),
        "--beam",
        "3",
        "--input",
        str(source),
        "-o",
        str(out),
        "--align",
        str(align),
    )
    searched = [json.loads(line)["log_prob"] for line in align.read_text().splitlines()]
    scored = nmt("score", str(run_dir), "--src", str(source), "--tgt", str(out)).stdout.decode().split()
    assert [float(s) for s in scored] == pytest.approx(searched, abs=1e-3)


def test_sampling_prefixes_and_ensembles_through_the_command_line(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def translate(*argv: str) -> str:
        status, out, err = run_cli(capsys, "translate", *argv)
        assert status == 0, err
        return out

    lines = ["A man is walking.", "Two dogs play."]
    sample = ["--sample", "--nbest", "3", "--seed", "5"]
    first = translate(str(run_dir), *lines, *sample).splitlines()
    assert first == translate(str(run_dir), *lines, *sample).splitlines()
    assert [line.split("\t")[0] for line in first] == ["1", "1", "1", "2", "2", "2"]
    prefixed = translate(str(run_dir), *lines, "--prefix", "Ein Hund").splitlines()
    assert len(prefixed) == 2 and all(line.startswith("Ein Hund") for line in prefixed)
    alone = translate(str(run_dir), *lines, "--beam", "3")
    assert translate(str(run_dir), str(run_dir), *lines, "--beam", "3") == alone


def test_align_records_escape_every_line_break_and_long_inputs_show_progress(
    run_dir: Path, tmp_path: Path
) -> None:
    breaks = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
    lines = [f"A dog{c}runs." for c in breaks] + ["A man.", "Two men.", "A cat.", "", "End."]
    source = tmp_path / "in.txt"
    source.write_bytes(("\n".join(lines) + "\n").encode())
    align = tmp_path / "al.jsonl"
    options = ["--input", str(source), "--align", str(align), "--batch-size", "4", "--beam", "1"]
    result = nmt("translate", str(run_dir), *options)
    assert len(result.stdout.decode().split("\n")[:-1]) == 13
    records = align.read_text(encoding="utf-8").splitlines()  # splits on every break str knows
    assert len(records) == 13 and json.loads(records[5])["source"] == "A dog\x85runs."
    assert "sent/s" in result.stderr.decode()  # the progress bar, on stderr
