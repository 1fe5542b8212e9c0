"""RNN encoder-decoder with attention: Bahdanau et al. (2014), conditional and Luong et al. (2015) decoders.

Encoder: a bidirectional GRU/LSTM; its states h_j (B, S, H) are the attention keys and values
(with ``word_keys: true`` the keys are [h_j; E x_j], so the score also sees the source word itself).
The decoder starts from s_0 = tanh(W_s [h_last_forward; h_first_backward]) and, at target step i:

    Bahdanau  c_i, a_i = attend(s_{i-1}, h)          attention from the previous state
              s_i      = RNN([E y_{i-1}; c_i], s_{i-1})  the context feeds the RNN
              o_i      = tanh(W_o [s_i; c_i; E y_{i-1}])  deep output

    conditional  s'_i    = RNN_1(E y_{i-1}, s_{i-1})       the query has seen the previous word
    (Nematus)    c_i, a_i = attend(s'_i, h)
                 s_i     = RNN_2(c_i, s'_i)               the context feeds a second transition
                 o_i     = tanh(W_o [s_i; c_i; E y_{i-1}])  deep output, as Bahdanau's

    Luong     h_t      = RNN([E y_{t-1}; o_{t-1}], h_{t-1})  input feeding of the last o
              c_t, a_t = attend(h_t, h)              attention from the current state
              o_t      = tanh(W_c [c_t; h_t])        the attentional state h~_t

    p(y_i | y_<i, x) = softmax(W_y o_i), with W_y = E_tgt W_r when embeddings are tied.

With ``lexical: true`` (Nguyen & Chiang 2018) the output layer also reads the source words the step
attends to, not only their annotations: f_i = tanh(sum_j a_ij E x_j), h_i = tanh(W_f f_i) + f_i, and
the readout gets o_i + W_l h_i (``feed`` keeps o_i). Such a direct path from attended source word to
target word pays off only when the step attends to the word it translates.

With ``attention: none`` every step gets the same context (the mean of the encoder states): the
RNNencdec baseline that conditions on a fixed summary of the source.

The attention's own decoder history (local-m's step, coverage's sum of past weights) lives in the
decoder state beside the RNN's, and its loss terms (the coverage loss) add up over the target
tokens of a training forward pass into ``auxiliary_loss``.

One class per decoder (``DECODERS``, chosen by ``model.decoder``): each builds its own recurrent
layers (``build_decoder``) and says how one target step runs (``transition``); the encoder,
attention, lexical model and readout are the base class's. The cell (``model.cell``: GRU or LSTM)
says how the RNN's state is kept in the decoder state (``CELLS``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.config import RNNConfig
from nmt.models.attention import build_attention
from nmt.models.base import EncoderDecoder, SpecialIds, State
from nmt.models.normalizers import build_normalizer

RNNState = Tensor | tuple[Tensor, Tensor]
"""What torch's GRU (h) or LSTM ((h, c)) takes and returns, layers first: (L, B, H)."""
Attended = tuple[Tensor, State, Tensor | None]
"""A step's attention weights (B, 1, S), the attention's history one step later, its loss term (B,)."""


class GRUStates:
    """A GRU's state in the decoder state: ``hidden`` (B, L, H)."""

    rnn: type[nn.RNNBase] = nn.GRU

    def start(self, hidden: Tensor) -> State:
        return {"hidden": hidden}

    def to_rnn(self, state: State) -> RNNState:
        return state["hidden"].transpose(0, 1).contiguous()

    def from_rnn(self, rnn_state: RNNState) -> State:
        return {"hidden": rnn_state.transpose(0, 1)}

    def final_hidden(self, final: RNNState) -> Tensor:
        """The encoder's final h (layers * 2, B, H/2)."""
        return final


class LSTMStates(GRUStates):
    """An LSTM's state in the decoder state: ``hidden`` and ``cell`` (B, L, H), the cell starting at 0."""

    rnn = nn.LSTM

    def start(self, hidden: Tensor) -> State:
        return {"hidden": hidden, "cell": torch.zeros_like(hidden)}

    def to_rnn(self, state: State) -> RNNState:
        return super().to_rnn(state), state["cell"].transpose(0, 1).contiguous()

    def from_rnn(self, rnn_state: RNNState) -> State:
        return {"hidden": rnn_state[0].transpose(0, 1), "cell": rnn_state[1].transpose(0, 1)}

    def final_hidden(self, final: RNNState) -> Tensor:
        return final[0]


CELLS: dict[str, GRUStates] = {"gru": GRUStates(), "lstm": LSTMStates()}
"""``model.cell``."""


class RNNEncoderDecoder(EncoderDecoder):
    """What every RNN decoder shares; subclasses build the decoder's layers and run its step."""

    source_keys = frozenset({"keys", "values", "mask", "summary", "embeddings"})

    def __init__(self, cfg: RNNConfig, src_vocab: int, tgt_vocab: int, specials: SpecialIds) -> None:
        super().__init__()
        self.specials, self.pad_id = specials, specials.pad
        self.cell = CELLS[cfg.cell]
        self.word_keys = cfg.word_keys
        hid, emb = cfg.hidden_dim, cfg.emb_dim
        self.dropout = nn.Dropout(cfg.dropout)
        self.src_embed = nn.Embedding(src_vocab, emb, padding_idx=specials.pad)
        self.source_tap, self.output_tap = nn.Identity(), nn.Identity()
        self.tgt_embed = nn.Embedding(tgt_vocab, emb, padding_idx=specials.pad)
        inner_dropout = cfg.dropout if cfg.enc_layers > 1 else 0.0
        self.encoder = self.cell.rnn(
            emb, hid // 2, cfg.enc_layers, batch_first=True, bidirectional=True, dropout=inner_dropout
        )
        self.bridge = nn.Linear(hid, hid)
        self.attention = build_attention(
            cfg.attention,
            query_dim=hid,
            key_dim=hid + emb if cfg.word_keys else hid,
            attn_dim=cfg.attn_dim,
            normalizer=build_normalizer(cfg.normalizer, cfg.entmax_alpha, cfg.gumbel_tau),
            span=cfg.span,
            window=cfg.window,
            coverage=cfg.coverage,
            coverage_loss=cfg.coverage_loss,
        )
        self._auxiliary_loss: Tensor | None = None
        self.lexical = LexicalModel(emb, hid) if cfg.lexical else NoLexicalModel()
        self.build_decoder(cfg)
        if cfg.tie_embeddings:
            self.readout = nn.Sequential(nn.Linear(hid, emb, bias=False), nn.Linear(emb, tgt_vocab))
            self.readout[1].weight = self.tgt_embed.weight
        else:
            self.readout = nn.Linear(hid, tgt_vocab)

    def build_decoder(self, cfg: RNNConfig) -> None:
        """The decoder's own layers: ``decoder`` (the RNN whose state is kept), ``combine`` (o_i) and
        any other (registered in this order: checkpoints list parameters so)."""
        raise NotImplementedError

    def recurrent(self, input_dim: int, cfg: RNNConfig) -> nn.RNNBase:
        """A decoder RNN of ``cfg.dec_layers`` layers of ``cfg.hidden_dim`` reading ``input_dim``."""
        dropout = cfg.dropout if cfg.dec_layers > 1 else 0.0
        return self.cell.rnn(input_dim, cfg.hidden_dim, cfg.dec_layers, batch_first=True, dropout=dropout)

    def transition(
        self, embedded: Tensor, state: State, rnn_state: RNNState
    ) -> tuple[Tensor, RNNState, Attended]:
        """One step of the decoder from the embedded previous token (B, E) and the RNN's state ->
        o (B, 1, H), the RNN's new state and what ``attend`` gave."""
        raise NotImplementedError

    # ----------------------------------------------------------------- encoder
    def encode(self, src: Tensor, src_mask: Tensor) -> State:
        """src, src_mask (B, S) -> keys (B, S, H) ((B, S, H + E) with word keys, before the attention's
        projection), values (B, S, H), mask (B, 1, S), the summary s_0 (B, H) and, for the lexical
        model, the source embeddings (B, S, E)."""
        lengths = src_mask.sum(1).cpu()
        embedded = self.dropout(self.source_tap(self.src_embed(src)))
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, final = self.encoder(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])
        final = self.cell.final_hidden(final)  # (layers * 2, B, H/2)
        summary = torch.tanh(self.bridge(torch.cat([final[-2], final[-1]], dim=-1)))
        keys = torch.cat([outputs, embedded], -1) if self.word_keys else outputs
        keys, values = self.attention.prepare(keys, outputs)
        encoded = {"keys": keys, "values": values, "mask": src_mask.unsqueeze(1), "summary": summary}
        return {**encoded, **self.lexical.source(embedded)}

    def init_state(self, encoded: State) -> State:
        """Every decoder layer starts from the source summary; states are stored batch-first (B, L, H),
        with ``feed`` the last output o (B, H)."""
        summary = encoded["summary"]
        hidden = summary.unsqueeze(1).expand(-1, self.decoder.num_layers, -1).contiguous()
        state = {**encoded, **self.attention.start(encoded["mask"]), **self.cell.start(hidden)}
        return {**state, "feed": torch.zeros_like(summary)}

    # ----------------------------------------------------------------- decoder
    def _decode(self, embedded: Tensor, state: State) -> tuple[Tensor, Tensor, State, Tensor | None]:
        """One target step from the embedded previous token (B, E) -> the readout's input (B, H) (o,
        plus the lexical model's term), attention (B, S), the new state and the attention's loss term
        of this step (B,) (or None)."""
        output, rnn_state, (weights, history, penalty) = self.transition(
            embedded, state, self.cell.to_rnn(state)
        )
        output = output.squeeze(1)
        new = {**state, **history, "feed": output, **self.cell.from_rnn(rnn_state)}
        return self.output_tap(output + self.lexical(weights, state)), weights.squeeze(1), new, penalty

    def _attend(self, query: Tensor, state: State) -> Attended:
        """query (B, 1, H) -> context (B, 1, H), weights (B, 1, S), the attention's history one step
        later and its loss term (B,) or None."""
        history = {key: state[key] for key in self.attention.history_keys}
        keys, values, mask = state["keys"], state["values"], state["mask"]
        context, weights = self.attention.attend(query, keys, values, mask, history)
        penalty = self.attention.penalty(history, weights) if self.training else None
        return context, (weights, self.attention.advance(history, weights), penalty)

    @property
    def has_attention(self) -> bool:
        return self.attention.depends_on_input

    @property
    def attention_grid(self) -> tuple[int, int]:
        return 1, 1

    def attention_maps(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """The one attention map under teacher forcing: (B, 1, 1, T, S)."""
        return self(src, src_mask, tgt_in, attention=True)[1][:, None, None]

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, *, attention: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: logits (B, T, V) and, when asked for, attention (B, T, S) (always computed:
        the recurrence needs it)."""
        state = self.init_state(self.encode(src, src_mask))
        outputs, weights, penalties = [], [], []
        for embedded in self.dropout(self.tgt_embed(tgt_in)).unbind(1):  # unbind: cheap backward
            output, attn, state, penalty = self._decode(embedded, state)
            outputs.append(output)
            weights.append(attn)
            penalties.append(penalty)
        self._auxiliary_loss = None
        if penalties and penalties[0] is not None:  # summed over the real target tokens
            self._auxiliary_loss = (torch.stack(penalties, 1) * (tgt_in != self.pad_id)).sum()
        logits = self.readout(self.dropout(torch.stack(outputs, 1)))
        return logits, torch.stack(weights, 1) if attention else None

    def auxiliary_loss(self) -> Tensor | float:
        """The coverage loss of the last training forward pass (0 without one)."""
        return 0.0 if self._auxiliary_loss is None else self._auxiliary_loss

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        output, attn, state, _ = self._decode(self.dropout(self.tgt_embed(tokens)), state)
        return self.readout(self.dropout(output)).float().log_softmax(-1), attn, state


class LexicalModel(nn.Module):
    """Nguyen & Chiang (2018)'s lexical model: the attended source embeddings, one feed-forward layer
    with a residual connection, projected to the output layer's size."""

    def __init__(self, emb_dim: int, out_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(emb_dim, emb_dim, bias=False)
        self.out = nn.Linear(emb_dim, out_dim, bias=False)

    def source(self, embedded: Tensor) -> State:
        """What it keeps of the source: its embeddings (B, S, E)."""
        return {"embeddings": embedded}

    def forward(self, weights: Tensor, state: State) -> Tensor:
        """weights (B, 1, S) over the state's source embeddings (B, S, E) -> W_l h (B, H)."""
        embeddings = state["embeddings"]
        attended = torch.tanh(torch.bmm(weights.to(embeddings.dtype), embeddings)).squeeze(1)
        return self.out(torch.tanh(self.hidden(attended)) + attended)


class NoLexicalModel(nn.Module):
    """Without a lexical model the readout reads o_i alone."""

    def source(self, embedded: Tensor) -> State:
        return {}

    def forward(self, weights: Tensor, state: State) -> float:
        return 0.0


class BahdanauRNN(RNNEncoderDecoder):
    """Bahdanau et al. (2014): attend from s_{i-1}; the context feeds the RNN; deep output."""

    def build_decoder(self, cfg: RNNConfig) -> None:
        hid, emb = cfg.hidden_dim, cfg.emb_dim
        self.decoder = self.recurrent(emb + hid, cfg)
        self.combine = nn.Linear(2 * hid + emb, hid)  # W_o

    def transition(
        self, embedded: Tensor, state: State, rnn_state: RNNState
    ) -> tuple[Tensor, RNNState, Attended]:
        query = state["hidden"][:, -1:]  # s_{i-1} of the top layer, (B, 1, H)
        context, attended = self._attend(query, state)
        rnn_out, rnn_state = self.decoder(torch.cat([embedded.unsqueeze(1), context], -1), rnn_state)
        return self.deep_output(rnn_out, context, embedded), rnn_state, attended

    def deep_output(self, rnn_out: Tensor, context: Tensor, embedded: Tensor) -> Tensor:
        """o_i = tanh(W_o [s_i; c_i; E y_{i-1}]): (B, 1, H)."""
        return torch.tanh(self.combine(torch.cat([rnn_out, context, embedded.unsqueeze(1)], -1)))


class ConditionalRNN(BahdanauRNN):
    """The conditional GRU of Nematus: RNN_1 reads the previous word, the query s'_i has seen it,
    RNN_2 reads the context; Bahdanau's deep output."""

    def build_decoder(self, cfg: RNNConfig) -> None:
        hid, emb = cfg.hidden_dim, cfg.emb_dim
        self.pre_decoder = self.recurrent(emb, cfg)  # RNN_1
        self.decoder = self.recurrent(hid, cfg)  # RNN_2
        self.combine = nn.Linear(2 * hid + emb, hid)

    def transition(
        self, embedded: Tensor, state: State, rnn_state: RNNState
    ) -> tuple[Tensor, RNNState, Attended]:
        query, rnn_state = self.pre_decoder(embedded.unsqueeze(1), rnn_state)  # s'_i, (B, 1, H)
        context, attended = self._attend(query, state)
        rnn_out, rnn_state = self.decoder(context, rnn_state)
        return self.deep_output(rnn_out, context, embedded), rnn_state, attended


class LuongRNN(RNNEncoderDecoder):
    """Luong et al. (2015): input feeding of the last o; attend from the current h_t; o_t = h~_t."""

    def build_decoder(self, cfg: RNNConfig) -> None:
        hid, emb = cfg.hidden_dim, cfg.emb_dim
        self.decoder = self.recurrent(emb + hid, cfg)
        self.combine = nn.Linear(2 * hid, hid)  # W_c

    def transition(
        self, embedded: Tensor, state: State, rnn_state: RNNState
    ) -> tuple[Tensor, RNNState, Attended]:
        rnn_out, rnn_state = self.decoder(torch.cat([embedded, state["feed"]], -1).unsqueeze(1), rnn_state)
        context, attended = self._attend(rnn_out, state)
        return torch.tanh(self.combine(torch.cat([context, rnn_out], -1))), rnn_state, attended


DECODERS: dict[str, type[RNNEncoderDecoder]] = {
    "bahdanau": BahdanauRNN,
    "conditional": ConditionalRNN,
    "luong": LuongRNN,
}
"""``model.decoder``: one model class per RNN decoder."""
