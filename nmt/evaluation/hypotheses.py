"""Translate a test set with a run and keep the result in RUN_DIR/hyps/: NAME.beamN.txt and .json.

``nmt evaluate`` and ``nmt compare`` both go through here, so their hypothesis files are the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt.evaluation.metrics import corpus_scores
from nmt.translate import Translator


def one_line(text: str) -> str:
    """Keep one output line per input line, whatever line breaks the text holds."""
    return " ".join(text.splitlines())


def hyps_paths(run_dir: Path, name: str, beam: int) -> tuple[Path, Path]:
    """The hypotheses (one per line) and the scores (JSON) of test set ``name`` at beam size ``beam``."""
    stem = f"{name}.beam{beam}"
    return run_dir / "hyps" / f"{stem}.txt", run_dir / "hyps" / f"{stem}.json"


def translate_and_score(
    translator: Translator,
    sources: Sequence[str],
    refs: Sequence[str],
    name: str,
    *,
    beam: int = 5,
    alpha: float = 0.6,
    batch_size: int = 32,
    checkpoint: str = "best",
) -> tuple[list[str], dict[str, Any]]:
    """Translate ``sources``, score against ``refs`` and write both files; returns (hypotheses, report).

    The report holds the settings, the checkpoint's step and ``corpus_scores`` (BLEU, chrF, TER).
    """
    results = translator.translate(sources, beam=beam, alpha=alpha, batch_size=batch_size)
    hyps = [one_line(r[0].text) for r in results]
    report = {
        "split": name,
        "sentences": len(hyps),
        "beam": beam,
        "alpha": alpha,
        "checkpoint": checkpoint,
        "step": translator.run.step,
        **corpus_scores(hyps, refs),
    }
    txt, scores = hyps_paths(translator.run.dir, name, beam)
    txt.parent.mkdir(exist_ok=True)
    txt.write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
    scores.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return hyps, report


def load_or_translate(
    translator: Translator,
    sources: Sequence[str],
    refs: Sequence[str],
    name: str,
    *,
    beam: int = 5,
    alpha: float = 0.6,
) -> list[str]:
    """The translator's hypotheses for ``sources``: read from RUN_DIR/hyps when they were written with
    these settings by this checkpoint (same training step), else translated and written now."""
    txt, scores = hyps_paths(translator.run.dir, name, beam)
    wanted = {"sentences": len(sources), "beam": beam, "alpha": alpha, "step": translator.run.step}
    if txt.is_file() and scores.is_file():
        report = json.loads(scores.read_text(encoding="utf-8"))
        if all(report.get(key) == value for key, value in wanted.items()):
            return txt.read_text(encoding="utf-8").splitlines()
    return translate_and_score(translator, sources, refs, name, beam=beam, alpha=alpha)[0]
