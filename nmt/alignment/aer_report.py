"""What ``nmt aer`` does, for Python too: score a run's alignment readings against gold links, with
the diagonal reference and, on request, every decoder head, a backward run (symmetrized), the
statistical aligner and the rank agreement of attention and saliency (``nmt.alignment.score``).

    run = aligning_run("runs/x")
    report = aer_report(run, sources, targets, read_checked_gold("gold.txt", sources, targets))
    print(report_text(report))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median
from typing import Any

from nmt.alignment.aer import check_gold, read_gold
from nmt.alignment.score import (
    METHODS,
    Gold,
    Reading,
    aer_rows,
    agreement,
    aligner_rows,
    as_trained,
    attention_readings,
    configured_map,
    diagonal_aer,
    links_of,
    word_matrices,
)
from nmt.data.pipeline import load_pairs
from nmt.errors import NmtError
from nmt.rundir import Run, load_run
from nmt.runtime import resolve_device
from nmt.tables import markdown_table

READING = ("method", "layer", "head", "shifted")
SYMMETRIZED = ("backward", "intersection", "union", "grow-diag-final-and")


@dataclass(frozen=True)
class AerSettings:
    """What to score: the readings of ``methods``, every head too (``heads``), links read by argmax
    or above ``threshold``, and the statistical aligner (``aligner``)."""

    methods: tuple[str, ...] = ("attention",)
    heads: bool = False
    links: str = "argmax"
    threshold: float = 0.5
    aligner: bool = False

    def __post_init__(self) -> None:
        if self.heads and "attention" not in self.methods:
            raise NmtError("--heads scores attention maps: add --method attention")


def read_checked_gold(
    path: Path, sources: Sequence[str], targets: Sequence[str], one_based: bool = False
) -> Gold:
    """The gold links of ``path`` (``read_gold``), checked against the whitespace-tokenized pairs."""
    gold = read_gold(path, one_based=one_based)
    lengths = [len(s.split()) for s in sources], [len(t.split()) for t in targets]
    check_gold(path, gold, *lengths, one_based=one_based)
    return gold


def aligning_run(
    run_dir: Path, checkpoint: str = "best", device: str = "auto", methods: Sequence[str] = ("attention",)
) -> Run:
    """The run at ``run_dir``, refused when attention is to be scored and its attention is uniform."""
    run = load_run(run_dir, checkpoint, resolve_device(device))
    if "attention" in methods and not run.model.has_attention:
        raise NmtError(f"{run_dir}: model.attention is none (uniform weights): there is nothing to align")
    return run


def aer_report(
    run: Run,
    sources: Sequence[str],
    targets: Sequence[str],
    gold: Gold,
    settings: AerSettings = AerSettings(),
    backward: Run | None = None,
) -> dict[str, Any]:
    """Every reading's AER as JSON-ready rows, the run's own map ("default") and the best, the
    diagonal's AER; "heads", "agreement" (Spearman's rho per sentence) and "aligner" when asked."""
    s = settings
    matrices = word_matrices(run, sources, targets, s.methods, s.heads)
    forward = links_of(matrices, s.links, s.threshold)
    flipped = None
    if backward is not None:
        backward_matrices = word_matrices(backward, targets, sources, s.methods, s.heads)
        flipped = links_of(backward_matrices, s.links, s.threshold, flipped=True)
    readings = {*attention_readings(run), Reading("saliency")}
    rows = aer_rows({r: links for r, links in forward.items() if r in readings}, gold, flipped)
    own = configured_map(run)  # no row of its own without --method attention: default None
    report: dict[str, Any] = {
        "methods": list(s.methods),
        "links": s.links,
        "threshold": s.threshold,
        "backward": str(backward.dir) if backward else None,
        "default": next((r for r in rows if tuple(r[k] for k in READING) == own), None),
        "best": min(rows, key=lambda r: r["aer"]),
        "rows": rows,
        "diagonal": diagonal_aer(sources, targets, gold),
        "sentences": len(sources),
    }
    if s.heads:
        report["heads"] = aer_rows(
            {r: ls for r, ls in forward.items() if r.method == "attention"}, gold, flipped
        )
    if set(METHODS) <= set(s.methods):
        rho = agreement(matrices[own], matrices[Reading("saliency")])
        report["agreement"] = {"spearman": rho, "mean": mean(rho), "median": median(rho)}
    if s.aligner:
        corpus = load_pairs(run.cfg.data, "train", run.cfg.cache_dir)
        report["aligner"] = aligner_rows(as_trained(run, sources), as_trained(run, targets), gold, corpus)
        report["aligner_pairs"] = len(corpus)
    return report


def report_text(report: dict[str, Any]) -> str:
    """An ``aer_report`` as ``nmt aer`` prints it: the tables, the agreement, the references."""
    default = report["default"]
    lines = [format_aer_rows(report["rows"], default, report["best"])]
    if "heads" in report:
        heads = report["heads"]
        lines.append(
            "every decoder layer, its heads averaged and one by one (diagnostics: which map aligns):"
        )
        lines.append(format_aer_rows(heads, None, min(heads, key=lambda r: r["aer"])))
    if "agreement" in report:
        rho = report["agreement"]["spearman"]
        lines.append(
            f"attention ({default['layer']}, {default['head']}) vs saliency, Spearman rho per sentence: "
            f"mean {mean(rho):.3f}, median {median(rho):.3f}, min {min(rho):.3f}, max {max(rho):.3f}"
        )
    lines.append(f"diagonal alignment (no model): AER {report['diagonal']:.3f}")
    if "aligner" in report:
        scores = ", ".join(f"{name} {value:.3f}" for name, value in report["aligner"].items())
        pairs = f"{report['aligner_pairs']} training pairs + these {report['sentences']}"
        lines.append(f"statistical aligner (eflomal, {pairs}): AER {scores}")
    return "\n".join(lines)


def format_aer_rows(rows: list[dict], default: dict | None, best: dict) -> str:
    """The AER table in Markdown, the default and best rows marked; symmetrized columns when the rows
    have them."""
    extra = [name for name in SYMMETRIZED if any(name in row for row in rows)]
    header = ["reading", "layer", "head", "shifted", "AER", *extra]
    table = []
    for row in rows:
        marks = [name for name, chosen in (("default", default), ("best", best)) if row == chosen]
        mark = f" ({', '.join(marks)})" if marks else ""
        where = ["" if row[k] is None else str(row[k]) for k in ("layer", "head")]
        cells = [row["method"], *where, "yes" if row["shifted"] else "no", f"{row['aer']:.3f}{mark}"]
        table.append(cells + [f"{row[name]:.3f}" if name in row else "" for name in extra])
    return markdown_table(header, table, align="lrrcr")
