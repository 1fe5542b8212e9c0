"""Translation models behind one interface (``EncoderDecoder``), built from a model config."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from nmt.config import RNNConfig, TransformerConfig
from nmt.models.base import EncoderDecoder, State

__all__ = ["EncoderDecoder", "State", "build_model"]


def build_model(cfg: DictConfig | Any, src_vocab: int, tgt_vocab: int, pad_id: int) -> EncoderDecoder:
    """The model a ``model`` config describes (its ``arch`` picks the family)."""
    if cfg.arch == "rnn":
        from nmt.models.rnn import RNNEncoderDecoder

        return RNNEncoderDecoder(_typed(RNNConfig, cfg), src_vocab, tgt_vocab, pad_id)
    if cfg.arch == "transformer":
        from nmt.models.transformer import Transformer

        return Transformer(_typed(TransformerConfig, cfg), src_vocab, tgt_vocab, pad_id)
    raise ValueError(f"model.arch: unknown architecture {cfg.arch!r}; choose rnn or transformer")


def _typed(schema: type, cfg: DictConfig | Any) -> Any:
    """A plain dataclass instance from a (possibly untyped) config node."""
    if isinstance(cfg, schema):
        return cfg
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))
