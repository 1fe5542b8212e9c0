"""Checkpoint averaging: the parameter mean of several checkpoints of one run (Vaswani et al. 2017
averaged the last 5 base-model checkpoints, written at 10-minute intervals)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt.errors import NmtError
from nmt.outputs import check_output
from nmt.rundir import load_checkpoint, save_checkpoint
from nmt.training.checkpoint import snapshots
from nmt.training.provenance import check_one_run


def average_checkpoints(paths: Sequence[Path], allow_mixed: bool = False) -> tuple[dict[str, Any], list[str]]:
    """A checkpoint whose floating-point tensors are the mean of ``paths``' (summed in float64, stored
    in their own dtype); other tensors (integer buffers) come from the last path. Checkpoints of
    different runs are refused unless ``allow_mixed``; also returns notes on what could not be checked."""
    checkpoints = [load_checkpoint(path) for path in paths]
    records = [checkpoint.get("provenance") for checkpoint in checkpoints]
    notes = check_one_run(paths, records, allow_mixed)
    states = [checkpoint["model"] for checkpoint in checkpoints]
    first = states[0]
    for path, state in zip(paths[1:], states[1:], strict=True):
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise NmtError(f"{path}: not the same model as {paths[0]}; only checkpoints of one run average")
    model = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            model[key] = (sum(state[key].double() for state in states) / len(states)).to(last.dtype)
        else:
            model[key] = last
    steps = [int(checkpoint.get("step", 0)) for checkpoint in checkpoints]
    averaged = {"model": model, "step": max(steps), "averaged": [path.name for path in paths]}
    if all(record == records[0] for record in records) and records[0] is not None:
        averaged["provenance"] = records[0]
    return averaged, notes


def choose_checkpoints(run_dir: Path, last: int | None = None, best: int | None = None) -> list[Path]:
    """The ``last`` newest periodic snapshots (``step_N.pt``), or the ``best`` best by validation BLEU
    (``best_step_N.pt``), oldest step first."""
    count = last if last is not None else best
    if count is None or count < 1:
        raise NmtError("give --last K or --best K with K of at least 1")
    found = snapshots(run_dir, best=best is not None)
    if best is not None:
        found = sorted(found, key=lambda p: -float(load_checkpoint(p)["bleu"]))[:count]
        found = [p for p in snapshots(run_dir, best=True) if p in found]
    else:
        found = found[-count:]
    if len(found) < count:
        kind, key = ("best_step_N.pt", "keep_best") if best is not None else ("step_N.pt", "keep_last")
        raise NmtError(
            f"{run_dir}: {len(found)} {kind} checkpoint(s), {count} asked for; "
            f"train with trainer.{key}={count} (and trainer.save_every or save_every_minutes for step_N.pt)"
        )
    return found


def average_run(
    run_dir: Path, last: int | None, best: int | None, out: Path | None, allow_mixed: bool = False
) -> tuple[Path, list[Path], list[str]]:
    """Average a run's checkpoints into ``out`` (default ``RUN_DIR/average_{last,best}K.pt``); returns
    it, the checkpoints averaged and notes on what could not be checked (``average_checkpoints``)."""
    if not run_dir.is_dir():
        raise NmtError(f"{run_dir}: no such run directory")
    out = out or run_dir / (f"average_last{last}.pt" if last is not None else f"average_best{best}.pt")
    check_output(out, "--out")
    paths = choose_checkpoints(run_dir, last, best)
    averaged, notes = average_checkpoints(paths, allow_mixed)
    save_checkpoint(out, averaged)
    return out, paths, notes
