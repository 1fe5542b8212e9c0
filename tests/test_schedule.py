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


def test_inverse_sqrt_halves_at_four_times_the_warmup() -> None:
    multiplier = lr_multiplier(TrainerConfig(schedule="inverse_sqrt", warmup_steps=100))
    assert multiplier(400, 0.0) == pytest.approx(0.5)


def test_unknown_schedule_names_the_key() -> None:
    with pytest.raises(NmtError, match=r"trainer\.schedule"):
        lr_multiplier(TrainerConfig(schedule="exponential"))
