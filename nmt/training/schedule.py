"""Learning-rate schedules: a multiplier of ``trainer.lr`` for every step."""

from __future__ import annotations

import math
from collections.abc import Callable

from nmt.config import TrainerConfig
from nmt.errors import NmtError


def lr_multiplier(cfg: TrainerConfig) -> Callable[[int], float]:
    """Linear warm-up over ``warmup_steps``, then constant, inverse square root, or cosine to max_steps."""
    warmup = max(cfg.warmup_steps, 1)

    def decay(step: int) -> float:
        if cfg.schedule == "constant":
            return 1.0
        if cfg.schedule == "inverse_sqrt":
            return math.sqrt(warmup / max(step, warmup))
        progress = min(max(step - warmup, 0) / max(cfg.max_steps - warmup, 1), 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))

    if cfg.schedule not in ("constant", "inverse_sqrt", "cosine"):
        raise NmtError(f"trainer.schedule: unknown {cfg.schedule!r}; choose constant, inverse_sqrt or cosine")
    return lambda step: min(1.0, (step + 1) / warmup) * decay(step)
