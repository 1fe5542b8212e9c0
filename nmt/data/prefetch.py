"""Batches made ahead of the step that needs them.

``prefetch(items, make)`` yields ``make(item)`` for each item, in order, while one background
thread already makes the next ``depth``: collating token ids into padded tensors (and pinning them,
on CUDA) overlaps the training step instead of following it. The items and their order are the
caller's, so a resumed run that starts the same order at the same place gets the same batches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Made = TypeVar("Made")


def prefetch(items: Iterable[Item], make: Callable[[Item], Made], depth: int = 2) -> Iterator[Made]:
    """``make(item)`` for each of ``items`` in order, up to ``depth`` made ahead in a background
    thread. An exception of ``make`` is raised where its result would have been yielded; closing the
    iterator early cancels what was not started and waits for the one being made."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be at least 1, got {depth}")
    source = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending: deque[Future[Made]] = deque()

        def submit_next() -> None:
            for item in source:
                pending.append(pool.submit(make, item))
                return

        try:
            for _ in range(depth):
                submit_next()
            while pending:
                made = pending.popleft().result()
                submit_next()
                yield made
        finally:
            for future in pending:
                future.cancel()
