"""The attention family end to end at toy scale: the real sweep config (`nmt train -m
+experiment=attention_family`) trains every new model config, the Transformers with two seeds;
`nmt compare` adds attention statistics and groups the seeds; AER, `nmt align` and `nmt translate`
read every type through the same capability API."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import TINY_MODEL
from helpers import assert_clean_error, gold_files, nmt

from nmt.alignment.aer import read_gold
from nmt.alignment.score import aer_rows, links_of, word_matrices
from nmt.rundir import load_run

RNNS = [
    "rnn_luong_local_m",
    "rnn_luong_local_p",
    "rnn_bahdanau_sparsemax",
    "rnn_bahdanau_entmax15",
    "rnn_bahdanau_hard",
    "rnn_bahdanau_coverage",
]
TRANSFORMERS = ["transformer_relpos", "transformer_entmax15"]
TOY = [
    "+experiment=attention_family",
    "trainer.max_minutes=null",
    "trainer.max_steps=2",
    "trainer.valid_every=2",
    "trainer.valid_bleu_sentences=5",
    "trainer.batch_tokens=512",
    "trainer.log_every=2",
    "data.train.max_pairs=200",
    "data.valid.max_pairs=20",
    "data.test.max_pairs=20",
    "data.spm.vocab_size=300",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/family/multi30k_en_fr at toy scale: MODEL/seedN for every new config."""
    root = tmp_path_factory.mktemp("family") / "multi30k_en_fr"
    sweep = [*TOY, f"hydra.sweep.dir={root}"]
    nmt("train", "-m", *sweep, f"model={','.join(RNNS)}", "seed=1", *TINY_MODEL["rnn"])
    # one model per call: a multirun composes its first config with the default (RNN) model, which
    # the Transformer's overrides do not fit
    for model, seeds in zip(TRANSFORMERS, ("1,2", "1"), strict=True):
        nmt("train", "-m", *sweep, f"model={model}", f"seed={seeds}", *TINY_MODEL["transformer"])
    return root


def run_dirs(sweep: Path) -> list[Path]:
    return sorted(sweep.glob("*/seed*"))


@pytest.fixture(scope="module")
def compared(sweep: Path) -> dict[str, dict[str, str]]:
    """`nmt compare` on every run: comparison.csv rows by run name."""
    nmt("compare", *map(str, run_dirs(sweep)), "--bootstrap", "100")
    with (sweep / "comparison.csv").open() as f:
        return {row["run"]: row for row in csv.DictReader(f)}


def test_the_sweep_trains_every_config_and_seed_into_its_own_directory(sweep: Path) -> None:
    expected = [f"{m}/seed1" for m in RNNS + TRANSFORMERS] + ["transformer_relpos/seed2"]
    assert sorted(str(d.relative_to(sweep)) for d in run_dirs(sweep)) == sorted(expected)
    for run in run_dirs(sweep):
        assert (run / "best.pt").is_file()
        config = (run / "config.yaml").read_text()
        assert f"name: {run.parent.name}\n" in config and f"seed: {run.name[4:]}\n" in config


def test_compare_reports_attention_statistics_of_every_type(sweep: Path, compared: dict) -> None:
    assert set(compared) == {str(d.relative_to(sweep)) for d in run_dirs(sweep)}
    for row in compared.values():
        assert float(row["entropy"]) >= 0 and 0 <= float(row["zeros"]) < 1
        assert 0 < float(row["max_weight"]) <= 1 and 0 <= float(row["diagonal"]) <= 1
    hard = compared["rnn_bahdanau_hard/seed1"]
    assert float(hard["max_weight"]) == 1 and float(hard["entropy"]) == 0 and float(hard["zeros"]) > 0.5
    for local in ("rnn_luong_local_m/seed1", "rnn_luong_local_p/seed1"):
        assert float(compared[local]["zeros"]) > 0  # captions are longer than a window of 2 x 5 + 1
    assert float(compared["rnn_bahdanau_coverage/seed1"]["zeros"]) == 0  # softmax: nothing exactly 0
    assert "local-p (D=5)" in compared["rnn_luong_local_p/seed1"]["attention"]
    assert "relative positions (k=16)" in compared["transformer_relpos/seed1"]["attention"]


def test_compare_groups_the_seeds_of_a_config(sweep: Path, compared: dict) -> None:
    with (sweep / "groups.csv").open() as f:
        groups = {row["group"]: row for row in csv.DictReader(f)}
    assert set(groups) == set(RNNS + TRANSFORMERS)
    group, seeds = groups["transformer_relpos"], [compared[f"transformer_relpos/seed{s}"] for s in (1, 2)]
    assert int(group["runs"]) == 2 and group["members"] == "transformer_relpos/seed1 transformer_relpos/seed2"
    for metric in ("chrf", "entropy"):
        values = [float(run[metric]) for run in seeds]
        assert float(group[f"{metric}_mean"]) == pytest.approx(sum(values) / 2, abs=1e-6)
        assert float(group[f"{metric}_sd"]) == pytest.approx(abs(values[0] - values[1]) / 2**0.5, abs=1e-6)
    singles = [m for m in groups if m != "transformer_relpos"]
    assert all(int(groups[m]["runs"]) == 1 and float(groups[m]["bleu_sd"]) == 0 for m in singles)
    report = (sweep / "comparison.md").read_text()
    assert "## Seeds" in report and "| config | runs | BLEU | chrF |" in report
    assert "paired bootstrap over the test sentences" in report
    with (sweep / "bleu_by_length.csv").open() as f:
        assert {f"{m}/seed1" for m in RNNS + TRANSFORMERS} <= set(next(csv.DictReader(f)))


def test_aer_scores_every_type(sweep: Path, data_dir: Path) -> None:
    gold = data_dir / "alignments/en-fr/normalized"
    sources = (gold / "trial.en").read_text().splitlines()[:8]
    targets = (gold / "trial.fr").read_text().splitlines()[:8]
    links = read_gold(gold / "trial.gold.0based.txt")[:8]
    for run_dir in run_dirs(sweep):
        run = load_run(run_dir, "best", "cpu")
        rows = aer_rows(links_of(word_matrices(run, sources, targets, every_head=True)), links)
        layers, heads = run.model.attention_grid
        assert len(rows) == layers * (1 + heads if heads > 1 else 1) * (
            2 if run.model.alignment_may_lag else 1
        )
        assert all(0 <= row["aer"] <= 1 for row in rows)


@pytest.mark.parametrize("model", ["rnn_bahdanau_coverage", "transformer_relpos"])
def test_translate_and_align_from_the_command_line(sweep: Path, model: str, tmp_path: Path) -> None:
    run = str(sweep / model / "seed1")
    out = nmt(
        "translate", run, "--beam", "3", "--align", str(tmp_path / "al.jsonl"), "A man sleeps.", "Two dogs."
    )
    assert len(out.stdout.decode().splitlines()) == 2
    for record in map(json.loads, (tmp_path / "al.jsonl").read_text().splitlines()):
        assert all(abs(sum(row) - 1) < 1e-3 for row in record["attention"])
    nmt("align", run, "A man sleeps.", "--out", str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.parametrize(
    "model", [m for m in RNNS + TRANSFORMERS if m not in ("rnn_bahdanau_coverage", "transformer_relpos")]
)
def test_every_new_type_translates_and_scores_alignments_from_the_command_line(
    sweep: Path, model: str, tmp_path: Path, data_dir: Path
) -> None:
    run = str(sweep / model / "seed1")
    assert len(nmt("translate", run, "--beam", "5", "A man sleeps.").stdout.decode().splitlines()) == 1
    nmt("align", run, "A man sleeps.", "--out", str(tmp_path / "map.png"))
    nmt("aer", run, *gold_files(data_dir))
    assert 0 <= json.loads((Path(run) / "aer.json").read_text())["default"]["aer"] <= 1


def test_ctranslate2_export_refuses_attention_it_cannot_write(sweep: Path, tmp_path: Path) -> None:
    run, out = sweep / "transformer_relpos/seed1", tmp_path / "ct2"
    failed = nmt("export", str(run), "--format", "ctranslate2", "--out", str(out), check=False)
    assert_clean_error(failed, "model.max_relative_position=16", "nmt translate")
    assert not out.exists()
