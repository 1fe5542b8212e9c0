"""The search loop (nmt/decoding/search.py) and its strategies on a deterministic toy model: no training."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from nmt.decoding import DecodeConfig, Ensemble, Hypothesis, length_penalty
from nmt.decoding import search as decode_search
from nmt.decoding.strategies import _nucleus
from nmt.errors import NmtError
from nmt.models.base import EncoderDecoder, SpecialIds, State

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class ToyModel(EncoderDecoder):
    """Log-probs from fixed random tables: previous token, source length and an attention context.

    Attention at step t after token y is softmax over real source positions of memory @ (q_t + E y),
    so it depends on the path. State: memory (B, S, D), mask (B, S), source lengths (B,), step (B,).
    """

    source_keys = frozenset({"memory", "mask", "src_len"})
    attention_grid = (1, 1)

    def __init__(self, vocab: int = 12, dim: int = 8, seed: int = 0, eos_bias: float = 0.0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.pad_id, self.vocab, self.eos_bias = PAD, vocab, eos_bias
        self.specials = SpecialIds(pad=PAD, bos=BOS, eos=EOS)
        self.register_buffer("embed", torch.randn(vocab, dim, generator=g))
        self.register_buffer("transition", 2 * torch.randn(vocab, vocab, generator=g))
        self.register_buffer("by_length", torch.randn(16, vocab, generator=g))
        self.register_buffer("queries", torch.randn(64, dim, generator=g))
        self.register_buffer("readout", torch.randn(dim, vocab, generator=g))

    def encode(self, src: Tensor, src_mask: Tensor) -> State:
        return {"memory": self.embed[src], "mask": src_mask, "src_len": src_mask.sum(1)}

    def init_state(self, encoded: State) -> State:
        return {**encoded, "t": torch.zeros_like(encoded["src_len"])}

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        query = self.queries[state["t"]] + self.embed[tokens]  # (B, D)
        energy = torch.einsum("bsd,bd->bs", state["memory"], query)
        attn = energy.masked_fill(~state["mask"], -math.inf).softmax(-1)
        context = torch.einsum("bs,bsd->bd", attn, state["memory"])
        logits = self.transition[tokens] + self.by_length[state["src_len"] % 16] + context @ self.readout
        logits[:, EOS] += self.eos_bias
        return logits.float().log_softmax(-1), attn, {**state, "t": state["t"] + 1}

    def attention_maps(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        return self(src, src_mask, tgt_in, attention=True)[1][:, None, None]

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, *, attention: bool = False):
        state, logits, attns = self.init_state(self.encode(src, src_mask)), [], []
        for t in range(tgt_in.shape[1]):
            logp, attn, state = self.step(tgt_in[:, t], state)
            logits.append(logp)
            attns.append(attn)
        return torch.stack(logits, 1), torch.stack(attns, 1) if attention else None


def search(model: EncoderDecoder, src: Tensor, mask: Tensor, prefixes=None, **options) -> list:
    """``nmt.decoding.search`` with the options of a ``DecodeConfig`` (alpha 0 unless given)."""
    return decode_search(model, src, mask, DecodeConfig(**{"alpha": 0.0, **options}), prefixes=prefixes)


def pad_batch(sources: list[list[int]], left: bool = False) -> tuple[Tensor, Tensor]:
    width = max(map(len, sources))
    src = torch.full((len(sources), width), PAD, dtype=torch.long)
    for i, s in enumerate(sources):
        if left:
            src[i, width - len(s) :] = torch.tensor(s)
        else:
            src[i, : len(s)] = torch.tensor(s)
    return src, src != PAD


def teacher_force(
    model: ToyModel, source: list[int], tokens: list[int]
) -> tuple[float, Tensor, list[Tensor]]:
    """Step the model alone on one unpadded source: log P(tokens + EOS) and the attention rows."""
    src, mask = pad_batch([source])
    state = model.init_state(model.encode(src, mask))
    total, attns = 0.0, []
    for prev, nxt in zip([BOS, *tokens], [*tokens, EOS], strict=True):
        logp, attn, state = model.step(torch.tensor([prev]), state)
        total += float(logp[0, nxt])
        attns.append(attn[0])
    return total, torch.stack(attns)


def max_len_of(source: list[int], a: float = 1.5, b: int = 10) -> int:
    return math.floor(a * len(source) + b)


SOURCES = [[5, 6, 7, 3], [8, 9, 3], [4, 10, 11, 5, 6, 7, 3], [9, 3], [11, 4, 4, 8, 3]]


@pytest.fixture
def model() -> ToyModel:
    return ToyModel(eos_bias=1.5).eval()


def test_greedy_takes_the_argmax_at_every_step(model: ToyModel) -> None:
    src, mask = pad_batch(SOURCES)
    found = search(model, src, mask, beam=1, nbest=1, max_len_a=1.0, max_len_b=3)
    for source, hyps in zip(SOURCES, found, strict=True):
        assert len(hyps) == 1
        # Replay greedily by hand on the unpadded source: argmax over all but PAD/BOS, EOS forced at max.
        single, single_mask = pad_batch([source])
        state, prev, tokens, total = model.init_state(model.encode(single, single_mask)), BOS, [], 0.0
        limit = max_len_of(source, 1.0, 3)
        for t in range(limit + 1):
            logp, _, state = model.step(torch.tensor([prev]), state)
            allowed = logp[0].clone()
            allowed[[PAD, BOS]] = -math.inf
            prev = EOS if t == limit else int(allowed.argmax())
            total += float(logp[0, prev])
            if prev == EOS:
                break
            tokens.append(prev)
        assert hyps[0].tokens == tokens
        assert hyps[0].log_prob == pytest.approx(total, abs=1e-5)
        assert hyps[0].score == pytest.approx(total, abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
@pytest.mark.parametrize("beam", [1, 3, 6])
def test_scores_log_probs_attention_and_order(model: ToyModel, beam: int, alpha: float) -> None:
    nbest = beam
    src, mask = pad_batch(SOURCES)
    found = search(model, src, mask, beam=beam, nbest=nbest, alpha=alpha, max_len_a=1.0, max_len_b=4)
    assert len(found) == len(SOURCES)
    for source, hyps in zip(SOURCES, found, strict=True):
        assert 1 <= len(hyps) <= nbest
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == len(hyps)  # distinct outputs
        for h in hyps:
            assert isinstance(h, Hypothesis)
            assert len(h.tokens) <= max_len_of(source, 1.0, 4)
            assert all(tok not in (PAD, BOS, EOS) for tok in h.tokens)
            log_prob, attention = teacher_force(model, source, h.tokens)
            assert h.log_prob == pytest.approx(log_prob, abs=1e-5)
            assert h.score == pytest.approx(log_prob / length_penalty(len(h.tokens) + 1, alpha), abs=1e-5)
            assert h.score == pytest.approx(log_prob / ((5 + len(h.tokens) + 1) / 6) ** alpha, abs=1e-5)
            assert h.attention.shape == (len(h.tokens) + 1, len(source))
            assert h.attention.dtype == torch.float32 and h.attention.device.type == "cpu"
            torch.testing.assert_close(h.attention, attention, atol=1e-5, rtol=0)
            torch.testing.assert_close(h.attention.sum(-1), torch.ones(len(h.tokens) + 1))


@pytest.mark.parametrize("left", [False, True])
@pytest.mark.parametrize(("beam", "nbest", "alpha"), [(1, 1, 0.0), (4, 2, 0.0), (5, 5, 1.0)])
def test_batch_gives_the_same_hypotheses_as_each_sentence_alone(
    model: ToyModel, beam: int, nbest: int, alpha: float, left: bool
) -> None:
    src, mask = pad_batch(SOURCES, left=left)
    batched = search(model, src, mask, beam=beam, nbest=nbest, alpha=alpha)
    for source, hyps in zip(SOURCES, batched, strict=True):
        alone = search(model, *pad_batch([source]), beam=beam, nbest=nbest, alpha=alpha)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        for h, g in zip(hyps, alone, strict=True):
            assert h.score == pytest.approx(g.score, abs=1e-5)
            assert h.log_prob == pytest.approx(g.log_prob, abs=1e-5)
            torch.testing.assert_close(h.attention, g.attention, atol=1e-5, rtol=0)


@pytest.mark.parametrize("beam", [1, 3])
def test_max_length_is_respected(beam: int) -> None:
    model = ToyModel(eos_bias=-30.0).eval()  # EOS practically never wins: every output hits the limit
    src, mask = pad_batch(SOURCES)
    for a, b in [(0.5, 1), (1.0, 0), (0.0, 2)]:
        found = search(model, src, mask, beam=beam, nbest=beam, max_len_a=a, max_len_b=b)
        for source, hyps in zip(SOURCES, found, strict=True):
            assert {len(h.tokens) for h in hyps} == {max_len_of(source, a, b)}
            for h in hyps:  # the forced EOS is scored with the model's own EOS log-prob
                assert h.log_prob == pytest.approx(teacher_force(model, source, h.tokens)[0], abs=1e-4)


def test_zero_max_length_still_returns_a_hypothesis(model: ToyModel) -> None:
    sources = SOURCES[:2]
    src, mask = pad_batch(sources)
    for beam in (1, 4):
        found = search(model, src, mask, beam=beam, nbest=beam, max_len_a=0.0, max_len_b=0)
        for source, hyps in zip(sources, found, strict=True):
            assert len(hyps) == 1 and hyps[0].tokens == []  # the only output: EOS alone
            assert hyps[0].attention.shape == (1, len(source))
            assert hyps[0].log_prob == pytest.approx(teacher_force(model, source, [])[0], abs=1e-5)


@pytest.mark.parametrize(("beam", "nbest"), [(0, 1), (1, 2), (3, 4), (3, 0)])
def test_invalid_beam_or_nbest(model: ToyModel, beam: int, nbest: int) -> None:
    with pytest.raises(NmtError, match=r"--beam|--nbest"):
        search(model, *pad_batch(SOURCES), beam=beam, nbest=nbest)


@pytest.mark.parametrize(("seed", "eos_bias"), [(0, -0.5), (0, 2.0), (5, 1.0)])
@pytest.mark.parametrize("nbest", [1, 8])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0])
def test_large_beam_finds_the_exact_nbest_of_the_whole_space(
    alpha: float, nbest: int, seed: int, eos_bias: float
) -> None:
    """Vocab {PAD, UNK, BOS, EOS, 4, 5}, at most 3 tokens: 1 + 3 + 9 + 27 = 40 outputs, enumerated.

    Also checks the stopping criterion: stopping as soon as the finished ones beat the active beams'
    raw log-probability would be wrong with alpha > 0 (longer outputs get a larger length penalty), and
    so would bounding an active beam's score with the penalty of the next length instead of the longest.
    """
    model = ToyModel(vocab=6, seed=seed, eos_bias=eos_bias).eval()
    sources = [[4, 5, 3], [5, 3], [4, 4, 5, 5, 3]]
    src, mask = pad_batch(sources)
    found = search(model, src, mask, beam=32, nbest=nbest, alpha=alpha, max_len_a=0.0, max_len_b=3)
    for source, hyps in zip(sources, found, strict=True):
        space = [list(seq) for n in range(4) for seq in itertools.product([UNK, 4, 5], repeat=n)]
        ranked = sorted(
            (
                (teacher_force(model, source, seq)[0] / length_penalty(len(seq) + 1, alpha), seq)
                for seq in space
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        assert [h.tokens for h in hyps] == [seq for _, seq in ranked[:nbest]]
        assert [h.score for h in hyps] == pytest.approx([score for score, _ in ranked[:nbest]], abs=1e-5)


def test_rows_are_sentences_times_beams_with_one_step_call_per_position(model: ToyModel) -> None:
    calls: list[int] = []
    step = model.step

    def counting_step(tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        calls.append(tokens.shape[0])
        return step(tokens, state)

    model.step = counting_step  # type: ignore[method-assign]
    src, mask = pad_batch(SOURCES)
    found = search(model, src, mask, beam=4, nbest=2, max_len_a=1.0, max_len_b=2)
    assert calls[0] == len(SOURCES) * 4
    assert all(n % 4 == 0 for n in calls) and calls == sorted(calls, reverse=True)  # finished sentences leave
    assert len(calls) <= max(max_len_of(s, 1.0, 2) for s in SOURCES) + 1
    assert all(hyps for hyps in found)


@pytest.mark.parametrize("beam", [1, 4])
def test_search_stops_once_nothing_can_beat_the_finished(beam: int) -> None:
    """EOS is by far the likeliest first token: with alpha = 0 one step decides, whatever the limit."""
    model = ToyModel(eos_bias=12.0).eval()
    calls: list[int] = []
    step = model.step

    def counting_step(tokens: Tensor, state: State) -> tuple[Tensor, Tensor, State]:
        calls.append(tokens.shape[0])
        return step(tokens, state)

    model.step = counting_step  # type: ignore[method-assign]
    found = search(model, *pad_batch(SOURCES), beam=beam, nbest=1, max_len_b=50)
    assert [hyps[0].tokens for hyps in found] == [[]] * len(SOURCES)
    assert len(calls) == 1


# ------------------------------------------------------------------ sampling
def test_sampling_with_a_seed_is_reproducible_and_scores_are_the_models_own(model: ToyModel) -> None:
    src, mask = pad_batch(SOURCES)
    options = {"sampling": True, "nbest": 4, "temperature": 1.5, "max_len_a": 1.0, "max_len_b": 4}
    first = search(model, src, mask, seed=7, **options)
    again = search(model, src, mask, seed=7, **options)
    other = search(model, src, mask, seed=8, **options)
    assert [[h.tokens for h in hyps] for hyps in first] == [[h.tokens for h in hyps] for hyps in again]
    assert [[h.tokens for h in hyps] for hyps in first] != [[h.tokens for h in hyps] for hyps in other]
    for source, hyps in zip(SOURCES, first, strict=True):
        assert len(hyps) == 4  # one finished output per sample, best first
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            log_prob, attention = teacher_force(model, source, h.tokens)
            assert h.log_prob == pytest.approx(log_prob, abs=1e-5)
            torch.testing.assert_close(h.attention, attention, atol=1e-5, rtol=0)


@pytest.mark.parametrize("options", [{"top_k": 1}, {"top_p": 1e-6}, {"temperature": 0.01}])
def test_sampling_that_leaves_one_choice_is_greedy(model: ToyModel, options: dict) -> None:
    src, mask = pad_batch(SOURCES)
    greedy = search(model, src, mask, beam=1)
    sampled = search(model, src, mask, sampling=True, seed=3, **options)
    assert [h[0].tokens for h in sampled] == [h[0].tokens for h in greedy]
    assert [h[0].log_prob for h in sampled] == pytest.approx([h[0].log_prob for h in greedy], abs=1e-5)


@pytest.mark.parametrize(
    "cut", [{"top_k": 3}, {"top_p": 0.6}, {"top_k": 4, "top_p": 0.7}, {}], ids=["k", "p", "kp", "all"]
)
def test_sampling_draws_tokens_as_often_as_their_probability(cut: dict) -> None:
    """One step, many samples: the first tokens' frequencies match softmax(log p / T), renormalised
    within the k likeliest tokens and within the nucleus (the smallest set whose mass reaches p)."""
    model = ToyModel(eos_bias=-30.0).eval()
    src, mask = pad_batch([[5, 6, 3]] * 4)  # 4 copies x 1,000 samples (the --nbest limit)
    temperature = 2.0
    found = search(model, src, mask, sampling=True, nbest=1000, temperature=temperature, max_len_b=1, **cut)
    first = torch.tensor([h.tokens[0] for hyps in found for h in hyps])
    log_probs, _, _ = model.step(torch.tensor([BOS]), model.init_state(model.encode(src[:1], mask[:1])))
    allowed = log_probs[0].clone()
    allowed[[PAD, BOS]] = -math.inf
    probs, tokens = (allowed / temperature).softmax(-1).sort(descending=True)
    probs, tokens = probs[: cut.get("top_k") or None], tokens[: cut.get("top_k") or None]
    probs = probs / probs.sum()
    reached = [i for i in range(len(probs)) if probs[: i + 1].sum() >= cut.get("top_p", 1.0) - 1e-6]
    probs, tokens = probs[: reached[0] + 1], tokens[: reached[0] + 1]
    observed = torch.stack([(first == tok).float().mean() for tok in tokens])
    assert set(first.tolist()) <= set(tokens.tolist())
    torch.testing.assert_close(observed, probs / probs.sum(), atol=0.03, rtol=0)


def test_nucleus_keeps_the_smallest_set_that_reaches_top_p() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])  # likeliest first
    assert _nucleus(probs, 0.8)[0].tolist() == [True, True, False, False]  # 0.5 + 0.3 reach 0.8
    assert _nucleus(probs, 0.81).sum() == 3
    assert _nucleus(probs, 1e-9).sum() == 1


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"sampling": True, "top_p": 0.0}, "--top-p"),
        ({"sampling": True, "top_p": 1.5}, "--top-p"),
        ({"sampling": True, "temperature": 0.0}, "--temperature"),
        ({"sampling": True, "top_k": -1}, "--top-k"),
        ({"batch_size": 0}, "--batch-size"),
        ({"nbest": 0}, "--nbest"),
    ],
)
def test_settings_that_make_no_sense_name_the_option(options: dict, named: str) -> None:
    with pytest.raises(NmtError, match=named):
        DecodeConfig(**options)


def test_sampling_may_ask_for_more_outputs_than_beams() -> None:
    assert DecodeConfig(sampling=True, beam=1, nbest=5).nbest == 5


# ------------------------------------------------------------ forced prefixes
@pytest.mark.parametrize("beam", [1, 3])
def test_a_forced_prefix_starts_every_output_and_is_scored(model: ToyModel, beam: int) -> None:
    src, mask = pad_batch(SOURCES)
    prefixes = [[7, 7], [], [4, 5, 6], [11], [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]]
    found = search(model, src, mask, prefixes, beam=beam, nbest=beam, max_len_a=1.0, max_len_b=3)
    for source, prefix, hyps in zip(SOURCES, prefixes, found, strict=True):
        for h in hyps:
            assert h.tokens[: len(prefix)] == prefix
            assert h.log_prob == pytest.approx(teacher_force(model, source, h.tokens)[0], abs=1e-5)
            assert len(h.tokens) <= max(len(prefix), max_len_of(source, 1.0, 3))


def test_a_prefix_ending_in_eos_scores_exactly_that_output(model: ToyModel) -> None:
    """Forced decoding: what `nmt score` reports is the search's own log-probability of the output."""
    src, mask = pad_batch(SOURCES)
    found = search(model, src, mask, beam=4, nbest=4)
    outputs = [hyps[-1].tokens for hyps in found]  # not the best: any output can be scored
    scored = search(model, src, mask, [[*o, EOS] for o in outputs], beam=1, max_len_a=0.0, max_len_b=0)
    for hyps, output, mine in zip(found, outputs, scored, strict=True):
        assert mine[0].tokens == output
        assert mine[0].log_prob == pytest.approx(hyps[-1].log_prob, abs=1e-5)
        torch.testing.assert_close(mine[0].attention, hyps[-1].attention, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ ensembles
@pytest.mark.parametrize("beam", [1, 4])
def test_an_ensemble_of_a_model_with_itself_is_the_model(model: ToyModel, beam: int) -> None:
    src, mask = pad_batch(SOURCES)
    alone = search(model, src, mask, beam=beam, nbest=beam, alpha=0.6)
    twice = search(Ensemble([model, model]), src, mask, beam=beam, nbest=beam, alpha=0.6)
    for hyps, ens in zip(alone, twice, strict=True):
        assert [h.tokens for h in ens] == [h.tokens for h in hyps]
        assert [h.score for h in ens] == pytest.approx([h.score for h in hyps], abs=1e-5)
        for h, e in zip(hyps, ens, strict=True):
            torch.testing.assert_close(e.attention, h.attention, atol=1e-5, rtol=0)


def test_an_ensemble_averages_probabilities_and_picks_attention() -> None:
    one, two = ToyModel(seed=1).eval(), ToyModel(seed=2).eval()
    src, mask = pad_batch(SOURCES)
    tokens = torch.full((len(SOURCES),), BOS)
    steps = [m.step(tokens, m.init_state(m.encode(src, mask))) for m in (one, two)]
    for attention_from in (None, 1):
        ensemble = Ensemble([one, two], attention_from=attention_from)
        log_probs, attention, _ = ensemble.step(tokens, ensemble.init_state(ensemble.encode(src, mask)))
        mean = (steps[0][0].exp() + steps[1][0].exp()) / 2
        torch.testing.assert_close(log_probs.exp(), mean)
        expected = steps[1][1] if attention_from == 1 else (steps[0][1] + steps[1][1]) / 2
        torch.testing.assert_close(attention, expected)
