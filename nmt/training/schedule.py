"""Learning-rate schedules: a multiplier of ``trainer.lr`` for every step."""

from __future__ import annotations

import math
from collections.abc import Callable

from nmt.config import TrainerConfig
from nmt.errors import NmtError

SCHEDULES = ("constant", "inverse_sqrt", "cosine", "linear")


def lr_multiplier(cfg: TrainerConfig) -> Callable[[int, float], float]:
    """``multiplier(step, progress)``: linear warm-up over ``warmup_steps``, then constant, inverse square
    root, or a cosine or linear decay to 0 at the end of the budget. ``progress`` is the fraction of the
    budget spent, steps or minutes, whichever is further along, so a time budget decays on time."""
    if cfg.schedule not in SCHEDULES:
        raise NmtError(f"trainer.schedule: unknown {cfg.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    warmup = max(cfg.warmup_steps, 1)

    def decay(step: int, progress: float) -> float:
        if cfg.schedule == "inverse_sqrt":
            return math.sqrt(warmup / max(step, warmup))
        if cfg.schedule == "constant":
            return 1.0
        spent = min(max(progress, 0.0), 1.0)
        return 0.5 * (1 + math.cos(math.pi * spent)) if cfg.schedule == "cosine" else 1 - spent

    return lambda step, progress: min(1.0, (step + 1) / warmup) * decay(step, progress)
