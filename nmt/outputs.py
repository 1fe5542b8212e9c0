"""Where results go: checked before the work, written atomically.

``check_output`` refuses a file or folder that could not be written (a file on the way where a
folder is needed, a folder where a file is meant, a place nothing can be created in) with one
message naming the option and the path, so a command fails at start-up instead of after its work.
``atomic_write`` writes through a temporary file in the same folder, flushed to disk and renamed
over the target: a failure at any moment leaves the previous file whole, or none.

The bottom layer, beside ``nmt.errors``: it imports nothing else from ``nmt``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nmt.errors import NmtError


def check_output(path: Path, option: str, folder: bool = False) -> None:
    """Refuse, before any work, an output ``path`` (a file, or a ``folder``) that cannot be written:
    the NmtError names ``option``, the path and the reason. Creates nothing."""
    path = Path(path)
    where = f"{option} {path}" if option else str(path)
    if path.is_dir() and not folder:
        raise NmtError(f"{where}: is a directory; give a file name")
    if path.exists() and not path.is_dir() and folder:
        raise NmtError(f"{where}: is a file; give a directory")
    existing = path if path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NmtError(f"{where}: cannot be created, {existing} is not a directory")
    _probe(existing, where)


def check_outputs(outputs: dict[str, Path | None], folder: bool = False) -> None:
    """``check_output`` for each option that was given (``{option: path or None}``)."""
    for option, path in outputs.items():
        if path is not None:
            check_output(path, option, folder)


def _probe(folder: Path, where: str) -> None:
    """Create and delete a file in ``folder`` (the one test that holds for root, read-only file
    systems and /proc alike); an OSError becomes an NmtError naming ``where``."""
    try:
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=".nmt-probe-")
    except OSError as e:
        raise NmtError(f"{where}: cannot write in {folder} ({e.strerror})") from None
    os.close(descriptor)
    os.unlink(name)


@contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO]:
    """A file (``mode`` "w" for UTF-8 text, "wb" for bytes) whose contents replace ``path`` only when
    the block ends without an error: a temporary file of a unique name in ``path``'s folder (created
    when missing), flushed to disk, renamed over ``path``, and the folder synced. On an error the
    temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        text = "b" not in mode  # text: UTF-8, and "\n" written as it is on every platform
        with tmp.open(mode, encoding="utf-8" if text else None, newline="" if text else None) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """A new, empty folder to fill; it takes ``path``'s place only when the block ends without an
    error (a previous folder there is removed then). On an error it is removed and ``path`` is
    untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    tmp.chmod(0o755)  # mkdtemp's folder is private; an output folder is not
    old = tmp.with_suffix(".old")
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    """``path``'s contents become ``text`` (UTF-8), atomically."""
    with atomic_write(path) as file:
        file.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    """``path``'s contents become ``data``, atomically."""
    with atomic_write(path, "wb") as file:
        file.write(data)
