"""CTranslate2 export of a Transformer run, and translation with the exported model.

``export_ctranslate2(run_dir, out_dir, quantization)`` writes a CTranslate2 model built with
``ctranslate2.specs`` (one layer at a time: embeddings, sinusoidal positions, pre/post-norm
blocks, fused attention projections), the run's sentencepiece models beside it and
``nmt_export.json`` (what was exported, from which run). ``CTranslate2Translator`` translates
with it and returns the same ``Translation`` objects as ``nmt.translate.Translator``, with the
attention CTranslate2 returns (of its alignment layer, the mean of its heads: ours by default).

CTranslate2 runs Transformers only: RNN runs are refused. Its own length penalty is log P / length
** alpha, not GNMT's: the translator re-ranks its finished hypotheses with ours
(``CTranslate2Translator.translate``).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from nmt.data.clean import normalize
from nmt.data.vocab import EOS_PIECE, Vocab, vocab_paths
from nmt.decoding import DecodeConfig, length_penalty
from nmt.errors import NmtError
from nmt.models.transformer import Transformer
from nmt.outputs import atomic_folder, check_output
from nmt.rundir import load_run
from nmt.translate import Translation, check_prefixes, encode_prefix

MARKER = "nmt_export.json"
QUANTIZATIONS = ("int8", "int8_float32", "int16", "float32")


def _ctranslate2() -> Any:
    try:
        import ctranslate2
    except ImportError:
        raise NmtError("CTranslate2 is not installed: pip install 'nmt[ctranslate2]'") from None
    return ctranslate2


def export_ctranslate2(run_dir: str | Path, out_dir: str | Path, quantization: str | None = None) -> Path:
    """Convert the run's best checkpoint into a CTranslate2 model directory; returns ``out_dir``."""
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise NmtError(f"--quantization {quantization}: choose one of {', '.join(QUANTIZATIONS)}")
    check_output(Path(out_dir), "--out", folder=True)
    run = load_run(run_dir, "best", "cpu")
    if not isinstance(run.model, Transformer):
        raise NmtError(
            f"{run_dir}: CTranslate2 runs Transformer models only, and this run is an RNN "
            f"({run.cfg.model.name}); translate it with `nmt translate`"
        )
    model_cfg = run.cfg.model
    normalizer, distance = model_cfg.get("normalizer", "softmax"), model_cfg.get("max_relative_position", 0)
    if normalizer != "softmax" or distance:
        raise NmtError(
            f"{run_dir}: this export writes softmax attention with absolute positions only, and "
            f"{model_cfg.name} has model.normalizer={normalizer}, model.max_relative_position={distance}; "
            "translate it with `nmt translate`"
        )
    spec = transformer_spec(run.model, model_cfg)
    spec.register_source_vocabulary([run.src_vocab.sp.id_to_piece(i) for i in range(len(run.src_vocab))])
    spec.register_target_vocabulary([run.tgt_vocab.sp.id_to_piece(i) for i in range(len(run.tgt_vocab))])
    spec.validate()
    spec.optimize(quantization=quantization)
    joint = bool(run.cfg.data.spm.joint)
    marker = {"run": str(run_dir), "step": run.step, "model": run.cfg.model.name, "joint": joint}
    with atomic_folder(Path(out_dir)) as out:
        spec.save(str(out))
        for path in dict.fromkeys(vocab_paths(run_dir, joint)):
            shutil.copyfile(path, out / path.name)
        (out / MARKER).write_text(json.dumps({**marker, "quantization": quantization}, indent=2) + "\n")
    return Path(out_dir)


def transformer_spec(model: Transformer, cfg: Any) -> Any:
    """A ``ctranslate2.specs.TransformerSpec`` holding ``model``'s weights (float32 numpy arrays)."""
    _ctranslate2()  # a clear message when it is missing
    from ctranslate2.specs import common_spec, transformer_spec

    activation = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU}[cfg.activation]
    spec = transformer_spec.TransformerSpec.from_config(
        (len(model.encoder), len(model.decoder)),
        model.heads,
        pre_norm=model.pre_norm,
        activation=activation,
        alignment_layer=model.align_layer,
        alignment_heads=0 if model.align_head is None else 1,  # 0: the mean of every head
    )
    spec.config.layer_norm_epsilon = model.decoder[0].ffn_block.norm.eps
    positions = _array(model.positions)
    for stack, embed in ((spec.encoder, model.src_embed), (spec.decoder, model.tgt_embed)):
        embeddings = stack.embeddings[0] if isinstance(stack.embeddings, list) else stack.embeddings
        embeddings.weight = _array(embed.weight)
        stack.scale_embeddings = True
        stack.position_encodings.encodings = positions
    if model.pre_norm:
        _norm(spec.encoder.layer_norm, model.enc_norm)
        _norm(spec.decoder.layer_norm, model.dec_norm)
    for layer, ours in zip(spec.encoder.layer, model.encoder, strict=True):
        _self_attention(layer.self_attention, ours.self_attn, ours.attn_block.norm)
        _ffn(layer.ffn, ours.ffn, ours.ffn_block.norm)
    for layer, ours in zip(spec.decoder.layer, model.decoder, strict=True):
        _self_attention(layer.self_attention, ours.self_attn, ours.self_block.norm)
        attn = ours.cross_attn
        _rows(layer.attention.linear[0], attn, 0, 1)
        _rows(layer.attention.linear[1], attn, 1, 3)
        _linear(layer.attention.linear[2], attn.out_proj)
        _norm(layer.attention.layer_norm, ours.cross_block.norm)
        _ffn(layer.ffn, ours.ffn, ours.ffn_block.norm)
    _linear(spec.decoder.projection, model.generator)
    return spec


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().copy()


def _linear(spec: Any, linear: torch.nn.Linear) -> None:
    spec.weight = _array(linear.weight)
    if linear.bias is not None:
        spec.bias = _array(linear.bias)


def _rows(spec: Any, attn: Any, first: int, last: int) -> None:
    """Projections ``first`` .. ``last`` - 1 of the stacked q/k/v (``MultiHeadAttention.rows``)."""
    weight, bias = attn.rows(first, last)
    spec.weight, spec.bias = _array(weight), _array(bias)


def _norm(spec: Any, norm: torch.nn.LayerNorm) -> None:
    spec.gamma, spec.beta = _array(norm.weight), _array(norm.bias)


def _self_attention(spec: Any, attn: Any, norm: torch.nn.LayerNorm) -> None:
    _rows(spec.linear[0], attn, 0, 3)
    _linear(spec.linear[1], attn.out_proj)
    _norm(spec.layer_norm, norm)


def _ffn(spec: Any, ffn: Any, norm: torch.nn.LayerNorm) -> None:
    _linear(spec.linear_0, ffn.w_1)
    _linear(spec.linear_1, ffn.w_2)
    _norm(spec.layer_norm, norm)


class CTranslate2Translator:
    """An exported model (``export_ctranslate2``) translating with CTranslate2 on the CPU, with
    ``threads`` intra-op threads (default: torch's)."""

    def __init__(self, export_dir: str | Path, threads: int | None = None) -> None:
        folder = Path(export_dir)
        if not (folder / MARKER).is_file() or not (folder / "model.bin").is_file():
            raise NmtError(
                f"{export_dir}: not a CTranslate2 export (no {MARKER} and model.bin); "
                "make one with `nmt export RUN_DIR --format ctranslate2`"
            )
        ct2 = _ctranslate2()
        info = json.loads((folder / MARKER).read_text())
        src_path, tgt_path = vocab_paths(folder, info["joint"])
        self.src_vocab, self.tgt_vocab = Vocab(src_path), Vocab(tgt_path)
        self.translator = ct2.Translator(
            str(folder), device="cpu", intra_threads=threads or torch.get_num_threads()
        )

    def translate(
        self,
        sentences: Sequence[str],
        config: DecodeConfig | None = None,
        *,
        prefixes: Sequence[str] | None = None,
        progress: bool = False,
    ) -> list[list[Translation]]:
        """Like ``Translator.translate`` (search only): the n best translations of every sentence,
        in chunks of 16 batches (a progress bar on stderr with ``progress`` and more than one).

        Ranking. CTranslate2 divides a finished hypothesis' log-probability by length ** penalty, with
        no GNMT form ((5 + length) / 6) ** alpha. Its beam search does not use the penalty while
        searching (it expands by cumulative log-probability, as ours), only to rank the finished
        hypotheses at the end; with a penalty it stops a sentence once ``beam`` of them have ended.
        So all ``beam`` are asked for, their log-probabilities recovered (score * length ** alpha)
        and the n best re-ranked with our penalty (``nmt.decoding.length_penalty``). With ``alpha =
        0`` both rank by log-probability and CTranslate2 stops as soon as its best row has ended,
        which is exact. What can still differ: CTranslate2 counts an EOS as finished only among its
        ``beam`` best candidates (ours: among all ``2 * beam``), stops after ``beam`` finished ones
        instead of when none can be beaten (its ``patience`` 2 changed no line of Multi30k's test
        set), and a beam search output that reaches the maximum length may be another one (see
        ``_translations``).
        """
        config = config or DecodeConfig()
        if config.sampling:
            raise NmtError("--engine ctranslate2 translates with beam search or greedy only, not --sample")
        sources = [normalize(s) for s in sentences]
        pieces = [[*self.src_vocab.pieces(ids), EOS_PIECE] for ids in self.src_vocab.encode(sources)]
        todo = [i for i, s in enumerate(sources) if s]
        forced = None
        if prefixes is not None:
            check_prefixes(prefixes, sentences)
            forced = [self.tgt_vocab.pieces(encode_prefix(self.tgt_vocab, p)) for p in prefixes]
        results = [[Translation.empty(s)] * config.nbest for s in sentences]
        chunk = 16 * config.batch_size
        hidden = not progress or len(todo) <= chunk
        with tqdm(total=len(todo), unit="sent", file=sys.stderr, disable=hidden) as bar:
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                for i, best in zip(part, self._search(part, sentences, pieces, forced, config), strict=True):
                    results[i] = best
                bar.update(len(part))
        return results

    def _search(
        self,
        part: list[int],
        sentences: Sequence[str],
        pieces: list[list[str]],
        forced: list[list[str]] | None,
        config: DecodeConfig,
    ) -> list[list[Translation]]:
        """The ``config.nbest`` best translations of the sentences at the indices ``part`` (of
        ``sentences``, their source ``pieces`` and their ``forced`` target prefixes, None: none) from
        one call of CTranslate2's search, re-ranked with our length penalty (see ``translate``)."""
        longest = max(len(pieces[i]) for i in part)
        found = self.translator.translate_batch(
            [pieces[i] for i in part],
            target_prefix=None if forced is None else [forced[i] for i in part],
            beam_size=config.beam,
            num_hypotheses=config.beam if config.alpha else config.nbest,
            length_penalty=config.alpha,
            max_decoding_length=math.floor(config.max_len_a * longest + config.max_len_b) + 1,
            max_batch_size=config.batch_size,
            return_scores=True,
            return_attention=True,
            return_end_token=True,  # its attention row too, as our translations carry
        )
        ranked = []
        for i, result in zip(part, found, strict=True):
            limit = math.floor(config.max_len_a * len(pieces[i]) + config.max_len_b)
            limit = max(limit, len(forced[i]) if forced else 0)
            hyps = self._translations(sentences[i], pieces[i], result, config.alpha, limit)
            ranked.append(sorted(hyps, key=lambda h: h.score, reverse=True)[: config.nbest])
        return ranked

    def _translations(
        self, source: str, src_pieces: list[str], result: Any, alpha: float, limit: int
    ) -> list[Translation]:
        """Ours of CTranslate2's hypotheses (EOS included) and their scores (log P / len(tokens) **
        alpha): log P, and our ranking score, distinct outputs only.

        CTranslate2 has one maximum length per batch: a hypothesis longer than this sentence's own
        ``limit`` (or one it cut at its maximum, without EOS) is cut to ``limit`` tokens and ended
        with EOS, as our search forces it (for greedy search, exactly its output), and its log
        P(tokens + EOS) is scored anew; its attention rows are those CTranslate2 computed for
        these positions."""
        hyps = [tokens[:-1] if tokens[-1:] == [EOS_PIECE] else tokens for tokens in result.hypotheses]
        cut = [
            j
            for j, (tokens, text) in enumerate(zip(result.hypotheses, hyps, strict=True))
            if len(text) == len(tokens) or len(text) > limit  # no EOS, or too long for this sentence
        ]
        for j in cut:
            hyps[j] = hyps[j][:limit]
        rescored = self.translator.score_batch([src_pieces] * len(cut), [hyps[j] for j in cut])
        log_probs = [
            float(s) * len(t) ** alpha for t, s in zip(result.hypotheses, result.scores, strict=True)
        ]
        for j, scored in zip(cut, rescored, strict=True):
            log_probs[j] = sum(scored.log_probs)
        translations: dict[tuple[str, ...], Translation] = {}
        for text, log_prob, attention in zip(hyps, log_probs, result.attention, strict=True):
            translations.setdefault(
                tuple(text),
                Translation(
                    source=source,
                    text=self.tgt_vocab.sp.decode_pieces(list(text)),
                    score=log_prob / length_penalty(len(text) + 1, alpha),
                    log_prob=log_prob,
                    src_tokens=src_pieces,
                    tgt_tokens=[*text, EOS_PIECE],
                    attention=torch.tensor(attention[: len(text) + 1], dtype=torch.float32),
                ),
            )
        return list(translations.values())
