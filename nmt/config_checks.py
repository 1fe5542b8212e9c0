"""Values the schemas accept but training cannot use, refused before anything is written.

The schemas (``nmt/config.py``) check types and key names when Hydra merges a config onto them, and
each names its own unusable values (``Schema.problems``: ranges, choices and the values that depend
on each other); ``check_training_config`` asks them all at once and adds that every other number is
finite, so ``trainer.batch_tokens=0`` stops at start-up with the key's name instead of training
silently on one-pair batches or failing deep inside torch.
"""

from __future__ import annotations

from collections.abc import Iterator

from omegaconf import DictConfig, ListConfig

from nmt.config import Config
from nmt.errors import NmtError
from nmt.numbers import Range


def check_training_config(cfg: DictConfig) -> None:
    """Raise one ``NmtError`` naming every key whose value training cannot use."""
    problems = list(Config.problems(cfg, ""))
    named = {problem.split("=")[0] for problem in problems}
    problems += [p for p in _finite_problems(cfg, "") if p.split("=")[0] not in named]
    if problems:
        raise NmtError("; ".join(problems))


ANY_FLOAT, ANY_INT = Range(), Range(-(2**63), 2**63 - 1, integer=True)


def _finite_problems(node: DictConfig | ListConfig, prefix: str) -> Iterator[str]:
    """Every other number of the config, anywhere in it: floats finite, integers within 64 bits
    (``check_training_config`` names a key with a range of its own once, by that range)."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        where = f"{prefix}{key}" if isinstance(node, DictConfig) else f"{prefix[:-1]}[{key}]"
        value = node[key]
        if isinstance(value, DictConfig | ListConfig):
            yield from _finite_problems(value, f"{where}.")
        elif isinstance(value, float) and not ANY_FLOAT.contains(value):
            yield ANY_FLOAT.problem(f"{where}={value}", value)
        elif isinstance(value, int) and not isinstance(value, bool) and not ANY_INT.contains(value):
            yield ANY_INT.problem(f"{where}={value}", value)
