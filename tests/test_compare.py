"""`make compare` at toy scale: the experiment's real Hydra multirun through `nmt train -m`, then
`nmt compare` on the runs it wrote (a table with significance, a CSV, BLEU by source length)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, tiny_model_config
from helpers import TINY_RUN, assert_clean_error, gold_files, nmt
from sentencepiece import SentencePieceProcessor

from nmt.models.describe import architecture

MODELS = ["rnn_noattn", "rnn_bahdanau"]
SWEEP = [
    "+experiment=compare_attention",
    f"model={','.join(MODELS)}",  # replaces the experiment's list of models
    *(o for o in TINY_RUN if not o.startswith("model=")),
    "trainer.max_steps=10",
    "trainer.valid_every=10",
    "trainer.batch_tokens=512",
    "data.test.max_pairs=40",
]
CSV_COLUMNS = [
    "run",
    "family",
    "attention",
    "parameters",
    "train_minutes",
    "tokens_per_second",
    "valid_bleu",
    "bleu",
    "bleu_mean",
    "bleu_ci95",
    "bleu_p",
    "chrf",
    "chrf_mean",
    "chrf_ci95",
    "chrf_p",
    "aer",
    "entropy",
    "zeros",
    "max_weight",
    "diagonal",
    "dir",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the sweep's runs (hydra.sweep.dir moved from runs/compare/multi30k_en_de)."""
    root = tmp_path_factory.mktemp("compare") / "multi30k_en_de"
    nmt("train", "-m", *SWEEP, f"hydra.sweep.dir={root}")
    return root


@pytest.fixture(scope="module")
def compared(sweep: Path) -> str:
    """`nmt compare` on every run of the sweep, writing beside them; returns what it printed."""
    return nmt("compare", *(str(sweep / m) for m in MODELS), "--bootstrap", "200").stdout.decode()


def pieces(path: Path) -> list[tuple[str, float]]:
    """Every piece of a sentencepiece model with its score, in id order."""
    sp = SentencePieceProcessor(model_file=str(path))
    return [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def test_the_sweep_trains_each_model_into_its_own_run_directory(sweep: Path) -> None:
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == sorted(MODELS)
    assert (sweep / "multirun.yaml").is_file()
    for model in MODELS:
        run = sweep / model
        assert (run / "best.pt").is_file() and (run / ".hydra" / "overrides.yaml").is_file()
        assert f"run_dir: {run}\n" in (run / "config.yaml").read_text()
        # a run's log ends with the run: the next job's data preparation is not in it
        log = (run / "train.log").read_text()
        assert "nmt.data.store" not in log and "nmt.data.cache_entries" not in log
    # sentencepiece training is deterministic: same pieces and scores (the files differ only in the
    # model_prefix path the trainer records)
    assert pieces(sweep / MODELS[0] / "spm.model") == pieces(sweep / MODELS[1] / "spm.model")


def test_compare_writes_the_table_the_csv_and_bleu_by_length(sweep: Path, compared: str) -> None:
    report = (sweep / "comparison.md").read_text()
    assert report in compared
    assert "| run | family | attention | parameters |" in report and "nrefs:1|bs:200|seed:12345" in report
    assert "baseline **rnn_noattn**" in report and "## BLEU by source length" in report
    with (sweep / "comparison.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == CSV_COLUMNS
    assert [r["run"] for r in rows] == MODELS  # the baseline first
    baseline, other = rows
    assert baseline["bleu_p"] == "" and 0.0 < float(other["bleu_p"]) <= 1.0 and float(other["chrf_p"]) > 0
    assert int(other["parameters"]) > int(baseline["parameters"])  # attention adds parameters
    assert float(other["train_minutes"]) >= 0 and float(other["tokens_per_second"]) > 0
    assert other["aer"] == "" and float(other["chrf_ci95"]) >= 0
    assert baseline["entropy"] == "" and float(other["entropy"]) > 0 and float(other["zeros"]) == 0  # softmax
    assert 0 < float(other["max_weight"]) <= 1 and 0 <= float(other["diagonal"]) <= 1
    assert not (sweep / "groups.csv").exists() and "## Seeds" not in report  # one seed each
    with (sweep / "bleu_by_length.csv").open() as f:
        buckets = list(csv.DictReader(f))
    assert sum(int(b["sentences"]) for b in buckets) == 40 and set(MODELS) <= buckets[0].keys()
    assert (sweep / "bleu_by_length.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert len((sweep / MODELS[0] / "hyps" / "test.beam5.txt").read_text().splitlines()) == 40


def test_compare_takes_another_baseline_and_output_folder(sweep: Path, compared: str, tmp_path: Path) -> None:
    """Reads the hypotheses that `compared` wrote into the runs instead of translating again."""
    runs = [str(sweep / m) for m in MODELS]
    nmt("compare", *runs, "--baseline", "rnn_bahdanau", "--out", str(tmp_path), "--bootstrap", "50")
    with (tmp_path / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == MODELS[::-1] and rows[0]["bleu_p"] == "" and rows[1]["bleu_p"]
    assert_clean_error(nmt("compare", *runs, "--baseline", "nope", check=False), "nope", "rnn_noattn")


def test_compare_reports_the_aer_that_nmt_aer_measured(
    sweep: Path, compared: str, data_dir: Path, tmp_path: Path
) -> None:
    """On copies of the runs, so that the sweep's own stay without aer.json."""
    runs = [shutil.copytree(sweep / m, tmp_path / m) for m in MODELS]
    files = gold_files(data_dir)
    assert_clean_error(nmt("aer", str(runs[0]), *files, check=False), "attention is none")
    nmt("aer", str(runs[1]), *files)
    nmt("compare", *map(str, runs), "--out", str(tmp_path), "--bootstrap", "50")
    with (tmp_path / "comparison.csv").open() as f:
        aer = {row["run"]: row["aer"] for row in csv.DictReader(f)}
    assert aer["rnn_noattn"] == "" and 0.0 <= float(aer["rnn_bahdanau"]) <= 1.0
    assert "| AER |" in (tmp_path / "comparison.md").read_text()
    (runs[1] / "aer.json").write_text('{"best": {"aer": 0.5}}')  # the format before "default"
    failed = nmt("compare", *map(str, runs), "--out", str(tmp_path), check=False)
    assert_clean_error(failed, "aer.json", "run `nmt aer` again")


@pytest.mark.slow  # a benchmark's smoke run: `make bench` runs it for real
def test_the_decoding_benchmark_times_each_search_with_and_without_the_cache(sweep: Path) -> None:
    """``scripts/bench_decode.py`` on a trained run of the sweep: a row per search and decoder, each
    with a speed and a BLEU score."""
    run = sweep / "rnn_bahdanau"
    command = ["--run", str(run), "--sentences", "8", "--batch-size", "4", "--device", "cpu"]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_decode.py"), *command],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| rnn_bahdanau")]
    assert sorted((r[1].strip(), r[2].strip()) for r in rows) == sorted(
        (search, decoder)
        for search in ("greedy", "beam 5", "sampling")
        for decoder in ("incremental", "no cache")
    )
    assert all(float(r[3].replace(",", "")) > 0 and 0 <= float(r[6]) <= 100 for r in rows)
    assert "cpu; 8 sentences" in done.stdout


@pytest.mark.parametrize(
    ("name", "attention"),
    [
        ("rnn_bahdanau", "additive"),
        ("rnn_bahdanau_coverage", "additive, coverage (loss 1.0)"),
        ("rnn_bahdanau_lexical", "additive, word keys, lexical model"),
    ],
)
def test_the_table_names_each_attention_switch(name: str, attention: str) -> None:
    assert architecture(tiny_model_config(name))[1] == attention
