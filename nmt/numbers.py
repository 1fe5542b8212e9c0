"""The one check of a number where it enters: finite, of the right kind, and within its range.

A ``Range`` is declared once per setting (``DecodeConfig``'s fields, the training config's keys) and
checked by every door: the command line and the server (through ``DecodeConfig``) and the configs
(``nmt.config_checks``). The message names the option, field or key and the range, so
``--alpha nan`` and ``trainer.lr=inf`` stop with one line instead of empty output or a traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nmt.errors import NmtError

Number = int | float


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (None: unbounded), each end included unless ``open_low`` or
    ``open_high``; ``integer`` for whole numbers. ``note`` says what a special value means."""

    low: Number | None = None
    high: Number | None = None
    integer: bool = False
    open_low: bool = False
    open_high: bool = False
    note: str = ""

    def __str__(self) -> str:
        low = "-inf" if self.low is None else _show(self.low)
        high = "inf" if self.high is None else _show(self.high)
        kind = "a whole number" if self.integer else "a finite number"
        opening = "(" if self.open_low or self.low is None else "["
        closing = ")" if self.open_high or self.high is None else "]"
        bounds = f"{opening}{low}, {high}{closing}"
        return f"{kind} in {bounds}" + (f" ({self.note})" if self.note else "")

    def contains(self, value: object) -> bool:
        """Whether ``value`` is a number of this range (bools are not numbers; a float range takes the
        integers that convert to a finite float)."""
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            return False
        if not self.integer:
            try:
                value = float(value)  # an integer too big for a float is out of any float's range
            except OverflowError:
                return False
            if not math.isfinite(value):
                return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def problem(self, said: str, value: object) -> str | None:
        """What is wrong with ``value`` (shown as ``said``: "--alpha nan", "trainer.lr=inf"), or None."""
        return None if self.contains(value) else f"{said}: must be {self}"

    def check(self, name: str, value: object) -> Number:
        """``value``, or an ``NmtError`` naming option or field ``name``, the value and the range."""
        problem = self.problem(f"{name} {value}", value)
        if problem:
            raise NmtError(problem)
        return value  # type: ignore[return-value]


def _show(bound: Number) -> str:
    """2**32 - 1 and 2**31 - 1 as such, other bounds as written."""
    powers = {2**32 - 1: "2**32 - 1", 2**31 - 1: "2**31 - 1", 2**63 - 1: "2**63 - 1", -(2**63): "-2**63"}
    return powers.get(bound) or (f"{bound:g}" if isinstance(bound, float) else str(bound))


MAX_SEED = 2**32 - 1  # NumPy's legacy seeding takes no more
SEED = Range(0, MAX_SEED, integer=True)
COUNT = Range(1, 2**31 - 1, integer=True)
"""At least one of something (a step, a batch, a sentence), within a 32-bit index."""
SOME = Range(0, 2**31 - 1, integer=True)
"""A count that may be 0 (what 0 means is said where it is used)."""
PROBABILITY = Range(0, 1, open_high=True)
"""A dropout or smoothing probability: in [0, 1)."""
POSITIVE = Range(0, None, open_low=True)
NON_NEGATIVE = Range(0, None)
