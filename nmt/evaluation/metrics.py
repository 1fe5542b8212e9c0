"""Corpus-level scores through sacrebleu: BLEU, chrF and TER, each with its signature."""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF, TER


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, dict[str, float | str]]:
    """``{"bleu": {"score": .., "signature": ..}, "chrf": .., "ter": ..}`` for detokenized text."""
    scores = {}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        result = metric.corpus_score(list(hypotheses), [list(references)])
        scores[name] = {"score": round(result.score, 2), "signature": str(metric.get_signature())}
    return scores
