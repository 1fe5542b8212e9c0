"""Text in and out of the commands: input lines (a file or stdin), output (a file, written
atomically, or stdout), and the interactive prompt (with line editing and history when the
``readline`` module is there)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from nmt.errors import NmtError
from nmt.outputs import atomic_write


def read_lines(path: Path | None) -> list[str]:
    """Lines of a UTF-8 file (or stdin), split on "\\n" only: other Unicode line breaks stay inside a line."""
    name = str(path) if path else "<stdin>"
    try:
        data = path.read_bytes() if path else sys.stdin.buffer.read()
    except OSError as e:
        raise NmtError(f"{name}: cannot read ({e.strerror})") from None
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = []
    for number, line in enumerate(raw, 1):
        try:
            lines.append(line.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as e:
            raise NmtError(f"{name}:{number}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return lines


@contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file for --output (written atomically, its folder created)."""
    if path is None:
        yield sys.stdout
        return
    with atomic_write(path) as file:
        yield file


def prompt(text: str = "> ") -> Iterator[str]:
    """What the user types, line by line, until end of input (Ctrl-D). ``input`` edits lines and
    keeps their history (arrow keys) once ``readline`` is imported, where the platform has it."""
    with suppress(ImportError):
        import readline  # noqa: F401 (importing it is what turns line editing on)
    while True:
        try:
            yield input(text)
        except EOFError:
            return


def read_pairs(src: Path, tgt: Path) -> tuple[list[str], list[str]]:
    """The lines of two parallel files, refused unless they have as many lines."""
    sources, targets = read_lines(src), read_lines(tgt)
    if len(sources) != len(targets):
        raise NmtError(f"{src} has {len(sources)} lines but {tgt} has {len(targets)}")
    return sources, targets
