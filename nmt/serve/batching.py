"""Request batching: the sentences of concurrent requests translated together, off the event loop, in
two lanes, so that a short sentence never waits for a long one's model call.

Decoding takes as many steps as a batch's longest sentence needs, and a 1,000-character sentence
takes seconds. So the ``Batcher`` splits every request by length into short sentences (at most
``short_chars`` characters) and long ones, and each part goes to its ``Lane``: each lane has its own
queue and its own worker thread, and the two lanes' model calls run at the same time (torch releases
the GIL in its kernels; ``Engine`` lets calls that leave the model as it is share it). A short
sentence waits at most for the short lane's batch in flight, however long the long lane's calls take.

Within a lane, requests wait in an asyncio queue; the collector moves them to a list of active
requests (when idle, it waits ``max_wait`` seconds for more to arrive with the first). Each model
call is ONE ``Engine.translate`` of at most ``max_sentences`` sentences and ``max_chars`` characters,
taken one sentence per active request in turn (of the first request's model and options). A large
request is split into bounded batches interleaved with the others, and a request partly served goes
behind the requests that arrived meanwhile.
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
    """Splits requests between a lane of short sentences and a lane of long ones; ``start`` it on the
    serving loop, then await ``translate``."""

    def __init__(
        self, max_wait: float = 0.005, max_sentences: int = 64, max_chars: int = 2000, short_chars: int = 250
    ) -> None:
        self.short_chars = short_chars
        self.short, self.long = (Lane(name, max_wait, max_sentences, max_chars) for name in ("short", "long"))

    @property
    def batches(self) -> int:
        """Batched model calls made so far, both lanes."""
        return self.short.batches + self.long.batches

    def start(self) -> None:
        self.short.start()
        self.long.start()

    async def stop(self) -> None:
        await asyncio.gather(self.short.stop(), self.long.stop())

    async def translate(self, engine: Engine, sentences: Sequence[Input], options: Options) -> Results:
        """The n-best records of ``sentences`` (each a source, and the target to align if given), in
        order: the short ones translated in the short lane, the long ones in the long lane, each in
        batches with whatever else is waiting there; ``len`` of one is its characters."""
        lanes = [self.short if len(s) <= self.short_chars else self.long for s in sentences]
        parts = {lane: [s for s, its in zip(sentences, lanes, strict=True) if its is lane] for lane in lanes}
        answers = await asyncio.gather(*(lane.translate(engine, p, options) for lane, p in parts.items()))
        results = {lane: iter(answer) for lane, answer in zip(parts, answers, strict=True)}
        return [next(results[lane]) for lane in lanes]


class Lane:
    """A queue of requests and the one worker thread that translates them in bounded batches."""

    def __init__(self, name: str, max_wait: float, max_sentences: int, max_chars: int) -> None:
        self.name, self.max_wait = name, max_wait
        self.max_sentences, self.max_chars = max_sentences, max_chars
        self.batches = 0  # batched model calls made so far
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._worker: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"nmt-{self.name}")
        self._task = asyncio.create_task(self._serve(), name=f"nmt-{self.name}-lane")

    async def stop(self) -> None:
        """Stop collecting; what waits in the queue is cancelled, a running model call finishes."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)

    async def translate(self, engine: Engine, sentences: Sequence[Input], options: Options) -> Results:
        """The n-best records of ``sentences``, translated in batches with whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
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
        (a first sentence over ``max_chars`` goes alone)."""
        jobs = [job for job in active if job.key == active[0].key]
        taken = dict.fromkeys(jobs, 0)
        count = chars = 0
        while more := [job for job in jobs if taken[job] < len(job.left)]:
            for job in more:
                size = len(job.left[taken[job]])
                if count and (count == self.max_sentences or chars + size > self.max_chars):
                    return {job: n for job, n in taken.items() if n}
                taken[job] += 1
                count, chars = count + 1, chars + size
        return taken

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
