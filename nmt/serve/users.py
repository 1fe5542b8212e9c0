"""Sharing one loaded model between the server's worker threads: calls that read it run together,
a call that changes it runs alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Users:
    """Who uses a model at once: any number of calls that leave it as it is (``reading``), or one call
    that changes it (``changing``: selects another attention map, hooks saliency's noise onto its
    source embeddings) alone. A changing call waits for the calls in flight, and the reading calls
    that come after it wait for it."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._reading = 0  # reading calls in flight
        self._changing = 0  # changing calls in flight (at most one) or waiting for their turn
        self._alone = False  # a changing call is in flight

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._turn:
            self._turn.wait_for(lambda: not self._changing)
            self._reading += 1
        try:
            yield
        finally:
            with self._turn:
                self._reading -= 1
                self._turn.notify_all()

    @contextmanager
    def changing(self) -> Iterator[None]:
        with self._turn:
            self._changing += 1
            self._turn.wait_for(lambda: not self._reading and not self._alone)
            self._alone = True
        try:
            yield
        finally:
            with self._turn:
                self._alone = False
                self._changing -= 1
                self._turn.notify_all()
