"""Whether score differences are significant: sacreBLEU's paired bootstrap of every run against a
baseline, and the same test between the two best configs trained with several seeds
(``nmt.evaluation.seeds.seed_bootstrap``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest, Result

from nmt.evaluation.seeds import Group, seed_bootstrap


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


def best_two_test(
    group_rows: Sequence[dict[str, Any]],
    groups: Sequence[Group],
    systems: dict[str, list[str]],
    refs: list[str],
    bootstrap: int,
) -> dict[str, Any] | None:
    """The paired bootstrap between the two groups with the best mean BLEU (None with one group):
    their names under "groups", and "bleu_p", "chrf_p"."""
    if len(groups) < 2:
        return None
    best = sorted(range(len(groups)), key=lambda i: -group_rows[i]["bleu_mean"])[:2]
    hyps = [[systems[name] for name in groups[i].runs] for i in best]
    metrics = {"bleu": BLEU(references=[refs]), "chrf": CHRF(references=[refs])}
    return {
        "groups": [groups[i].name for i in best],
        **{f"{m}_p": seed_bootstrap(metric, hyps, bootstrap) for m, metric in metrics.items()},
    }
