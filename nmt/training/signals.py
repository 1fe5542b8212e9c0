"""Stop training cleanly on a signal: finish the step, save a checkpoint, then exit.

SIGINT (Ctrl-C), SIGTERM (how schedulers stop and preempt jobs) and SIGUSR2 (the warning SLURM
sends before a time-out, via submitit) only set a flag; the trainer checks it after every update,
saves ``last.pt`` and calls ``stop()``. A second Ctrl-C stops at once, without saving.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, NoReturn

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)


class Interrupted(Exception):
    """Training stopped on a signal after saving its checkpoint; exit with status 128 + signal number."""

    def __init__(self, signum: int, note: str) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}; {note}")
        self.signum = signum


class StopSignals:
    """A context manager that turns ``HANDLED`` signals into a request to stop (``received``)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():  # only there can Python catch signals
            self.previous = {signum: signal.signal(signum, self._handle) for signum in HANDLED}
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now
        self.received = signum

    def stop(self, note: str) -> NoReturn:
        """Call once the checkpoint is saved. A handler that was installed before ours (submitit's, which
        requeues a SLURM job) gets the signal first; then ``Interrupted`` is raised with ``note``."""
        signum = self.received
        assert signum is not None
        previous = self.previous.get(signum)
        self.__exit__(None, None, None)
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, None)
        raise Interrupted(signum, note)
