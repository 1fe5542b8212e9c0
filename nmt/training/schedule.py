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
    budget spent, steps or minutes, whichever is further along, so a time budget decays on time.

    ``step`` counts the updates done before this one, so update number ``step + 1`` gets the factor.
    ``inverse_sqrt`` is Vaswani et al. (2017, eq. 3), ``d_model^-0.5 * min(n^-0.5, n * warmup^-1.5)``
    for update ``n``, divided by its peak at ``n = warmup``: with ``trainer.lr = (d_model * warmup)^-0.5``
    (0.0007 for the base model's 512 and 4000) it is the paper's schedule exactly."""
    if cfg.schedule not in SCHEDULES:
        raise NmtError(f"trainer.schedule: unknown {cfg.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    warmup = max(cfg.warmup_steps, 1)

    def decay(step: int, progress: float) -> float:
        if cfg.schedule == "inverse_sqrt":
            return math.sqrt(warmup / max(step + 1, warmup))
        if cfg.schedule == "constant":
            return 1.0
        spent = min(max(progress, 0.0), 1.0)
        return 0.5 * (1 + math.cos(math.pi * spent)) if cfg.schedule == "cosine" else 1 - spent

    return lambda step, progress: min(1.0, (step + 1) / warmup) * decay(step, progress)
