"""Request batching: the sentences of concurrent requests translated together, off the event loop.

Requests wait in an asyncio queue; the collector moves them to a list of active requests (when
idle, it waits ``max_wait`` seconds for more to arrive with the first). Each model call is ONE
``Engine.translate`` in a single worker thread (the event loop keeps accepting requests meanwhile)
of at most ``max_sentences`` sentences and ``max_chars`` characters, taken one sentence per active
request in turn (of the first request's model and options, and of its next sentence's length class:
short, at most ``short_chars`` characters, or long). A large request is split into bounded batches
interleaved with the others, and a request partly served goes behind the requests that arrived
meanwhile: a small request waits for the one batch in flight, then is translated with other short
sentences. Decoding takes as many steps as a batch's longest sentence needs, so a short sentence
batched with a long one would take as long as the long one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nmt.serve.engine import Engine, Input, Options

log = logging.getLogger(__name__)
Results = list[list[dict[str, Any]]]  # per sentence, its n-best records


@dataclass(eq=False)  # hashed by identity
class _Job:
    engine: Engine
    options: Options
    sentences: Sequence[Input]
    done: asyncio.Future[Results] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    results: Results = field(default_factory=list)  # of the sentences translated so far, in order

    @property
    def key(self) -> tuple[str, Options]:
        return self.engine.name, self.options

    @property
    def left(self) -> Sequence[Input]:
        return self.sentences[len(self.results) :]


class Batcher:
    """Collects requests into bounded batches; ``start`` it on the serving loop, then await ``translate``."""

    def __init__(
        self, max_wait: float = 0.005, max_sentences: int = 64, max_chars: int = 2000, short_chars: int = 250
    ) -> None:
        self.max_wait, self.max_sentences, self.max_chars = max_wait, max_sentences, max_chars
        self.short_chars = short_chars
        self.batches = 0  # batched model calls made so far
        self._queue: asyncio.Queue[_Job] | None = None
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

    async def translate(self, engine: Engine, sentences: Sequence[Input], options: Options) -> Results:
        """The n-best records of ``sentences`` (each a source, and the target to align if given),
        translated in batches with whatever else is waiting; ``len`` of one is its characters."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        if not sentences:
            return []
        job = _Job(engine, options, sentences)
        await self._queue.put(job)
        return await job.done

    async def _serve(self) -> None:
        active: list[_Job] = []  # in turn
        served: list[_Job] = []  # partly served by the last batch: behind the requests that came meanwhile
        while True:
            active += await self._collect(idle=not (active or served))
            active = [job for job in active + served if not job.done.done()]  # and clients that went away
            served = []
            if not active:
                continue
            taken = self.take(active)
            await self._run(taken)
            served = [job for job in active if job in taken and not job.done.done()]
            active = [job for job in active if job not in taken]

    async def _collect(self, idle: bool) -> list[_Job]:
        """Every job waiting in the queue; when ``idle``, the first one to come and what follows it
        within ``max_wait`` seconds."""
        assert self._queue is not None
        jobs = []
        if idle:
            jobs.append(await self._queue.get())
            await asyncio.sleep(self.max_wait)
        while not self._queue.empty():
            jobs.append(self._queue.get_nowait())
        return jobs

    def take(self, active: Sequence[_Job]) -> dict[_Job, int]:
        """How many sentences of each job the next batch translates: one per job of the first job's
        model and options in turn, while the batch stays within ``max_sentences`` and ``max_chars``
        (a first sentence over ``max_chars`` goes alone) and its sentences in the first one's length
        class (a job whose next sentence is of the other class waits for another batch)."""
        jobs = [job for job in active if job.key == active[0].key]
        short = len(active[0].left[0]) <= self.short_chars
        taken = dict.fromkeys(jobs, 0)
        count = chars = 0
        while True:
            more = [
                job
                for job in jobs
                if taken[job] < len(job.left) and (len(job.left[taken[job]]) <= self.short_chars) == short
            ]
            if not more:
                return taken
            for job in more:
                size = len(job.left[taken[job]])
                if count and (count == self.max_sentences or chars + size > self.max_chars):
                    return {job: n for job, n in taken.items() if n}
                taken[job] += 1
                count, chars = count + 1, chars + size

    async def _run(self, taken: dict[_Job, int]) -> None:
        """One model call for the sentences ``taken``; each job gets its share (and its answer once
        complete), or the error."""
        taken = {job: n for job, n in taken.items() if n}
        engine, options = next(iter(taken)).engine, next(iter(taken)).options
        sentences = [s for job, n in taken.items() for s in job.left[:n]]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._worker, engine.translate, sentences, options)
        except Exception as error:  # the requests fail; the server goes on
            log.error("translating %d sentences with %s failed", len(sentences), engine.name, exc_info=error)
            for job in taken:
                if not job.done.done():
                    job.done.set_exception(error)
            return
        self.batches += 1
        start = 0
        for job, n in taken.items():
            job.results += results[start : start + n]
            start += n
            if not job.left and not job.done.done():  # a client that went away leaves a cancelled future
                job.done.set_result(job.results)
