"""The training state in ``last.pt``: everything a run needs to continue exactly where it stopped.

``last.pt`` holds the model, the optimiser, the gradient scaler, the ``Progress`` counters (step,
epoch, how many batches of the epoch's batch order are done, best scores, training seconds) and
the random-number states of every rank: rank 0 gathers them (``gather_object``) and writes one
file, a list indexed by rank. The learning-rate schedule is a function of the step and the
training seconds, so those are its state. Re-running the same ``nmt train`` command continues from
it, and the parameters it ends with are bitwise those of a run that was never interrupted.

Beside it: ``best.pt`` (best validation BLEU), ``best_step_N.pt`` (the ``trainer.keep_best`` best)
and ``step_N.pt`` (the ``trainer.keep_last`` latest periodic saves), model weights only, for
``nmt translate`` and ``nmt average``.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from nmt.errors import NmtError
from nmt.rundir import load_checkpoint, save_checkpoint
from nmt.runtime import Distributed


@dataclass
class Progress:
    """Where training stands; saved in ``last.pt`` as a plain dict."""

    step: int = 0  # optimiser updates done
    epoch: int = 0
    batches_done: int = 0  # batches of this epoch's batch order (this rank's share) trained on
    best_bleu: float = -1.0
    stale: int = 0  # validations since the best one
    train_seconds: float = 0.0
    bad_steps: int = 0  # updates in a row skipped for a non-finite loss
    skipped_steps: int = 0  # all updates skipped for a non-finite loss
    best_k: list[list[float]] = field(default_factory=list)  # [BLEU, step] of each best_step_N.pt kept


def rng_state() -> dict[str, Any]:
    """This process's random-number states (Python, NumPy, torch CPU and every CUDA device)."""
    version, keys, gauss = random.getstate()
    name, mt, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(keys), gauss],
        "numpy": [name, torch.from_numpy(mt.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, mt, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, mt.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rng_states(ranks: Distributed) -> list[dict[str, Any]] | None:
    """Every rank's RNG state on rank 0 (a list indexed by rank), None elsewhere. Collective."""
    if ranks.world == 1:
        return [rng_state()]
    states: list[dict[str, Any]] | None = [{} for _ in range(ranks.world)] if ranks.is_main else None
    dist.gather_object(rng_state(), states, dst=0)
    return states


def training_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    progress: Progress,
    rng: list[dict[str, Any]],
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """The payload of ``last.pt`` (with ``model``, ``step``, ``bleu``, ``provenance`` as every checkpoint)."""
    return {
        **snapshot(model, progress, provenance),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "progress": asdict(progress),
        "rng": rng,
    }


def read_training_state(path: Path) -> dict[str, Any]:
    """``last.pt`` loaded and checked to hold a training state (a damaged file is named)."""
    state = load_checkpoint(path)
    missing = [key for key in ("optimizer", "scaler", "progress", "rng") if key not in state]
    if missing:
        raise NmtError(f"{path}: no training state to resume from (missing {', '.join(missing)})")
    return state


def snapshot(model: torch.nn.Module, progress: Progress, provenance: dict[str, Any]) -> dict[str, Any]:
    """Model weights with their step, best BLEU and run (``nmt.training.provenance``): best.pt,
    step_N.pt, best_step_N.pt."""
    return {
        "model": model.state_dict(),
        "step": progress.step,
        "bleu": progress.best_bleu,
        "provenance": provenance,
    }


SNAPSHOT_NAME = re.compile(r"(best_)?step_(\d+)\.pt")


def snapshots(run_dir: Path, best: bool) -> list[Path]:
    """The run's ``step_N.pt`` (or ``best_step_N.pt``) files, oldest step first."""
    found = [(m, p) for p in run_dir.glob("*step_*.pt") if (m := SNAPSHOT_NAME.fullmatch(p.name))]
    return [p for m, p in sorted(found, key=lambda mp: int(mp[0][2])) if bool(m[1]) == best]


def prune_snapshots(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic ``step_N.pt`` files."""
    found = snapshots(run_dir, best=False)
    for path in found[: max(len(found) - keep, 0)]:
        path.unlink()


def save_snapshots(
    run_dir: Path,
    weights: dict[str, Any],
    p: Progress,
    *,
    best: bool,
    periodic: bool,
    keep_last: int,
    keep_best: int,
) -> None:
    """The model snapshots due at step ``p.step``: best.pt when BLEU improved (``best``), step_N.pt when
    the save is ``periodic`` (the newest ``keep_last`` kept), best_step_N.pt when among the ``keep_best``
    best (``p.best_k``; the others removed). ``weights``: ``snapshot``'s payload."""
    if best:
        save_checkpoint(run_dir / "best.pt", weights)
    if periodic and keep_last:
        save_checkpoint(run_dir / f"step_{p.step}.pt", weights)
        prune_snapshots(run_dir, keep_last)
    if keep_best:
        kept = {int(step) for _, step in p.best_k}
        if p.step in kept and not (run_dir / f"best_step_{p.step}.pt").exists():
            bleu = next(score for score, step in p.best_k if step == p.step)  # this checkpoint's own
            save_checkpoint(run_dir / f"best_step_{p.step}.pt", {**weights, "bleu": bleu})
        for path in snapshots(run_dir, best=True):
            if int(SNAPSHOT_NAME.fullmatch(path.name)[2]) not in kept:
                path.unlink()
