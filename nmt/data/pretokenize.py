"""Word tokenization of raw sentences before sentencepiece (``data.tokenize``), for corpora that must
match text tokenized elsewhere, such as word-alignment gold sets.

- ``none``: the text as read.
- ``moses``: the Moses tokenizer (sacremoses), language-aware: punctuation split off, French elisions
  split after the apostrophe (``t'aime`` -> ``t' aime``), English clitics before it (``it 's``);
  typographic apostrophes (’) become plain ones first.
- ``och_ney``: ``moses``, then French contractions and elisions written out in full, the convention of
  the Hansards alignments (Och & Ney 2000): ``du`` -> ``de le``, ``aux`` -> ``à les``, ``l'`` -> ``le``,
  ``n'`` -> ``ne`` (``aujourd' hui`` stays). Other languages get ``moses`` alone.

The Moses tokenizer is a well-kept library (sacremoses, an optional extra); the French rewriting is a
word table of our own, since no library writes the Hansards convention.
"""

from __future__ import annotations

from collections.abc import Callable

from nmt.errors import NmtError
from nmt.schema import TOKENIZERS

# French contractions and elided words, written out as in the Hansards gold text (lowercase keys)
OCH_NEY_FRENCH = {
    "du": "de le",
    "des": "de les",
    "au": "à le",
    "aux": "à les",
    "l'": "le",
    "d'": "de",
    "n'": "ne",
    "qu'": "que",
    "s'": "se",
    "c'": "ce",
    "j'": "je",
    "m'": "me",
    "t'": "te",
    "jusqu'": "jusque",
    "lorsqu'": "lorsque",
    "puisqu'": "puisque",
    "quoiqu'": "quoique",
}


def word_tokenizer(kind: str, lang: str) -> Callable[[str], str]:
    """A function from a raw sentence to its space-separated words, for ``data.tokenize=kind``.

    Raises NmtError for an unknown kind, or when sacremoses is not installed."""
    if kind not in TOKENIZERS:
        raise NmtError(f"data.tokenize={kind}: choose one of {', '.join(TOKENIZERS)}")
    if kind == "none":
        return _unchanged
    try:
        from sacremoses import MosesTokenizer
    except ModuleNotFoundError:
        raise NmtError(f"data.tokenize={kind} needs sacremoses: pip install 'nmt[align]'") from None
    moses = MosesTokenizer(lang=lang)

    def tokenize(sentence: str) -> str:
        return moses.tokenize(sentence.replace("’", "'"), escape=False, return_str=True)

    if kind == "och_ney" and lang == "fr":
        return lambda sentence: write_out_french(tokenize(sentence))
    return tokenize


def write_out_french(words: str) -> str:
    """Moses-tokenized French with contractions and elisions written out (``OCH_NEY_FRENCH``); a
    capitalised word stays capitalised (``Du`` -> ``De le``)."""
    return " ".join(_written_out(word) for word in words.split())


def _written_out(word: str) -> str:
    full = OCH_NEY_FRENCH.get(word.lower())
    if full is None:
        return word
    return full[0].upper() + full[1:] if word[0].isupper() else full


def _unchanged(sentence: str) -> str:
    return sentence
