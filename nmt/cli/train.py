"""``nmt train [HYDRA OVERRIDES]``: train a model; Hydra parses everything after ``train``."""

from __future__ import annotations

import sys

SUMMARY = "train a model (Hydra overrides follow; `nmt train --help`)"


def run(argv: list[str]) -> int:
    """Train with the Hydra application ``nmt.train`` on ``argv`` (it exits on errors)."""
    from nmt.train import main as train_main

    sys.argv = ["nmt train", *argv]
    train_main()
    return 0
