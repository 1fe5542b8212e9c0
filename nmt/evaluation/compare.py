"""Compare trained runs on one test set: a table with 95% confidence intervals and paired-bootstrap
p-values against a baseline, and BLEU by source length.

``compare(run_dirs, out_dir)`` writes into ``out_dir``:

comparison.md          the table, the sacreBLEU signatures, how the numbers were computed, BLEU by length
comparison.csv         every column of the table, one row per run
groups.csv             when a model config was trained with several seeds: one row per config, mean
                       and standard deviation over its runs (also a table in comparison.md, with the
                       paired bootstrap between the best two configs)
bleu_by_length.csv     BLEU of every run in every source-length bucket
bleu_by_length.png     the same as a plot, one line per run (per config, the mean of its runs, when
                       configs were trained with several seeds; so is its table in comparison.md)
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest, Result
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nmt.data.pipeline import Pairs, load_pairs
from nmt.decoding import DecodeConfig
from nmt.errors import NmtError
from nmt.evaluation.attention_stats import STATISTICS, AttentionStatistics, attention_statistics
from nmt.evaluation.hypotheses import load_or_translate
from nmt.evaluation.length import bleu_by_length, length_buckets, length_table, plot_bleu_by_length
from nmt.evaluation.seeds import Group, group_runs, mean_sd, seed_bootstrap
from nmt.outputs import atomic_write, check_output, write_text
from nmt.rundir import load_config, load_run
from nmt.runtime import resolve_device
from nmt.translate import Translator

BASELINE = "rnn_noattn"  # the default baseline, when one of the runs is it
SPEED_TAG = "train/tokens_per_second"  # TensorBoard scalar the trainer logs every log_every steps
LAST_LOGGED = 10  # tokens/s is the mean of this many last logged values
MARKDOWN_COLUMNS = {  # comparison.csv column: its comparison.md header (the CSV has more columns)
    "run": "run",
    "family": "family",
    "attention": "attention",
    "parameters": "parameters",
    "train_minutes": "train min",
    "tokens_per_second": "tok/s",
    "valid_bleu": "valid BLEU",
    "bleu": "BLEU (95% CI)",
    "bleu_p": "p",
    "chrf": "chrF (95% CI)",
    "chrf_p": "p",
    "aer": "AER",
    "entropy": "entropy",
    "zeros": "zeros",
    "max_weight": "max weight",
    "diagonal": "diagonal",
}
GROUP_METRICS = ("bleu", "chrf", "aer", *STATISTICS)  # what groups.csv averages over seeds


@dataclass
class RunSummary:
    """What a run directory says about itself, and its hypotheses for the test set."""

    dir: Path
    cfg: DictConfig
    parameters: int
    train_minutes: float | None  # training time without validation (last.pt "progress.train_seconds")
    tokens_per_second: float | None  # source + target tokens, mean of the last values in TensorBoard
    valid_bleu: float | None  # best greedy validation BLEU during training (best.pt "bleu")
    aer: float | None  # AER of the attention translations carry (aer.json "default"), when measured
    attention: AttentionStatistics | None  # of its translations' attention (None: uniform, no attention)
    hyps: list[str]


def compare(
    run_dirs: Sequence[Path],
    out_dir: Path | None = None,
    *,
    baseline: str | None = None,
    split: str = "test",
    config: DecodeConfig | None = None,
    bootstrap: int = 1000,
    device: str = "auto",
    progress: bool = False,
) -> Path:
    """Summarise, score and test every run (see the module docstring); returns comparison.md.
    ``config``: how every run decodes the test set (default: ``DecodeConfig()``, beam 5)."""
    config = config or DecodeConfig()
    if not run_dirs:
        raise NmtError("give at least one run directory")
    if bootstrap < 1:
        raise NmtError(f"--bootstrap {bootstrap}: needs at least one resample")
    run_dirs = [Path(d) for d in run_dirs]
    out_dir = Path(out_dir) if out_dir else common_parent(run_dirs)
    check_output(out_dir, "--out", folder=True)
    configs = [load_config(d) for d in run_dirs]
    for run_dir in run_dirs:  # where each run's hypotheses are cached (``load_or_translate``)
        check_output(run_dir / "hyps", "RUN_DIR", folder=True)
    names = run_names(run_dirs, [cfg.model.name for cfg in configs])
    first = baseline_index(run_dirs, names, baseline)
    order = [first, *(i for i in range(len(run_dirs)) if i != first)]
    pairs = load_pairs(load_config(run_dirs[first]), split)
    runs = {names[i]: summarize(run_dirs[i], pairs, split, config, device, progress) for i in order}
    refs, sources = [t for _, t in pairs], [s for s, _ in pairs]
    systems = {name: run.hyps for name, run in runs.items()}
    signatures, results = paired_bootstrap(systems, refs, bootstrap)
    rows = [
        _row(name, run, {metric: r[k] for metric, r in results.items()})
        for k, (name, run) in enumerate(runs.items())
    ]

    groups = group_runs(
        names, [cfg.model.name for cfg in configs], [OmegaConf.to_yaml(c.model) for c in configs]
    )
    seeded = any(len(group.runs) > 1 for group in groups)
    buckets = length_buckets(sources)
    scores = bleu_by_length(buckets, systems, refs)
    write_csv(length_table(buckets, scores), out_dir / "bleu_by_length.csv")
    if seeded:  # one line per config: the mean of its runs
        scores = {g.name: np.mean([scores[r] for r in g.runs], axis=0).tolist() for g in groups}
    plot_bleu_by_length(buckets, scores, out_dir / "bleu_by_length.png")
    by_length = length_table(buckets, scores)
    write_csv(rows, out_dir / "comparison.csv")
    seeds = ""
    if seeded:
        group_rows = [_group_row(group, {row["run"]: row for row in rows}) for group in groups]
        write_csv(group_rows, out_dir / "groups.csv")
        seeds = _seeds_report(group_rows, _best_two_test(group_rows, groups, systems, refs, bootstrap))
    title = f"{runs[names[first]].cfg.data.name} {split} ({len(refs)} sentences), {describe(config)}"
    report = _report(title, rows, by_length, signatures, names[first], bootstrap, config, seeds)
    write_text(out_dir / "comparison.md", report)
    return out_dir / "comparison.md"


def summarize(
    run_dir: Path,
    pairs: Pairs,
    split: str,
    config: DecodeConfig,
    device: str = "auto",
    progress: bool = False,
) -> RunSummary:
    """Read a run directory and get its best checkpoint's hypotheses for ``pairs`` (the ``split``
    every run is compared on): from RUN_DIR/hyps when there, else by translating now."""
    run = load_run(run_dir, "best", resolve_device(device))
    if load_pairs(run.cfg, split) != pairs:
        raise NmtError(f"{run_dir}: its {split} split differs from the other runs' (data settings differ)")
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    hyps = load_or_translate(Translator(run), sources, refs, split, config, progress=progress)
    train_seconds = (_checkpoint_value(run_dir / "last.pt", "progress") or {}).get("train_seconds")
    attention = attention_statistics(run, sources, hyps) if run.model.has_attention else None
    return RunSummary(
        dir=run_dir,
        cfg=run.cfg,
        parameters=run.model.num_parameters(),
        train_minutes=None if train_seconds is None else train_seconds / 60,
        tokens_per_second=tokens_per_second(run_dir / "tensorboard"),
        valid_bleu=_checkpoint_value(run_dir / "best.pt", "bleu"),
        aer=measured_aer(run_dir / "aer.json"),
        attention=attention,
        hyps=hyps,
    )


def measured_aer(path: Path) -> float | None:
    """The AER of the model's own alignment in an aer.json of `nmt aer`; None without the file."""
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    if "default" not in report:
        raise NmtError(f"{path}: written by an older `nmt aer` (no 'default' entry); run `nmt aer` again")
    return report["default"]["aer"]


def paired_bootstrap(
    systems: dict[str, list[str]], refs: list[str], samples: int
) -> tuple[dict[str, str], dict[str, list[Result]]]:
    """sacreBLEU's paired bootstrap test of every system against the first (the baseline).

    Returns the signatures and, for "bleu" and "chrf", one ``Result`` per system in order: ``score``,
    ``mean`` and ``ci`` (half-width of the 95% interval) of the resampled scores, ``p_value`` (None
    for the baseline).
    """
    metrics = {"bleu": BLEU(references=[refs]), "chrf": CHRF(references=[refs])}
    test = PairedTest(list(systems.items()), metrics, references=None, test_type="bs", n_samples=samples)
    signatures, scores = test()
    # sacreBLEU keys both by the metrics' own names ("BLEU", "chrF2"), in the order of `metrics`
    named = [key for key in scores if key != "System"]
    return (
        {m: signatures[key].format() for m, key in zip(metrics, named, strict=True)},
        {m: scores[key] for m, key in zip(metrics, named, strict=True)},
    )


def tokens_per_second(events_dir: Path, last: int = LAST_LOGGED) -> float | None:
    """Mean of the last ``last`` training speeds (source + target tokens/s) in the run's TensorBoard
    events (not train.log: a multirun's later runs also log into the earlier runs' train.log)."""
    if not events_dir.is_dir():
        return None
    events = EventAccumulator(str(events_dir), size_guidance={"scalars": 0}).Reload()
    if SPEED_TAG not in events.Tags()["scalars"]:
        return None
    values = [event.value for event in events.Scalars(SPEED_TAG)][-last:]
    return sum(values) / len(values)


def architecture(model: DictConfig) -> tuple[str, str]:
    """(family, attention) of a model config, e.g. ("RNN, Luong decoder", "general, local-p (D=5)")."""
    normalizer = model.get("normalizer", "softmax")
    alpha = f" (alpha {model.entmax_alpha})" if normalizer == "entmax_bisect" else ""
    extras = [] if normalizer == "softmax" else [f"{normalizer}{alpha}"]
    if model.arch == "transformer":
        if model.get("max_relative_position", 0):
            extras.insert(0, f"relative positions (k={model.max_relative_position})")
        return "Transformer", ", ".join([f"multi-head scaled dot ({model.heads} heads)", *extras])
    if model.get("span", "global") != "global":
        extras.insert(0, f"{model.span.replace('_', '-')} (D={model.window})")
    if model.get("coverage", False):
        extras.insert(0, "coverage" + (f" (loss {model.coverage_loss})" if model.coverage_loss else ""))
    switches = (("word_keys", "word keys"), ("lexical", "lexical model"))
    extras += [name for key, name in switches if model.get(key, False)]
    return f"RNN, {model.decoder.capitalize()} decoder", ", ".join([model.attention, *extras])


def run_names(run_dirs: Sequence[Path], model_names: Sequence[str]) -> list[str]:
    """Each run's model name, or when two runs share a model name (seeds of one config), each run's
    directory relative to the folder that holds them all (e.g. "rnn_bahdanau/seed1")."""
    if len(set(model_names)) == len(model_names):
        return list(model_names)
    root = Path(os.path.commonpath([Path(d).resolve() for d in run_dirs]))
    relative = [str(Path(d).resolve().relative_to(root)) for d in run_dirs]
    return (
        relative
        if len(set(relative)) == len(relative) and "." not in relative
        else [str(d) for d in run_dirs]
    )


def baseline_index(run_dirs: Sequence[Path], names: Sequence[str], baseline: str | None) -> int:
    """The run ``baseline`` names (a run name or directory); by default rnn_noattn, else the first."""
    if baseline is None:
        return names.index(BASELINE) if BASELINE in names else 0
    for i, (run_dir, name) in enumerate(zip(run_dirs, names, strict=True)):
        if baseline == name or Path(baseline).resolve() == run_dir.resolve():
            return i
    raise NmtError(f"--baseline {baseline}: not one of the runs ({', '.join(names)})")


def common_parent(run_dirs: Sequence[Path]) -> Path:
    """The deepest folder holding every run directory."""
    return Path(os.path.commonpath([Path(d).resolve().parent for d in run_dirs]))


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Rows of equal keys as CSV with a header; None is written as an empty field."""
    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns left-aligned (text), the others right-aligned."""
    align = [":---" if i < left else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in [header, align, *rows])


def _checkpoint_value(path: Path, key: str) -> Any:
    """One entry of a checkpoint file (None when the file or the entry is missing)."""
    return torch.load(path, map_location="cpu", weights_only=True).get(key) if path.is_file() else None


def _row(name: str, run: RunSummary, results: dict[str, Result]) -> dict[str, Any]:
    """One comparison.csv row: name, architecture, training figures, scores, AER and directory."""
    family, attention = architecture(run.cfg.model)
    row: dict[str, Any] = {
        "run": name,
        "family": family,
        "attention": attention,
        "parameters": run.parameters,
        "train_minutes": _rounded(run.train_minutes, 2),
        "tokens_per_second": _rounded(run.tokens_per_second, None),
        "valid_bleu": _rounded(run.valid_bleu, 2),
    }
    for metric, result in results.items():
        row[metric] = round(result.score, 2)
        row[f"{metric}_mean"] = round(float(result.mean), 2)
        row[f"{metric}_ci95"] = round(float(result.ci), 2)
        row[f"{metric}_p"] = _rounded(result.p_value, 4)
    row["aer"] = _rounded(run.aer, 4)
    for key in STATISTICS:
        row[key] = None if run.attention is None else round(getattr(run.attention, key), 4)
    return {**row, "dir": str(run.dir)}


def _group_row(group: Group, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One groups.csv row: the config, its runs, and mean and sd over them of every metric."""
    row: dict[str, Any] = {"group": group.name, "runs": len(group.runs)}
    for metric in GROUP_METRICS:
        spread = mean_sd([rows[name][metric] for name in group.runs])
        row[f"{metric}_mean"], row[f"{metric}_sd"] = (None, None) if spread is None else spread
    return {**row, "members": " ".join(group.runs)}


def _best_two_test(
    group_rows: Sequence[dict[str, Any]],
    groups: Sequence[Group],
    systems: dict[str, list[str]],
    refs: list[str],
    bootstrap: int,
) -> dict[str, Any] | None:
    """The paired bootstrap between the two groups with the best mean BLEU (None with one group)."""
    if len(groups) < 2:
        return None
    best = sorted(range(len(groups)), key=lambda i: -group_rows[i]["bleu_mean"])[:2]
    hyps = [[systems[name] for name in groups[i].runs] for i in best]
    metrics = {"bleu": BLEU(references=[refs]), "chrf": CHRF(references=[refs])}
    return {
        "groups": [groups[i].name for i in best],
        **{f"{m}_p": seed_bootstrap(metric, hyps, bootstrap) for m, metric in metrics.items()},
    }


def _rounded(value: float | None, digits: int | None) -> float | int | None:
    """``value`` rounded to ``digits`` decimals (None: to an int); None stays None."""
    return None if value is None else round(float(value), digits)


def _report(
    title: str,
    rows: Sequence[dict[str, Any]],
    by_length: Sequence[dict[str, Any]],
    signatures: dict[str, str],
    baseline: str,
    bootstrap: int,
    config: DecodeConfig,
    seeds: str = "",
) -> str:
    """comparison.md: the table, how its numbers were computed, the seeds' table when there is one,
    and BLEU by source length."""
    table = [[_cell(key, row) for key in MARKDOWN_COLUMNS] for row in rows]
    length_rows = [list(row.values()) for row in by_length]
    return f"""# Comparison: {title}

{markdown_table(list(MARKDOWN_COLUMNS.values()), table, left=3)}

**BLEU** and **chrF**: sacreBLEU corpus scores of each run's best checkpoint
({describe(config)}, length penalty {config.alpha}); in brackets the mean ± half-width of the 95%
confidence interval over {bootstrap} bootstrap resamples of the sentences.
**p**: paired bootstrap resampling (Koehn 2004) against the baseline **{baseline}** with sacreBLEU's
`PairedTest(test_type="bs")`: both systems are scored on the same {bootstrap} resampled test sets, and
p = (1 + the number of resamples whose mean-centred |difference| exceeds the observed one) / (1 +
{bootstrap}): how often a difference this large arises by chance. p < 0.05: significant.
**valid BLEU**: the best greedy BLEU on the validation sentences during training (best.pt).
**train min**: training time without validation (last.pt). **tok/s**: source + target tokens per
second, the mean of the last {LAST_LOGGED} values logged to TensorBoard. **AER**: alignment error
rate of the attention that translations carry (a Transformer's `align_layer`/`align_head`) against
gold links, measured by `nmt aer` (aer.json); blank when not measured.
**entropy**, **zeros**, **max weight**, **diagonal**: the attention of each run's translations of
this test set, every cross-attention map (Transformer: every layer and head), every row over the
real source pieces: mean entropy in nats, share of weights exactly 0, mean largest weight, and
mean |(argmax + ½) / S − (row + ½) / T|, the distance of the most attended source position from the
diagonal as a share of the source; blank for uniform attention.

sacreBLEU signatures:

- BLEU: `{signatures["bleu"]}`
- chrF: `{signatures["chrf"]}`
{seeds}
## BLEU by source length

![BLEU by source length](bleu_by_length.png)

{markdown_table(list(by_length[0]), length_rows)}
"""


def describe(config: DecodeConfig) -> str:
    """How the hypotheses were decoded, in words: "beam 5", "greedy", "sampling (3 samples)"."""
    if config.sampling:
        return f"sampling ({config.nbest} samples, temperature {config.temperature}, seed {config.seed})"
    return "greedy" if config.beam == 1 else f"beam {config.beam}"


def _cell(key: str, row: dict[str, Any]) -> str:
    """A comparison.md cell: scores with their interval, the baseline's p as "baseline"."""
    value = row[key]
    if key in ("bleu", "chrf"):
        return f"{value:.2f} ({row[f'{key}_mean']:.2f} ± {row[f'{key}_ci95']:.2f})"
    if key.endswith("_p"):
        return "baseline" if value is None else f"{value:.3f}"
    if key == "parameters":
        return f"{value:,}"
    return "" if value is None else str(value)


def _seeds_report(group_rows: Sequence[dict[str, Any]], test: dict[str, Any] | None) -> str:
    """The comparison.md section on runs of one config with several seeds."""
    header = ["config", "runs", "BLEU", "chrF", "AER", "entropy", "zeros", "max weight", "diagonal"]
    table = [
        [row["group"], row["runs"], *(_spread(row, metric) for metric in GROUP_METRICS)] for row in group_rows
    ]
    verdict = ""
    if test is not None:
        best, second = test["groups"]
        verdict = (
            f"\nThe best two configs by mean BLEU, **{best}** and **{second}**: paired bootstrap over the "
            f"test sentences of the difference of their mean scores over seeds, p = {test['bleu_p']:.3f} "
            f"(BLEU), {test['chrf_p']:.3f} (chrF); p < 0.05: significant.\n"
        )
    return f"""
## Seeds

Runs of the same model config (trained with different seeds) grouped: mean ± sample standard
deviation over the runs (groups.csv).

{markdown_table(header, table, left=1)}
{verdict}"""


def _spread(row: dict[str, Any], metric: str) -> str:
    """ "mean ± sd" of a groups.csv metric, blank when no run has it."""
    mean, sd = row[f"{metric}_mean"], row[f"{metric}_sd"]
    if mean is None:
        return ""
    digits = 2 if metric in ("bleu", "chrf") else 4
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
