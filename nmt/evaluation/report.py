"""``nmt compare``'s report: the rows of comparison.csv and groups.csv, and comparison.md in Markdown
(tables drawn by ``nmt.tables.markdown_table``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sacrebleu.significance import Result

from nmt.decoding import DecodeConfig
from nmt.evaluation.attention_stats import STATISTICS
from nmt.evaluation.runs import LAST_LOGGED, RunSummary
from nmt.evaluation.seeds import Group, mean_sd
from nmt.models.describe import architecture
from nmt.tables import markdown_table

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


def comparison_row(name: str, run: RunSummary, results: dict[str, Result]) -> dict[str, Any]:
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


def group_row(group: Group, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One groups.csv row: the config, its runs, and mean and sd over them of every metric."""
    row: dict[str, Any] = {"group": group.name, "runs": len(group.runs)}
    for metric in GROUP_METRICS:
        spread = mean_sd([rows[name][metric] for name in group.runs])
        row[f"{metric}_mean"], row[f"{metric}_sd"] = (None, None) if spread is None else spread
    return {**row, "members": " ".join(group.runs)}


def _rounded(value: float | None, digits: int | None) -> float | int | None:
    """``value`` rounded to ``digits`` decimals (None: to an int); None stays None."""
    return None if value is None else round(float(value), digits)


def comparison_markdown(
    title: str,
    rows: Sequence[dict[str, Any]],
    by_length: Sequence[dict[str, Any]],
    signatures: dict[str, str],
    baseline: str,
    bootstrap: int,
    config: DecodeConfig,
    seeds: str = "",
) -> str:
    """comparison.md: the table, how its numbers were computed, the seeds' table when there is one
    (``seeds_section``), and BLEU by source length."""
    table = [[_cell(key, row) for key in MARKDOWN_COLUMNS] for row in rows]
    length_rows = [list(row.values()) for row in by_length]
    return f"""# Comparison: {title}

{markdown_table(list(MARKDOWN_COLUMNS.values()), table, align="lllr")}

**BLEU** and **chrF**: sacreBLEU corpus scores of each run's best checkpoint
({config.describe()}, length penalty {config.alpha}); in brackets the mean ± half-width of the 95%
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


def seeds_section(group_rows: Sequence[dict[str, Any]], test: dict[str, Any] | None) -> str:
    """The comparison.md section on runs of one config with several seeds (``test``: the
    significance of the best two, ``nmt.evaluation.significance.best_two_test``)."""
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

{markdown_table(header, table)}
{verdict}"""


def _spread(row: dict[str, Any], metric: str) -> str:
    """ "mean ± sd" of a groups.csv metric, blank when no run has it."""
    mean, sd = row[f"{metric}_mean"], row[f"{metric}_sd"]
    if mean is None:
        return ""
    digits = 2 if metric in ("bleu", "chrf") else 4
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
