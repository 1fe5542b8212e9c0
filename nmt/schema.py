"""What a config schema is: fields with a range or a list of choices (``ranged``, ``choice``), the
names each choice key takes, and ``Schema``, which names every unusable value of a config section.
The schemas themselves are in ``nmt.config``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field, fields
from typing import Any

from nmt.numbers import Range

CELLS = ("gru", "lstm")
DECODERS = ("bahdanau", "conditional", "luong")
SCORES = ("additive", "concat", "dot", "general", "scaled_dot", "none")
SPANS = ("global", "local_m", "local_p")
NORMALIZERS = ("softmax", "sparsemax", "entmax15", "entmax_bisect", "hard")
ACTIVATIONS = ("relu", "gelu")
TOKENIZERS = ("none", "moses", "och_ney")
FORMATS = ("text", "tsv", "hub")
PARTS = ("train", "valid", "test")
COMPILE_CHOICES = ("auto", "true", "false")  # trainer.compile, in any case
"""The names a choice key takes; the registries that build them (``nmt.models``, ``nmt.data``) have
exactly these keys (tests/test_config_schemas.py)."""


def ranged(default: Any, allowed: Range) -> Any:
    """A numeric field whose values must lie in ``allowed`` (None, where the field takes it, always may)."""
    return field(default=default, metadata={"range": allowed})


def choice(default: str, choices: tuple[str, ...]) -> Any:
    """A field whose value must be one of ``choices``."""
    return field(default=default, metadata={"choices": choices})


class Schema:
    """A config section that names its own unusable values: ``problems`` checks each field's range or
    choices, then ``relations`` the values that depend on each other."""

    @classmethod
    def problems(cls, node: Any, prefix: str) -> Iterator[str]:
        """``PREFIXkey=value: why`` for every value of ``node`` (a config of this schema) training
        cannot use."""
        for item in fields(cls):  # type: ignore[arg-type]
            value = node.get(item.name)
            if value is None:
                continue
            if "range" in item.metadata:
                problem = item.metadata["range"].problem(f"{prefix}{item.name}={value}", value)
                yield from [problem] if problem else []
            if "choices" in item.metadata and value not in item.metadata["choices"]:
                yield f"{prefix}{item.name}={value}: choose one of {', '.join(item.metadata['choices'])}"
        yield from cls.relations(node, prefix)

    @classmethod
    def relations(cls, node: Any, prefix: str) -> Iterator[str]:
        """Values unusable together (none unless a schema says)."""
        return iter(())
