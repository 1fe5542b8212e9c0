"""Translate a test set with a run and keep the result in RUN_DIR/hyps/: NAME.beamN.txt and .json.

``nmt evaluate`` and ``nmt compare`` both go through here, so their hypothesis files are the same.
The JSON file records the ``DecodeConfig.key()`` the hypotheses were decoded with: they are reused
only when it matches (with the precision, the checkpoint's training step and the number of sentences).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt.decoding import DecodeConfig
from nmt.evaluation.metrics import corpus_scores
from nmt.outputs import write_text
from nmt.translate import Translator


def one_line(text: str) -> str:
    """Keep one output line per input line, whatever line breaks the text holds."""
    return " ".join(text.splitlines())


def hyps_paths(run_dir: Path, name: str, config: DecodeConfig) -> tuple[Path, Path]:
    """The hypotheses (one per line) and the scores (JSON) of test set ``name`` decoded with ``config``:
    NAME.beamN (search) or NAME.sampleN (sampling, N samples)."""
    stem = f"{name}.sample{config.nbest}" if config.sampling else f"{name}.beam{config.beam}"
    return run_dir / "hyps" / f"{stem}.txt", run_dir / "hyps" / f"{stem}.json"


def translate_and_score(
    translator: Translator,
    sources: Sequence[str],
    refs: Sequence[str],
    name: str,
    config: DecodeConfig,
    *,
    checkpoint: str = "best",
    progress: bool = False,
) -> tuple[list[str], dict[str, Any]]:
    """Translate ``sources``, score the first hypothesis of each against ``refs`` and write both files;
    returns (hypotheses, report). The report holds the decoding settings, the checkpoint's step and
    ``corpus_scores`` (BLEU, chrF, TER)."""
    results = translator.translate(sources, config, progress=progress)
    hyps = [one_line(r[0].text) for r in results]
    report = {
        "split": name,
        "sentences": len(hyps),
        "beam": config.beam,
        "alpha": config.alpha,
        "decode": config.key(),
        "precision": translator.precision,
        "checkpoint": checkpoint,
        "step": translator.run.step,
        **corpus_scores(hyps, refs),
    }
    txt, scores = hyps_paths(translator.run.dir, name, config)
    write_text(txt, "".join(f"{h}\n" for h in hyps))
    write_text(scores, json.dumps(report, indent=2) + "\n")
    return hyps, report


def load_or_translate(
    translator: Translator,
    sources: Sequence[str],
    refs: Sequence[str],
    name: str,
    config: DecodeConfig,
    *,
    progress: bool = False,
) -> list[str]:
    """The translator's hypotheses for ``sources``: read from RUN_DIR/hyps when they were decoded with
    ``config`` in the same precision by this checkpoint (same training step), else translated and
    written now."""
    txt, scores = hyps_paths(translator.run.dir, name, config)
    wanted = {
        "sentences": len(sources),
        "decode": config.key(),
        "precision": translator.precision,
        "step": translator.run.step,
    }
    if txt.is_file() and scores.is_file():
        report = json.loads(scores.read_text(encoding="utf-8"))
        if all(report.get(key) == value for key, value in wanted.items()):
            return txt.read_text(encoding="utf-8").splitlines()
    return translate_and_score(translator, sources, refs, name, config, progress=progress)[0]
