"""Request batching: the sentences of concurrent requests translated together, off the event loop.

Requests wait in an asyncio queue. The collector takes the first one, then whatever else arrives
within ``max_wait`` seconds or until ``max_sentences`` sentences are waiting, groups them by model
and options, and runs each group as ONE ``Engine.translate`` call in a single worker thread, so the
event loop keeps accepting requests meanwhile. Requests that arrive while a batch runs queue up and
form the next batch: the busier the server, the larger its batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nmt.serve.engine import Engine, Options

log = logging.getLogger(__name__)
Results = list[list[dict[str, Any]]]  # per sentence, its n-best records


@dataclass
class _Job:
    engine: Engine
    options: Options
    sentences: Sequence[str]
    done: asyncio.Future[Results] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher:
    """Collects requests into batches; ``start`` it on the serving loop, then await ``translate``."""

    def __init__(self, max_wait: float = 0.005, max_sentences: int = 64) -> None:
        self.max_wait, self.max_sentences = max_wait, max_sentences
        self.batches = 0  # batched model calls made so far
        self._queue: asyncio.Queue[_Job] | None = None
        self._next: _Job | None = None  # taken from the queue for the next batch
        self._task: asyncio.Task[None] | None = None
        self._worker: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-model")
        self._task = asyncio.create_task(self._serve(), name="nmt-batcher")

    async def stop(self) -> None:
        """Stop collecting; what waits in the queue is cancelled, a running model call finishes."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)

    async def translate(self, engine: Engine, sentences: Sequence[str], options: Options) -> Results:
        """The n-best records of ``sentences``, translated in a batch with whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        job = _Job(engine, options, sentences)
        await self._queue.put(job)
        return await job.done

    async def _serve(self) -> None:
        while True:
            jobs = await self._collect()
            groups: dict[tuple[str, Options], list[_Job]] = defaultdict(list)
            for job in jobs:
                groups[job.engine.name, job.options].append(job)
            for group in groups.values():
                await self._run(group)

    async def _collect(self) -> list[_Job]:
        """The first waiting job, then more until max_wait has passed or max_sentences are taken.

        A job that would take the batch past max_sentences opens the next batch instead.
        """
        assert self._queue is not None
        jobs = [self._next or await self._queue.get()]
        self._next = None
        count = len(jobs[0].sentences)
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while count < self.max_sentences:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    break
            if count + len(job.sentences) > self.max_sentences:
                self._next = job
                break
            jobs.append(job)
            count += len(job.sentences)
        return jobs

    async def _run(self, group: list[_Job]) -> None:
        """One model call for every sentence of ``group``; each job gets its share, or the error."""
        engine, options = group[0].engine, group[0].options
        sentences = [s for job in group for s in job.sentences]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._worker, engine.translate, sentences, options)
        except Exception as error:  # the requests fail; the server goes on
            log.error("translating %d sentences with %s failed", len(sentences), engine.name, exc_info=error)
            for job in group:
                if not job.done.done():
                    job.done.set_exception(error)
            return
        self.batches += 1
        start = 0
        for job in group:
            if not job.done.done():  # a client that went away leaves a cancelled future
                job.done.set_result(results[start : start + len(job.sentences)])
            start += len(job.sentences)
