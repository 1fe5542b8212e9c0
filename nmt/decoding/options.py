"""The decoding options, generated from ``DecodeConfig``'s fields: one declaration of each setting's
name, type, default, meaning (the field's docstring) and allowed values (its ``Range``), for the
command line (``nmt.cli.options``), the server and the documentation.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
import typing
from dataclasses import dataclass, fields
from functools import cache

from nmt.decoding.config import DecodeConfig, option
from nmt.numbers import Range


@dataclass(frozen=True)
class DecodeOption:
    """One setting of decoding as a command-line option: ``--beam 5``, or ``--sample`` (a switch)."""

    name: str  # the DecodeConfig field
    flag: str  # the option: --beam, --max-len-a, --sample
    type: type  # int, float or bool (a switch)
    default: int | float | bool | None  # None: unset (batch_tokens)
    doc: str  # what it means (the field's docstring)
    range: Range | None  # the values it takes (None: a switch)

    @property
    def help(self) -> str:
        """The meaning and, for a number, its allowed values."""
        return self.doc if self.range is None else f"{self.doc} Must be {self.range}."


@cache
def decode_options() -> tuple[DecodeOption, ...]:
    """Every field of ``DecodeConfig`` as an option, in the order of the fields."""
    types, docs = typing.get_type_hints(DecodeConfig), field_docs(DecodeConfig)
    return tuple(
        DecodeOption(
            f.name,
            option(f.name),
            _given(types[f.name]),
            f.default,
            docs.get(f.name, ""),
            f.metadata.get("range"),
        )
        for f in fields(DecodeConfig)
    )


def _given(hint: object) -> type:
    """The type a value of the option has when given: ``int`` for ``int | None``."""
    given = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return given[0] if given else hint  # type: ignore[return-value]


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated field of a class's source, on one line."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in itertools.pairwise(body):
        text = (
            after.value.value
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            else None
        )
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(text, str):
            docs[node.target.id] = " ".join(text.split())
    return docs
