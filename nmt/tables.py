"""Tables as text: the one Markdown table renderer and the one CSV writer of every report and command.

``markdown_table`` draws the tables of ``nmt compare``'s comparison.md and of ``nmt aer``;
``write_csv`` writes comparison.csv, groups.csv and bleu_by_length.csv (atomically).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nmt.outputs import atomic_write

ALIGNMENT = {"l": ":---", "r": "---:", "c": ":---:"}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "lr") -> str:
    """A Markdown table. ``align``: one letter per column, l(eft), r(ight) or c(entre); its last
    letter holds for the remaining columns ("lr": text first, numbers after it)."""
    letters = [align[min(i, len(align) - 1)] for i in range(len(header))]
    rule = [ALIGNMENT[letter] for letter in letters]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in [header, rule, *rows])


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Rows of equal keys as CSV with a header; None is written as an empty field."""
    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
