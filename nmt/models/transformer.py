"""Transformer encoder-decoder (Vaswani et al. 2017, "Attention is all you need").

The whole model, top to bottom::

    x_0  = dropout(sqrt(D) E x + P)                 embeddings scaled, plus sinusoidal positions P
    enc  = N x [self-attention, feed-forward]       each wrapped in a residual block
    y_0  = dropout(sqrt(D) E y + P)
    dec  = N x [causal self-attention, cross-attention over enc, feed-forward]
    p(y_t | y_<t, x) = softmax(W dec_t), with W = E_tgt when embeddings are tied

A residual block around a sublayer f is, post-norm (the paper) ``LN(x + dropout(f(x)))``, or
pre-norm ``x + dropout(f(LN(x)))`` followed by one final LayerNorm after the last layer (more
stable to train without a long warm-up). The feed-forward is ``W_2 act(W_1 x)`` with ReLU as in
the paper (GELU on request). Every attention normalises its scores with ``model.normalizer``
(softmax, or sparse: sparsemax, 1.5-entmax, alpha-entmax as in Correia et al. 2019); with
``model.max_relative_position`` k > 0 self-attention adds relative position representations
clipped at distance k (Shaw et al. 2018) to the sinusoidal absolute positions.

Supervised alignment (Garg et al. 2019, "Jointly learning to align and translate"): with
``model.full_context_alignment`` the alignment map (``model.align_layer``/``align_head``) is read off
a second decoder pass that sees the whole target (padding masked, no causal mask), so the row of
target word t knows t itself; that pass feeds the supervised-attention loss and every reading under
teacher forcing (``forward`` and ``attention_maps``: ``nmt aer``, ``nmt align``). Translations,
decoded one token at a time, still carry the causal pass's map (``nmt translate --align``, the server).

Incremental decoding (fairseq style): the encoder runs once; ``init_state`` projects its output
into every decoder layer's cross-attention keys/values once; each ``step`` embeds one token,
appends its self-attention key/value to a per-layer cache and attends over the cache, so the
prefix is never recomputed. Teacher forcing runs the very same decoder code on all T positions
at once with a causal mask and no cache.

The decoder state is a flat dict of batch-first tensors (``reorder`` selects rows on dim 0)::

    src_mask         (B, S)          True on real source tokens
    cross_k{i}       (B, H, S, D/H)  layer i's projected source keys/values, computed once
    cross_v{i}
    self_k{i}        (B, H, t, D/H)  layer i's keys/values of the t target positions decoded so far
    self_v{i}
    pos              int             t, the position of the next token
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.config import TransformerConfig
from nmt.models.base import EncoderDecoder, SpecialIds, State
from nmt.models.multihead import MultiHeadAttention, build_multihead
from nmt.models.normalizers import build_normalizer

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
KV = tuple[Tensor, Tensor]


def sinusoidal_positions(max_len: int, dim: int) -> Tensor:
    """P[pos, 2i] = sin(pos / 10000^(2i/D)), P[pos, 2i+1] = cos(pos / 10000^(2i/D)): (max_len, D)."""
    position = torch.arange(max_len, dtype=torch.float).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def causal_mask(queries: int, past: int, device: torch.device) -> Tensor:
    """(1, Tq, past + Tq) bool: query i (at position past + i) may look at keys 0 .. past + i."""
    return torch.ones(queries, past + queries, dtype=torch.bool, device=device).tril(past).unsqueeze(0)


def attention(cfg: TransformerConfig, self_attention: bool) -> MultiHeadAttention:
    """One attention sublayer: ``model.normalizer`` everywhere, relative positions (when
    ``model.max_relative_position`` > 0) in self-attention only."""
    normalizer = build_normalizer(cfg.normalizer, cfg.entmax_alpha, cfg.gumbel_tau)
    distance = cfg.max_relative_position if self_attention else 0
    return build_multihead(cfg.d_model, cfg.heads, cfg.attn_dropout, normalizer, distance)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.w_1, self.w_2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.activation, self.dropout = ACTIVATIONS[activation], nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(self.dropout(self.activation(self.w_1(x))))


class Residual(nn.Module):
    """The LayerNorm and dropout around one sublayer: pre-norm or post-norm."""

    def __init__(self, dim: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm, self.dropout, self.pre_norm = nn.LayerNorm(dim), nn.Dropout(dropout), pre_norm

    def input(self, x: Tensor) -> Tensor:
        """What the sublayer sees: LN(x) in pre-norm, x in post-norm."""
        return self.norm(x) if self.pre_norm else x

    def output(self, x: Tensor, sublayer_out: Tensor) -> Tensor:
        """x + dropout(f) in pre-norm, LN(x + dropout(f)) in post-norm."""
        x = x + self.dropout(sublayer_out)
        return x if self.pre_norm else self.norm(x)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig, activation: str) -> None:
        super().__init__()
        self.self_attn = attention(cfg, self_attention=True)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim, activation, cfg.dropout)
        self.attn_block, self.ffn_block = (Residual(cfg.d_model, cfg.dropout, cfg.pre_norm) for _ in range(2))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, S, D), mask (B, 1, S) -> (B, S, D)."""
        queries, keys, values = self.self_attn.project_self(self.attn_block.input(x))
        context, _ = self.self_attn.attend_heads(queries, keys, values, mask, need_weights=False)
        x = self.attn_block.output(x, context)
        return self.ffn_block.output(x, self.ffn(self.ffn_block.input(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig, activation: str) -> None:
        super().__init__()
        self.self_attn = attention(cfg, self_attention=True)
        self.cross_attn = attention(cfg, self_attention=False)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim, activation, cfg.dropout)
        self.self_block, self.cross_block, self.ffn_block = (
            Residual(cfg.d_model, cfg.dropout, cfg.pre_norm) for _ in range(3)
        )

    def forward(
        self, x: Tensor, self_mask: Tensor, past: KV | None, cross: KV, cross_mask: Tensor, need_weights: bool
    ) -> tuple[Tensor, KV, Tensor | None]:
        """Tq target positions x (B, Tq, D) after ``past`` ones.

        self_mask (1, Tq, past + Tq) causal; past: this layer's cached (k, v), (B, H, past, D/H),
        or None when there is none (teacher forcing); cross: prepared source (k, v), (B, H, S, D/H);
        cross_mask (B, 1, S). Returns the output (B, Tq, D), the self-attention (k, v) of all
        past + Tq positions (the new cache) and the cross-attention weights (B, H, Tq, S) or None.
        """
        queries, keys, values = self.self_attn.project_self(self.self_block.input(x))
        if past is not None:
            keys, values = torch.cat([past[0], keys], 2), torch.cat([past[1], values], 2)
        context, _ = self.self_attn.attend_heads(queries, keys, values, self_mask, need_weights=False)
        x = self.self_block.output(x, context)

        context, weights = self.cross_attn.attend(self.cross_block.input(x), *cross, cross_mask, need_weights)
        x = self.cross_block.output(x, context)

        x = self.ffn_block.output(x, self.ffn(self.ffn_block.input(x)))
        return x, (keys, values), weights


class Transformer(EncoderDecoder):
    prefers_bf16_on_cpu = True

    def __init__(self, cfg: TransformerConfig, src_vocab: int, tgt_vocab: int, specials: SpecialIds) -> None:
        super().__init__()
        activation = cfg.activation
        if cfg.share_embeddings and src_vocab != tgt_vocab:
            raise ValueError(
                f"model.share_embeddings needs one joint vocabulary, got {src_vocab} source and "
                f"{tgt_vocab} target entries"
            )
        self.specials, self.pad_id, self.pre_norm, self.dim = (
            specials,
            specials.pad,
            cfg.pre_norm,
            cfg.d_model,
        )
        self.heads = cfg.heads
        self.source_keys = frozenset(
            {"src_mask", *(f"cross_{kv}{i}" for kv in "kv" for i in range(cfg.dec_layers))}
        )
        self.max_positions = cfg.max_len
        self.align_layer, self.align_head = cfg.align_layer % cfg.dec_layers, cfg.align_head
        self.full_context_alignment = cfg.full_context_alignment
        # A causal step attends before it sees the word it predicts; a full-context map has seen it.
        self.alignment_may_lag = not cfg.full_context_alignment

        self.tgt_embed = nn.Embedding(tgt_vocab, cfg.d_model, padding_idx=specials.pad)
        self.src_embed = (
            self.tgt_embed
            if cfg.share_embeddings
            else nn.Embedding(src_vocab, cfg.d_model, padding_idx=specials.pad)
        )
        self.source_tap, self.output_tap = nn.Identity(), nn.Identity()
        self.register_buffer("positions", sinusoidal_positions(cfg.max_len, cfg.d_model), persistent=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg, activation) for _ in range(cfg.enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg, activation) for _ in range(cfg.dec_layers))
        # Pre-norm leaves the residual stream unnormalised: one LayerNorm after the last layer.
        self.enc_norm = nn.LayerNorm(cfg.d_model) if cfg.pre_norm else nn.Identity()
        self.dec_norm = nn.LayerNorm(cfg.d_model) if cfg.pre_norm else nn.Identity()
        self.generator = nn.Linear(cfg.d_model, tgt_vocab, bias=False)
        self._init_weights()
        if cfg.tie_embeddings:
            self.generator.weight = self.tgt_embed.weight

    @property
    def has_fused_attention(self) -> bool:
        return any(module.fused for module in self.modules() if isinstance(module, MultiHeadAttention))

    def fuse_attention_in_training(self, fused: bool) -> None:
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                module.fused_in_training = fused

    def _init_weights(self) -> None:
        """Xavier-uniform linear weights (each of the stacked q/k/v projections on its own), zero
        biases; embeddings N(0, 1/D) (unit variance once scaled)."""
        stacked = {module.in_proj for module in self.modules() if isinstance(module, MultiHeadAttention)}
        for module in self.modules():
            if isinstance(module, nn.Linear):
                for part in module.weight.chunk(3) if module in stacked else [module.weight]:
                    nn.init.xavier_uniform_(part)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=self.dim**-0.5)
                if module.padding_idx is not None:  # token embeddings (not relative positions)
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()

    # ----------------------------------------------------------------- embeddings
    def _embed(self, embedded: Tensor, start: int = 0) -> Tensor:
        """Looked-up embeddings E x (B, T, D) at positions start .. start + T - 1 -> dropout(sqrt(D) E x + P)
        (B, T, D)."""
        end = start + embedded.shape[1]
        if end > len(self.positions):
            raise ValueError(f"sequence of {end} tokens exceeds model.max_len={len(self.positions)}")
        return self.dropout(embedded * math.sqrt(self.dim) + self.positions[start:end])

    # ----------------------------------------------------------------- encoder
    def encode(self, src: Tensor, src_mask: Tensor) -> State:
        """src, src_mask (B, S) -> memory (B, S, D) and the source mask (B, S)."""
        x, mask = self._embed(self.source_tap(self.src_embed(src))), src_mask.unsqueeze(1)
        for layer in self.encoder:
            x = layer(x, mask)
        return {"memory": self.enc_norm(x), "src_mask": src_mask}

    # ----------------------------------------------------------------- decoder
    def _decode(
        self,
        tgt: Tensor,
        state: State,
        past: list[KV] | None,
        weights_of: set[int],
        full_context: bool = False,
    ) -> tuple[Tensor, list[KV], dict[int, Tensor]]:
        """The decoder stack on target tokens tgt (B, T) at positions state["pos"] onwards.

        past: per layer (k, v) caches of the earlier positions, or None (teacher forcing from 0).
        weights_of: the layers whose cross-attention weights are computed (the others take the
        fused path). full_context: every position sees the whole target but its padding (teacher
        forcing only), and the stack stops after the last layer of ``weights_of``. Returns the final
        hidden states (B, T, D), per layer (k, v) of all positions so far, and {layer:
        cross-attention weights (B, H, T, S)}.
        """
        start = state["pos"]
        x = self._embed(self.tgt_embed(tgt), start)
        if full_context:
            self_mask, layers = (tgt != self.pad_id).unsqueeze(1), self.decoder[: max(weights_of) + 1]
        else:
            self_mask, layers = causal_mask(tgt.shape[1], start, tgt.device), self.decoder
        cross_mask = state["src_mask"].unsqueeze(1)
        caches, weights = [], {}
        for i, layer in enumerate(layers):
            cross = state[f"cross_k{i}"], state[f"cross_v{i}"]
            layer_past = None if past is None else past[i]
            x, cache, attn = layer(x, self_mask, layer_past, cross, cross_mask, need_weights=i in weights_of)
            caches.append(cache)
            if attn is not None:
                weights[i] = attn
        return self.dec_norm(x), caches, weights

    def _alignment(self, weights: Tensor) -> Tensor:
        """Per-head cross-attention (B, H, T, S) -> the configured head, or their mean: (B, T, S)."""
        return weights.mean(1) if self.align_head is None else weights[:, self.align_head]

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, *, attention: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: logits (B, T, V) and, when asked for, the alignment map's cross-attention
        (B, T, S), of the full-context pass with ``model.full_context_alignment``; without it every
        layer takes the fused attention path."""
        state = self.init_state(self.encode(src, src_mask))
        causal_weights = {self.align_layer} if attention and not self.full_context_alignment else set()
        hidden, _, weights = self._decode(tgt_in, state, None, causal_weights)
        if attention and self.full_context_alignment:
            _, _, weights = self._decode(tgt_in, state, None, {self.align_layer}, full_context=True)
        alignment = self._alignment(weights[self.align_layer]) if attention else None
        return self.generator(self.output_tap(hidden)), alignment

    def attention_maps(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Every decoder layer's and head's cross-attention under teacher forcing (the full-context
        pass with ``model.full_context_alignment``): (B, L, H, T, S)."""
        state, layers = self.init_state(self.encode(src, src_mask)), range(len(self.decoder))
        _, _, weights = self._decode(tgt_in, state, None, set(layers), self.full_context_alignment)
        return torch.stack([weights[i] for i in layers], 1)

    @property
    def attention_grid(self) -> tuple[int, int]:
        return len(self.decoder), self.heads

    @property
    def alignment_map(self) -> tuple[int, int | None]:
        return self.align_layer, self.align_head

    def select_alignment(self, layer: int, head: int | None) -> None:
        super().select_alignment(layer, head)
        self.align_layer, self.align_head = layer % len(self.decoder), head

    def init_state(self, encoded: State) -> State:
        """Project the memory into each layer's cross-attention keys/values once; empty self caches."""
        memory = encoded["memory"]
        state: State = {"src_mask": encoded["src_mask"], "pos": 0}
        for i, layer in enumerate(self.decoder):
            keys, values = layer.cross_attn.prepare(memory, memory)
            empty = keys[:, :, :0]  # (B, H, 0, D/H)
            state |= {f"cross_k{i}": keys, f"cross_v{i}": values, f"self_k{i}": empty, f"self_v{i}": empty}
        return state

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        """One position: tokens (B,) -> log-probs (B, V) fp32, alignment (B, S), the state one longer."""
        past = [(state[f"self_k{i}"], state[f"self_v{i}"]) for i in range(len(self.decoder))]
        hidden, caches, weights = self._decode(tokens.unsqueeze(1), state, past, {self.align_layer})
        new = {**state, "pos": state["pos"] + 1}
        for i, (keys, values) in enumerate(caches):
            new[f"self_k{i}"], new[f"self_v{i}"] = keys, values
        log_probs = self.generator(self.output_tap(hidden).squeeze(1)).float().log_softmax(-1)
        return log_probs, self._alignment(weights[self.align_layer]).squeeze(1), new
