"""The server's one door into the translation and alignment code: a loaded run that answers requests.

Everything ``nmt.serve`` needs from the models goes through ``Engine``: loading a run, what the run
says about itself (``describe``), which attention maps it has (``check``), and translating a batch
of sentences into JSON-ready n-best lists (``translate``), in the format of the lines that
``nmt translate --align`` writes (``nmt.alignment.dump``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nmt.alignment.dump import record, to_json_record
from nmt.decoding import DecodeConfig
from nmt.errors import NmtError
from nmt.evaluation.hypotheses import hyps_paths
from nmt.models.describe import architecture
from nmt.translate import Translation, Translator

Head = int | Literal["mean"]
TEST_DECODING = DecodeConfig(beam=5)  # whose test BLEU `describe` reports (`nmt evaluate`'s default)


@dataclass(frozen=True)
class Options:
    """How to translate one request. Hashable: requests with equal options share one batched call.

    layer/head choose a Transformer's cross-attention map (None: the run's own, ``align_layer`` and
    ``align_head``); head "mean" is the mean of the layer's heads. pieces adds the subword matrix
    to the word matrix; punctuation detaches trailing punctuation from words (``nmt align``).
    """

    beam: int = 5
    nbest: int = 1
    alpha: float = 0.6
    layer: int | None = None
    head: Head | None = None
    pieces: bool = False
    punctuation: bool = False


class Engine:
    """A run loaded once, translating batches of sentences; safe to call from any thread (one at a time)."""

    def __init__(self, name: str, translator: Translator) -> None:
        self.name, self.translator = name, translator
        self.cfg = translator.run.cfg.model
        self.layers, self.heads = translator.model.attention_grid
        self._own_map = translator.model.alignment_map
        self._lock = threading.Lock()  # the attention map is chosen on the shared model

    @classmethod
    def load(cls, name: str, run_dir: str | Path, device: str = "auto") -> Engine:
        return cls(name, Translator.from_run(str(run_dir), "best", device))

    def describe(self) -> dict[str, Any]:
        """What the run is: name, architecture, attention, languages, parameters, test BLEU when known."""
        run = self.translator.run
        family, attention = architecture(self.cfg)
        return {
            "name": self.name,
            "model": self.cfg.name,
            "architecture": family,
            "attention": attention,
            "source_language": run.cfg.data.src_lang,
            "target_language": run.cfg.data.tgt_lang,
            "corpus": run.cfg.data.name,
            "parameters": run.model.num_parameters(),
            "step": run.step,
            "test_bleu": self._test_bleu(),
            "layers": self.layers,
            "heads": self.heads,
            "attention_map": dict(zip(("layer", "head"), self.attention_map(None, None), strict=True)),
        }

    def attention_map(self, layer: int | None, head: Head | None) -> tuple[int, Head]:
        """The (layer, head) that ``layer``/``head`` choose, the run's own where None; NmtError if none.

        A layer may count from the end (-1: the last). An RNN has one map, (0, "mean"): the only
        head of a one-head model is its mean, as ``nmt aer`` lists it.
        """
        layer = self._own_map[0] if layer is None else layer
        head = self._own_map[1] if head is None else head
        if not -self.layers <= layer < self.layers:
            raise NmtError(f"layer {layer}: {self.name} has {self.layers} decoder layer(s) with attention")
        if head not in (None, "mean") and not 0 <= head < self.heads:
            raise NmtError(f"head {head}: {self.name} has {self.heads} attention head(s)")
        return layer % self.layers, "mean" if head is None or self.heads == 1 else head

    def translate(self, sentences: Sequence[str], options: Options) -> list[list[dict[str, Any]]]:
        """The n-best list of every sentence: JSON-ready records (``to_json_record`` without "source")."""
        with self._lock, self._using_map(*self.attention_map(options.layer, options.head)):
            config = DecodeConfig(
                beam=options.beam, nbest=options.nbest, alpha=options.alpha, batch_size=max(1, len(sentences))
            )
            found = self.translator.translate(sentences, config)
        return [[self._record(t, options) for t in nbest] for nbest in found]

    @contextmanager
    def _using_map(self, layer: int, head: Head) -> Iterator[None]:
        """Let the translations carry the attention map (layer, head) for a while."""
        model = self.translator.model
        model.select_alignment(layer, None if head == "mean" else head)
        try:
            yield
        finally:
            model.select_alignment(*self._own_map)

    @staticmethod
    def _record(translation: Translation, options: Options) -> dict[str, Any]:
        fields = to_json_record(record(translation, punctuation=options.punctuation))
        del fields["source"]
        if not options.pieces:
            for name in ("src_tokens", "tgt_tokens", "attention"):
                del fields[name]
        return fields

    def _test_bleu(self) -> float | None:
        """Test BLEU of TEST_DECODING from RUN_DIR/hyps (`nmt evaluate`), if written by this checkpoint."""
        run = self.translator.run
        path = hyps_paths(run.dir, "test", TEST_DECODING)[1]
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return report["bleu"]["score"] if report.get("step") == run.step else None


def load_engines(run_dirs: Sequence[str | Path], device: str = "auto") -> list[Engine]:
    """One engine per run, named by its directory (its full path where two directories share a name)."""
    paths = [Path(d) for d in run_dirs]
    names = [p.resolve().name for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    if len(set(names)) < len(names):
        raise NmtError(f"a run is named twice: {', '.join(map(str, paths))}")
    return [Engine.load(name, path, device) for name, path in zip(names, paths, strict=True)]
