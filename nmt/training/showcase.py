"""The sentences whose attention TensorBoard shows during training: chosen once per run, the same at
every validation, so that one picture per sentence shows its alignment form step by step.

In order, the first ``trainer.attention_images`` of:

1. the textbook pair, "I love you." and its translation ("Je t'aime."), when ``TEXTBOOK`` has the
   run's source language; a target language it lacks shows the model's own translation;
2. ``trainer.attention_sentences``, with the model's own translations;
3. validation pairs whose two sides have ``WORDS`` words each, spread evenly over the validation set,
   with their reference translations.

A given translation (the textbook's, a reference) is read under teacher forcing, so its picture
keeps its words from one validation to the next; the others are greedy translations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.data.batching import make_batch
from nmt.data.clean import normalize
from nmt.data.vocab import EOS_PIECE, Vocab
from nmt.decoding import DecodeConfig, generate
from nmt.models import EncoderDecoder

TEXTBOOK = {
    "en": "I love you.",
    "fr": "Je t'aime.",
    "de": "Ich liebe dich.",
    "es": "Te quiero.",
    "it": "Ti amo.",
    "pt": "Eu te amo.",
    "nl": "Ik hou van jou.",
}
"""The textbook sentence in the languages we know it in (whitespace words, punctuation attached)."""
WORDS = range(5, 21)
"""How many whitespace words each side of a validation pair shown has: 5 to 20."""


@dataclass(frozen=True)
class Shown:
    """A sentence shown in TensorBoard, with the translation to read (None: the model's own)."""

    source: str
    target: str | None


def choose_shown(
    pairs: Sequence[tuple[str, str]],
    languages: tuple[str, str],
    count: int,
    sentences: Sequence[str] = (),
    lowercase: bool = False,
) -> list[Shown]:
    """The first ``count`` sentences to show (module docstring) for a run translating ``languages``
    (source, target codes) whose validation pairs are ``pairs``; lowercased like the run's text."""
    src_lang, tgt_lang = languages
    textbook = [Shown(TEXTBOOK[src_lang], TEXTBOOK.get(tgt_lang))] if src_lang in TEXTBOOK else []
    given = [Shown(sentence, None) for sentence in sentences]
    fits = [Shown(s, t) for s, t in pairs if len(s.split()) in WORDS and len(t.split()) in WORDS]
    wanted = min(max(0, count - len(textbook) - len(given)), len(fits))
    spread = [fits[i * len(fits) // wanted] for i in range(wanted)]
    return [_as_run_text(shown, lowercase) for shown in [*textbook, *given, *spread][:count]]


def _as_run_text(shown: Shown, lowercase: bool) -> Shown:
    """``shown`` NFC-normalised as validation text is, and lowercased for a lowercased run."""

    def text(sentence: str) -> str:
        return normalize(sentence).lower() if lowercase else normalize(sentence)

    return Shown(text(shown.source), None if shown.target is None else text(shown.target))


@torch.no_grad()
def shown_attention(
    model: EncoderDecoder, src_vocab: Vocab, tgt_vocab: Vocab, shown: Sequence[Shown]
) -> list[tuple[list[str], list[str], Tensor]]:
    """For each sentence: its source pieces + "</s>", target pieces + "</s>" and the model's alignment
    map (len(target pieces), len(source pieces)) on the CPU: of its given translation under teacher
    forcing, else of the model's greedy translation."""
    src_ids = src_vocab.encode([s.source for s in shown])
    found: dict[int, tuple[list[int], Tensor]] = {}
    forced = [i for i, s in enumerate(shown) if s.target is not None]
    if forced:
        tgt_ids = tgt_vocab.encode([shown[i].target for i in forced])
        device = next(model.parameters()).device
        batch = make_batch([src_ids[i] for i in forced], tgt_ids).to(device)
        maps = model(batch.src, batch.src_mask, batch.tgt_in, attention=True)[1].float().cpu()
        for k, (i, tgt) in enumerate(zip(forced, tgt_ids, strict=True)):
            found[i] = tgt, maps[k, : len(tgt) + 1, : len(src_ids[i]) + 1]
    free = [i for i, s in enumerate(shown) if s.target is None]
    if free:
        hyps = generate(model, [src_ids[i] for i in free], DecodeConfig(beam=1, batch_size=len(free)))
        for i, nbest in zip(free, hyps, strict=True):
            found[i] = nbest[0].tokens, nbest[0].attention.float().cpu()
    return [
        ([*src_vocab.pieces(src_ids[i]), EOS_PIECE], [*tgt_vocab.pieces(found[i][0]), EOS_PIECE], found[i][1])
        for i in range(len(shown))
    ]
