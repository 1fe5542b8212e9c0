"""One ``nmt train`` per run directory: an exclusive ``flock`` on ``RUN_DIR/.lock`` while training."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nmt.errors import NmtError


@contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock (created with the directory if need be) until the block ends.

    The operating system releases it when the process dies, however it dies, so a killed run never
    leaves a stale lock behind. A second process asking for it stops at once with a clear message.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / ".lock").open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NmtError(
                f"{run_dir} is in use: another `nmt train` is writing into it (it holds "
                f"{run_dir / '.lock'}); wait for it to finish, or train into another run_dir=..."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
