"""Learning-rate schedules: warm-up, and decay to zero at the end of a step or time budget."""

from __future__ import annotations

import pytest

from nmt.config import TrainerConfig
from nmt.errors import NmtError
from nmt.training.schedule import lr_multiplier


def test_warmup_rises_linearly_to_one() -> None:
    multiplier = lr_multiplier(TrainerConfig(warmup_steps=10))
    assert [multiplier(step, 0.0) for step in (0, 4, 9, 50)] == pytest.approx([0.1, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_decays_follow_the_spent_budget_down_to_zero(schedule: str) -> None:
    multiplier = lr_multiplier(TrainerConfig(schedule=schedule))
    values = [multiplier(100, progress) for progress in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)]
    assert values[0] == 1.0 and values[2] == pytest.approx(0.5) and values[-2:] == [0.0, 0.0]
    assert values == sorted(values, reverse=True)


def test_inverse_sqrt_is_the_schedule_of_vaswani_et_al() -> None:
    d_model, warmup = 512, 4000
    cfg = TrainerConfig(schedule="inverse_sqrt", warmup_steps=warmup, lr=(d_model * warmup) ** -0.5)
    multiplier = lr_multiplier(cfg)
    for n in (1, 100, 3999, 4000, 4001, 16000, 100_000):  # update number n (1-based) = step n - 1
        paper = d_model**-0.5 * min(n**-0.5, n * warmup**-1.5)
        assert cfg.lr * multiplier(n - 1, 0.0) == pytest.approx(paper, rel=1e-12)
    assert multiplier(4 * warmup - 1, 0.0) == pytest.approx(0.5)  # halved at four times the warm-up


def test_unknown_schedule_names_the_key() -> None:
    with pytest.raises(NmtError, match=r"trainer\.schedule"):
        lr_multiplier(TrainerConfig(schedule="exponential"))
