"""A run's saved checkpoints, to watch its alignment form: listed by step, loaded on demand.

Training keeps ``step_N.pt`` (the ``trainer.keep_last`` latest of every ``trainer.save_every``
updates) and ``best_step_N.pt`` (``trainer.keep_best``) beside the checkpoint the server loaded at
start; ``Snapshots`` lists their steps and gives an ``Engine`` for any of them, loading it the first
time it is asked for and keeping the ``keep`` most recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from nmt.errors import NmtError
from nmt.serve.engine import Engine
from nmt.training.checkpoint import snapshots

KEEP = 3  # snapshot engines kept loaded


class Snapshots:
    """The checkpoints of the served runs (``engines``, by name), each loaded as an ``Engine`` on demand."""

    def __init__(self, engines: dict[str, Engine], keep: int = KEEP) -> None:
        self.engines, self.keep = engines, keep
        self._loaded: OrderedDict[tuple[str, int], Engine] = OrderedDict()
        self._lock = threading.Lock()

    def paths(self, name: str) -> dict[int, Path]:
        """Step -> snapshot file of run ``name`` (``step_N.pt`` where a step has both kinds)."""
        run_dir = self.engines[name].translator.run.dir
        found = {}
        for path in [*snapshots(run_dir, best=True), *snapshots(run_dir, best=False)]:
            found[int(path.stem.rsplit("_", 1)[1])] = path
        return found

    def steps(self, name: str) -> list[int]:
        """Every step of run ``name`` that can be shown, oldest first (the served one included)."""
        return sorted({*self.paths(name), self.engines[name].translator.run.step})

    def engine(self, name: str, step: int | None) -> Engine:
        """Run ``name`` at checkpoint ``step`` (None or the served step: the served engine); NmtError
        for a step without a checkpoint. Blocks while a checkpoint loads: call it off the event loop."""
        served = self.engines[name]
        if step is None or step == served.translator.run.step:
            return served
        path = self.paths(name).get(step)
        if path is None:
            steps = ", ".join(map(str, self.steps(name)))
            raise NmtError(f"checkpoint {step}: {name} has checkpoints at steps {steps}")
        with self._lock:
            key = (name, step)
            if key not in self._loaded:
                self._loaded[key] = served.snapshot(path, step)
            self._loaded.move_to_end(key)
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
            return self._loaded[key]
