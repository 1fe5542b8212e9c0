"""The server's one door into the translation and alignment code: a loaded run that answers requests.

Everything ``nmt.serve`` needs from the models goes through ``Engine``: loading a run, what the run
says about itself (``describe``), which attention maps it has (``attention_map``), whether it can
answer a request (``check``), and translating a batch of sentences, or aligning given translations,
into JSON-ready n-best lists with the readings asked for, attention and/or saliency
(``translate``), in the format of the lines that ``nmt translate --align`` writes
(``nmt.alignment.dump``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from nmt.alignment.agreement import spearman
from nmt.alignment.dump import record, to_json_record
from nmt.alignment.reread import read_again
from nmt.data.clean import normalize
from nmt.decoding import DecodeConfig
from nmt.errors import NmtError
from nmt.evaluation.hypotheses import hyps_paths
from nmt.models.describe import architecture
from nmt.rundir import load_run
from nmt.serve.users import Users
from nmt.translate import Translation, Translator, encode_prefix

Head = int | Literal["mean"]
TEST_DECODING = DecodeConfig(beam=5)  # whose test BLEU `describe` reports (`nmt evaluate`'s default)


Method = Literal["attention", "saliency", "both"]
READINGS: dict[str, tuple[str, ...]] = {
    "attention": ("attention",),
    "saliency": ("saliency",),
    "both": ("attention", "saliency"),
}
"""The readings of a translation's alignment that each ``method`` shows (``nmt align --method``)."""
SHARED = ("translation", "score", "log_prob", "src_words", "tgt_words")  # of a hypothesis, every reading


@dataclass(frozen=True)
class Options:
    """How to translate one request. Hashable: requests with equal options share one batched call.

    layer/head choose a Transformer's cross-attention map (None: the run's own, ``align_layer`` and
    ``align_head``); head "mean" is the mean of the layer's heads. pieces adds the subword matrix
    to the word matrix; punctuation detaches trailing punctuation from words (``nmt align``).
    method: which readings every translation carries (``READINGS``; "both" adds their Spearman rho).
    aligned: the inputs carry the translations to align (teacher forcing) instead of searching.
    prefix: target text every translation starts with. sample: draw ``nbest`` samples (temperature,
    top_k, top_p, seed), one sentence at a time, so that a sentence's samples depend on it and the
    seed alone, not on what it was batched with.
    """

    beam: int = 5
    nbest: int = 1
    alpha: float = 0.6
    layer: int | None = None
    head: Head | None = None
    pieces: bool = False
    punctuation: bool = True
    method: Method = "attention"
    aligned: bool = False
    prefix: str | None = None
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def decoding(self, sentences: int) -> DecodeConfig:
        """The ``DecodeConfig`` of a search over ``sentences`` sentences."""
        return DecodeConfig(
            beam=self.beam,
            nbest=self.nbest,
            alpha=self.alpha,
            sampling=self.sample,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=self.seed,
            batch_size=1 if self.sample else max(1, sentences),
        )


@dataclass(frozen=True)
class Input:
    """One sentence of a request, with the translation to align instead of the model's own (``target``)."""

    source: str
    target: str | None = None

    def __len__(self) -> int:
        """Its characters, both sides: what the batcher bounds a batch by."""
        return len(self.source) + len(self.target or "")


class Engine:
    """A run loaded once, translating batches of sentences; safe to call from any thread: calls that
    read the run's own attention map run at once, others alone (``Users``)."""

    def __init__(self, name: str, translator: Translator) -> None:
        self.name, self.translator = name, translator
        self.cfg = translator.run.cfg.model
        self.layers, self.heads = translator.model.attention_grid
        self._own_map = translator.model.alignment_map
        self._users = Users()

    @classmethod
    def load(cls, name: str, run_dir: str | Path, device: str = "auto") -> Engine:
        return cls(name, Translator.from_run(str(run_dir), "best", device))

    def snapshot(self, path: Path, step: int) -> Engine:
        """This run at another of its checkpoints (``path``), on the same device: named NAME@STEP."""
        run = self.translator.run
        return Engine(f"{self.name}@{step}", Translator(load_run(run.dir, str(path), self.translator.device)))

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
            "saliency": self.translator.model.has_saliency,
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

    def check(self, options: Options, inputs: Sequence[Input]) -> None:
        """That this model can answer ``inputs`` with ``options``: an NmtError naming the field if not.

        Saliency needs a model that declares it (``has_saliency``); a prefix must be spelt by the
        target vocabulary; each given target must be non-empty, as its sentence, and fit the model."""
        if "saliency" in READINGS[options.method] and not self.translator.model.has_saliency:
            raise NmtError(
                f"method {options.method}: {self.name} cannot compute gradient saliency; use method attention"
            )
        if options.prefix is not None:
            encode_prefix(self.translator.run.tgt_vocab, options.prefix, self.translator.max_tokens)
        for number, given in enumerate(inputs, 1):
            if given.target is not None:
                self._check_pair(number, given)

    def _check_pair(self, number: int, given: Input) -> None:
        """Sentence ``number`` and its target both have words, and the target fits the model."""
        if not normalize(given.source):
            raise NmtError(f"sentences: sentence {number} is empty: there is nothing to align")
        ids = self.translator.run.tgt_vocab.encode([normalize(given.target or "")])[0]
        if not ids:
            raise NmtError(f"target: translation {number} is empty: there is nothing to align")
        if len(ids) >= self.translator.max_tokens:
            raise NmtError(
                f"target: translation {number} has {len(ids)} subwords, more than {self.name} can take "
                f"({self.translator.max_tokens - 1})"
            )

    def translate(self, inputs: Sequence[Input], options: Options) -> list[list[dict[str, Any]]]:
        """The n-best list of every input: JSON-ready records (``_record``), checked by ``check``."""
        with self._using(options):
            found = self._search(inputs, options)
            flat = [t for nbest in found for t in nbest]
            readings = [self._read(flat, name, options.method) for name in READINGS[options.method]]
        records = iter(
            self._record(dict(zip(READINGS[options.method], same, strict=True)), options)
            for same in zip(*readings, strict=True)
        )
        return [[next(records) for _ in nbest] for nbest in found]

    def _search(self, inputs: Sequence[Input], options: Options) -> list[list[Translation]]:
        """The n-best translations of every input; the given target alone where ``options.aligned``."""
        sources = [given.source for given in inputs]
        if options.aligned:  # shown as given; the words are those the target vocabulary spells
            targets = [given.target or "" for given in inputs]
            forced = self.translator.score(sources, targets)
            return [[replace(t, text=normalize(target))] for t, target in zip(forced, targets, strict=True)]
        prefixes = None if options.prefix is None else [options.prefix] * len(sources)
        return self.translator.translate(sources, options.decoding(len(sources)), prefixes=prefixes)

    def _read(self, translations: list[Translation], name: str, method: Method) -> list[Translation]:
        """The translations carrying reading ``name``: attention alone is what the search carried;
        saliency, and attention beside it, are read again under teacher forcing as ``nmt align`` does.
        Saliency is read one translation at a time, so that its noise draws are those of ``nmt align``
        for that sentence alone, whatever it was batched with."""
        run = self.translator.run
        if method == "attention":
            return translations
        if name == "saliency":
            return [read_again(run, [translation], name)[0] for translation in translations]
        return read_again(run, translations, name)

    def _using(self, options: Options) -> AbstractContextManager[None]:
        """The model for a call with ``options``: shared with other calls where it reads the run's own
        attention map alone; else alone, carrying the map that ``options`` choose."""
        chosen = self.attention_map(options.layer, options.head)
        if options.method == "attention" and chosen == self.attention_map(None, None):
            return self._users.reading()
        return self._alone(*chosen)

    @contextmanager
    def _alone(self, layer: int, head: Head) -> Iterator[None]:
        """The model to this call alone, its translations carrying the attention map (layer, head)."""
        model = self.translator.model
        with self._users.changing():
            model.select_alignment(layer, None if head == "mean" else head)
            try:
                yield
            finally:
                model.select_alignment(*self._own_map)

    @staticmethod
    def _record(readings: dict[str, Translation], options: Options) -> dict[str, Any]:
        """One hypothesis as JSON: text, score, log_prob, src_words, tgt_words and, per reading, its
        word matrix (``word_attention``, ``word_saliency``; rows: target words); with ``pieces`` also
        src_tokens, tgt_tokens and the subword matrices (``attention``, ``saliency``); with both
        readings ``rho``, their Spearman correlation over the word matrices (None if one is constant)."""
        records = {name: record(t, punctuation=options.punctuation) for name, t in readings.items()}
        fields: dict[str, Any] = {}
        for name, rec in records.items():
            values = to_json_record(rec)
            fields |= {key: values[key] for key in SHARED}
            fields[f"word_{name}"] = values["word_attention"]
            if options.pieces:
                fields |= {"src_tokens": values["src_tokens"], "tgt_tokens": values["tgt_tokens"]}
                fields[name] = values["attention"]
        if len(records) == 2:
            rho = spearman(records["attention"].word_attention, records["saliency"].word_attention)
            fields["rho"] = None if math.isnan(rho) else round(rho, 4)
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
