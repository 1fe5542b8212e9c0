"""What a trained run did, read from its directory: size, training time and speed, validation BLEU,
measured AER, and its hypotheses for a test set (cached in RUN_DIR/hyps, else translated now).

Each figure comes from where the run wrote it: best.pt and last.pt (validation BLEU, training
seconds), the TensorBoard events (tokens per second), aer.json of ``nmt aer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nmt.data.pipeline import Pairs, load_pairs
from nmt.decoding import DecodeConfig
from nmt.errors import NmtError
from nmt.evaluation.attention_stats import AttentionStatistics, attention_statistics
from nmt.evaluation.hypotheses import load_or_translate
from nmt.rundir import load_run
from nmt.runtime import resolve_device
from nmt.translate import Translator

SPEED_TAG = "train/tokens_per_second"  # TensorBoard scalar the trainer logs every log_every steps
LAST_LOGGED = 10  # tokens/s is the mean of this many last logged values


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
    if load_pairs(run.cfg.data, split, run.cfg.cache_dir) != pairs:
        raise NmtError(f"{run_dir}: its {split} split differs from the other runs' (data settings differ)")
    sources, refs = [s for s, _ in pairs], [t for _, t in pairs]
    hyps = load_or_translate(Translator(run), sources, refs, split, config, progress=progress)
    train_seconds = (checkpoint_value(run_dir / "last.pt", "progress") or {}).get("train_seconds")
    attention = attention_statistics(run, sources, hyps) if run.model.has_attention else None
    return RunSummary(
        dir=run_dir,
        cfg=run.cfg,
        parameters=run.model.num_parameters(),
        train_minutes=None if train_seconds is None else train_seconds / 60,
        tokens_per_second=tokens_per_second(run_dir / "tensorboard"),
        valid_bleu=checkpoint_value(run_dir / "best.pt", "bleu"),
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


def checkpoint_value(path: Path, key: str) -> Any:
    """One entry of a checkpoint file (None when the file or the entry is missing)."""
    return torch.load(path, map_location="cpu", weights_only=True).get(key) if path.is_file() else None
