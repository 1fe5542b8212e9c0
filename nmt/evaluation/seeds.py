"""Runs of one model config trained with several seeds: their spread, and whether the best two
configs differ by more than the seeds and the test sentences make them differ by chance.

``group_runs`` collects runs by model config. ``seed_bootstrap`` is the paired bootstrap of
sacreBLEU (Koehn 2004) lifted from systems to groups of runs: every resample of the test
sentences scores each run, a group scores the mean of its runs, and the p-value counts the
resamples whose mean-centred |difference| between the two groups exceeds the observed one,
p = (1 + count) / (1 + resamples), as ``sacrebleu.significance`` does for two systems.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sacrebleu.metrics.base import Metric


@dataclass(frozen=True)
class Group:
    """Runs of one model config (the same model settings, any seed)."""

    name: str
    runs: tuple[str, ...]  # run names, as in the per-run table


def group_runs(names: Sequence[str], model_names: Sequence[str], configs: Sequence[str]) -> list[Group]:
    """Runs grouped by their model config (``configs``: each run's model config as text), in the
    order of first appearance, each named by its model name (with its first run's name when two
    different configs share a model name)."""
    members: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        members.setdefault(config, []).append(i)
    labels = [model_names[runs[0]] for runs in members.values()]
    return [
        Group(
            label if labels.count(label) == 1 else f"{label} ({names[runs[0]]})",
            tuple(names[i] for i in runs),
        )
        for label, runs in zip(labels, members.values(), strict=True)
    ]


def mean_sd(values: Sequence[float | None]) -> tuple[float, float] | None:
    """Mean and sample standard deviation (0 for one value) of the values that are not None."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return float(np.mean(present)), float(np.std(present, ddof=1)) if len(present) > 1 else 0.0


def seed_bootstrap(
    metric: Metric, groups: Sequence[Sequence[Sequence[str]]], samples: int, seed: int | None = None
) -> float:
    """p-value of the difference between two groups' mean scores (each group: its runs'
    hypotheses for the references ``metric`` was built with), over ``samples`` resamples."""
    seed = seed if seed is not None else int(os.environ.get("SACREBLEU_SEED", "12345"))
    stats = [
        [np.array(metric._extract_corpus_statistics(h, None), dtype="float64") for h in g] for g in groups
    ]
    sentences = len(stats[0][0])
    indices = np.random.default_rng(seed).choice(sentences, size=(samples, sentences), replace=True)

    def group_score(runs: list[np.ndarray], rows: np.ndarray | slice) -> float:
        return float(np.mean([metric._compute_score_from_stats(s[rows].sum(0)).score for s in runs]))

    observed = abs(group_score(stats[0], slice(None)) - group_score(stats[1], slice(None)))
    differences = np.abs([group_score(stats[0], rows) - group_score(stats[1], rows) for rows in indices])
    centred = differences - differences.mean()
    return (int(np.sum(centred > observed)) + 1) / (samples + 1)
