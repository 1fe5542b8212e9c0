"""FLOPs of a training step counted from a model config's dimensions (what MFU is measured
against: ``scripts/bench.py``; checked against torch's FlopCounterMode in tests/test_speed.py)."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def training_flops(cfg: Any, vocab: int, src_lengths: Tensor, tgt_lengths: Tensor) -> float:
    """Model FLOPs of one training step on a batch of sentence pairs of ``src_lengths`` and
    ``tgt_lengths`` (B,) real tokens: 3 x (forward), the forward being 2 x the multiply-adds of every
    matrix product (embedding lookups are free; attention over all S keys of the sentence, causal
    ones included, as the kernels compute them). ``cfg``: a model config of either family."""
    src, tgt = src_lengths.double(), tgt_lengths.double()
    if cfg.arch == "transformer":
        d, f, enc, dec = cfg.d_model, cfg.ffn_dim, cfg.enc_layers, cfg.dec_layers
        macs = (
            src * enc * (4 * d * d + 2 * d * f)  # encoder projections and feed-forward
            + src * dec * 2 * d * d  # cross-attention keys and values
            + tgt * dec * (6 * d * d + 2 * d * f)  # decoder self q/k/v/o, cross q/o, feed-forward
            + tgt * d * vocab  # output projection
            + enc * src * src * 2 * d  # encoder scores and context
            + dec * (tgt * tgt + tgt * src) * 2 * d  # decoder self- and cross-attention
        )
    else:
        gates = {"gru": 3, "lstm": 4}[cfg.cell]
        emb, hid, attn = cfg.emb_dim, cfg.hidden_dim, cfg.attn_dim
        half = hid // 2

        def rnn(inputs: int, size: int, layers: int) -> int:
            """Multiply-adds per token and direction of a stack of RNN layers (the upper ones read hid)."""
            return gates * size * (inputs + size + (layers - 1) * (hid + size))

        scored = {"additive": attn, "concat": attn, "dot": hid, "scaled_dot": hid, "general": hid, "none": 0}
        keyed = {"additive": hid * attn, "concat": hid * attn, "general": hid * hid}.get(cfg.attention, 0)
        queried = {"additive": hid * attn, "concat": hid * attn}.get(cfg.attention, 0)
        combine = 2 * hid * hid if cfg.decoder == "luong" else (2 * hid + emb) * hid
        if cfg.decoder == "conditional":  # RNN_1 reads the previous word, RNN_2 the context
            decoder = rnn(emb, hid, cfg.dec_layers) + rnn(hid, hid, cfg.dec_layers)
        else:  # one RNN reads both
            decoder = rnn(emb + hid, hid, cfg.dec_layers)
        readout = hid * emb + emb * vocab if cfg.tie_embeddings else hid * vocab
        macs = (
            src * (2 * rnn(emb, half, cfg.enc_layers) + keyed)
            + hid * hid  # the bridge, once per sentence
            + tgt * (decoder + queried + combine + readout)
            + tgt * src * (scored[cfg.attention] + hid)  # scores and context
        )
    return float(6 * macs.sum())
