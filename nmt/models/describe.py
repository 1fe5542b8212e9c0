"""A model config in words: its family and its attention, as tables and the server show them."""

from __future__ import annotations

from omegaconf import DictConfig


def architecture(model: DictConfig) -> tuple[str, str]:
    """(family, attention) of a model config, e.g. ("RNN, Luong decoder", "general, local-p (D=5)")."""
    normalizer = model.get("normalizer", "softmax")
    alpha = f" (alpha {model.entmax_alpha})" if normalizer == "entmax_bisect" else ""
    extras = [] if normalizer == "softmax" else [f"{normalizer}{alpha}"]
    if model.arch == "transformer":
        if model.get("max_relative_position", 0):
            extras.insert(0, f"relative positions (k={model.max_relative_position})")
        return "Transformer", ", ".join([f"multi-head scaled dot ({model.heads} heads)", *extras])
    if model.get("span", "global") != "global":
        extras.insert(0, f"{model.span.replace('_', '-')} (D={model.window})")
    if model.get("coverage", False):
        extras.insert(0, "coverage" + (f" (loss {model.coverage_loss})" if model.coverage_loss else ""))
    switches = (("word_keys", "word keys"), ("lexical", "lexical model"))
    extras += [name for key, name in switches if model.get(key, False)]
    return f"RNN, {model.decoder.capitalize()} decoder", ", ".join([model.attention, *extras])
