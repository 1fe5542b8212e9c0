"""Translation models behind one interface (``EncoderDecoder``), built from a model config."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from nmt.config import RNNConfig, TransformerConfig
from nmt.models.base import EncoderDecoder, SpecialIds, State

__all__ = ["EncoderDecoder", "SpecialIds", "State", "build_model"]


def build_model(
    cfg: DictConfig | Any, src_vocab: int, tgt_vocab: int, pad_id: int, *, bos_id: int = 2, eos_id: int = 3
) -> EncoderDecoder:
    """The model a ``model`` config describes (its ``arch`` picks the family), for vocabularies of
    ``src_vocab`` and ``tgt_vocab`` entries whose special ids are given (the defaults are the ids
    ``nmt.data.vocab`` trains sentencepiece with; ``load_run`` passes the loaded vocabulary's own)."""
    specials = SpecialIds(pad=pad_id, bos=bos_id, eos=eos_id)
    if cfg.arch == "rnn":
        from nmt.models.rnn import DECODERS

        rnn = _typed(RNNConfig, cfg)
        return DECODERS[rnn.decoder](rnn, src_vocab, tgt_vocab, specials)
    if cfg.arch == "transformer":
        from nmt.models.transformer import Transformer

        return Transformer(_typed(TransformerConfig, cfg), src_vocab, tgt_vocab, specials)
    raise ValueError(f"model.arch: unknown architecture {cfg.arch!r}; choose rnn or transformer")


def _typed(schema: type, cfg: DictConfig | Any) -> Any:
    """A plain dataclass instance from a (possibly untyped) config node."""
    if isinstance(cfg, schema):
        return cfg
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))
