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

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from nmt.data.pipeline import load_pairs
from nmt.decoding import DecodeConfig
from nmt.errors import NmtError
from nmt.evaluation.length import bleu_by_length, length_buckets, length_table, plot_bleu_by_length
from nmt.evaluation.report import comparison_markdown, comparison_row, group_row, seeds_section
from nmt.evaluation.runs import summarize
from nmt.evaluation.seeds import Group, group_runs
from nmt.evaluation.significance import best_two_test, paired_bootstrap
from nmt.outputs import check_output, write_text
from nmt.rundir import load_config
from nmt.tables import write_csv

BASELINE = "rnn_noattn"  # the default baseline, when one of the runs is it


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
    pairs = load_pairs(configs[first].data, split, configs[first].cache_dir)
    runs = {names[i]: summarize(run_dirs[i], pairs, split, config, device, progress) for i in order}
    refs, sources = [t for _, t in pairs], [s for s, _ in pairs]
    systems = {name: run.hyps for name, run in runs.items()}
    signatures, results = paired_bootstrap(systems, refs, bootstrap)
    rows = [
        comparison_row(name, run, {metric: r[k] for metric, r in results.items()})
        for k, (name, run) in enumerate(runs.items())
    ]
    groups = group_runs(
        names, [cfg.model.name for cfg in configs], [OmegaConf.to_yaml(c.model) for c in configs]
    )
    seeded = any(len(group.runs) > 1 for group in groups)
    by_length = _by_length(sources, systems, refs, groups if seeded else None, out_dir)
    write_csv(rows, out_dir / "comparison.csv")
    seeds = _seeds(rows, groups, systems, refs, bootstrap, out_dir) if seeded else ""
    title = f"{runs[names[first]].cfg.data.name} {split} ({len(refs)} sentences), {config.describe()}"
    report = comparison_markdown(title, rows, by_length, signatures, names[first], bootstrap, config, seeds)
    write_text(out_dir / "comparison.md", report)
    return out_dir / "comparison.md"


def _seeds(
    rows: list[dict],
    groups: Sequence[Group],
    systems: dict[str, list[str]],
    refs: list[str],
    bootstrap: int,
    out_dir: Path,
) -> str:
    """One row per config (mean and standard deviation over its seeds) into groups.csv; returns the
    comparison.md section with that table and the paired bootstrap between the best two configs."""
    group_rows = [group_row(group, {row["run"]: row for row in rows}) for group in groups]
    write_csv(group_rows, out_dir / "groups.csv")
    return seeds_section(group_rows, best_two_test(group_rows, groups, systems, refs, bootstrap))


def _by_length(
    sources: list[str],
    systems: dict[str, list[str]],
    refs: list[str],
    groups: Sequence[Group] | None,
    out_dir: Path,
) -> list[dict]:
    """BLEU by source length: bleu_by_length.csv (every run), bleu_by_length.png and the returned
    table (every run, or with ``groups``, one line per config: the mean of its runs)."""
    buckets = length_buckets(sources)
    scores = bleu_by_length(buckets, systems, refs)
    write_csv(length_table(buckets, scores), out_dir / "bleu_by_length.csv")
    if groups is not None:
        scores = {g.name: np.mean([scores[r] for r in g.runs], axis=0).tolist() for g in groups}
    plot_bleu_by_length(buckets, scores, out_dir / "bleu_by_length.png")
    return length_table(buckets, scores)


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
