"""Values the schemas accept but training cannot use, refused before anything is written.

The schemas (``nmt/config.py``) check types and key names; ``check_training_config`` checks ranges
and the relations between values, so ``trainer.batch_tokens=0`` stops at start-up with the key's
name instead of training silently on one-pair batches or failing deep inside torch.
"""

from __future__ import annotations

from collections.abc import Iterator

from omegaconf import DictConfig, ListConfig

from nmt.data.pretokenize import TOKENIZERS
from nmt.errors import NmtError
from nmt.models.attention import SPANS
from nmt.models.normalizers import NORMALIZERS
from nmt.models.rnn import CELLS, DECODERS
from nmt.numbers import COUNT, NON_NEGATIVE, POSITIVE, PROBABILITY, SEED, SOME, Range


def check_training_config(cfg: DictConfig) -> None:
    """Raise one ``NmtError`` naming every key whose value training cannot use."""
    problems = [
        *_trainer_problems(cfg.trainer),
        *_model_problems(cfg.model),
        *_seed_problems(cfg),
        *_subword_problems(cfg.data.spm),
        *_data_problems(cfg.data),
        *_supervision_problems(cfg),
    ]
    named = {problem.split("=")[0] for problem in problems}
    problems += [p for p in _finite_problems(cfg, "") if p.split("=")[0] not in named]
    if problems:
        raise NmtError("; ".join(problems))


TRAINER = {
    **dict.fromkeys(("batch_tokens", "max_steps", "update_freq", "log_every", "valid_every"), COUNT),
    "pad_to_multiple": COUNT,
    "max_bad_steps": COUNT,
    **dict.fromkeys(("warmup_steps", "save_every", "keep_last", "keep_best", "attention_images"), SOME),
    "valid_bleu_sentences": Range(0, 2**31 - 1, integer=True, note="0: the whole validation set"),
    "lr": POSITIVE,
    "label_smoothing": PROBABILITY,
    "weight_decay": NON_NEGATIVE,
    "clip_norm": Range(0, None, note="0: no clipping"),
    "alignment_weight": Range(0, None, note="0: no supervised attention"),
}
"""The range of every numeric trainer key; the optional ones (null: no limit) follow."""
TRAINER_OPTIONAL = {
    "max_minutes": POSITIVE,
    "save_every_minutes": POSITIVE,
    "patience": COUNT,
    "threads": COUNT,
}


def _range_problems(section: DictConfig, prefix: str, ranges: dict[str, Range]) -> Iterator[str]:
    """``prefix.key=value: must be ...`` for every key of ``ranges`` in ``section`` out of its range."""
    for key, allowed in ranges.items():
        if key in section:
            problem = allowed.problem(f"{prefix}{key}={section[key]}", section[key])
            if problem:
                yield problem


COMPILE = ("auto", "true", "false")
"""What ``trainer.compile`` accepts (any case: the command line's ``true`` arrives as "True")."""


def _trainer_problems(tc: DictConfig) -> Iterator[str]:
    yield from _range_problems(tc, "trainer.", TRAINER)
    if str(tc.get("compile", "auto")).lower() not in COMPILE:
        yield f"trainer.compile={tc.compile}: must be one of {', '.join(COMPILE)}"
    given = {key: allowed for key, allowed in TRAINER_OPTIONAL.items() if tc.get(key) is not None}
    yield from _range_problems(tc, "trainer.", given)


MODEL = {
    **dict.fromkeys(("dropout", "attn_dropout"), PROBABILITY),
    **dict.fromkeys(("emb_dim", "hidden_dim", "attn_dim", "enc_layers", "dec_layers"), COUNT),
    **dict.fromkeys(("d_model", "heads", "ffn_dim", "max_len"), COUNT),
    "entmax_alpha": Range(1, None, open_low=True, note="1 is softmax"),
    "gumbel_tau": POSITIVE,
    "max_relative_position": Range(0, 2**31 - 1, integer=True, note="0: none"),
    "coverage_loss": Range(0, None, note="0: none"),
}
"""The range of every numeric model key (of either architecture)."""


def _model_problems(model: DictConfig) -> Iterator[str]:
    yield from _range_problems(model, "model.", MODEL)
    if model.arch == "rnn" and model.cell not in CELLS:
        yield f"model.cell={model.cell}: choose one of {', '.join(CELLS)}"
    if model.arch == "rnn" and model.decoder not in DECODERS:
        yield f"model.decoder={model.decoder}: choose one of {', '.join(DECODERS)}"
    if model.arch == "rnn" and model.hidden_dim % 2:
        yield (
            f"model.hidden_dim={model.hidden_dim}: must be even "
            "(the bidirectional encoder gives each direction half of it)"
        )
    if model.arch == "transformer" and model.heads > 0 and model.d_model % model.heads:
        yield f"model.d_model={model.d_model}: must be a multiple of model.heads={model.heads}"
    yield from _attention_problems(model)


def _attention_problems(model: DictConfig) -> Iterator[str]:
    """The attention family's switches (``nmt.models.attention``, ``nmt.models.normalizers``)."""
    if model.normalizer not in NORMALIZERS:
        yield f"model.normalizer={model.normalizer}: choose one of {', '.join(NORMALIZERS)}"
    if model.arch != "rnn":
        return
    if model.span not in SPANS:
        yield f"model.span={model.span}: choose one of {', '.join(SPANS)}"
    if model.span != "global" and model.window < 1:
        yield f"model.window={model.window}: local attention needs a window of at least 1"
    if model.coverage and (model.attention not in ("additive", "concat") or model.span != "global"):
        yield (
            f"model.coverage=true: coverage enters the additive score of global attention, not "
            f"model.attention={model.attention} with model.span={model.span}"
        )
    if model.coverage_loss and not model.coverage:
        yield f"model.coverage_loss={model.coverage_loss}: a weight >= 0, and only with model.coverage=true"
    if model.word_keys and model.attention not in ("additive", "concat", "general"):
        yield (
            f"model.word_keys=true: the source words enter a projected key (additive, concat or "
            f"general attention), not model.attention={model.attention}"
        )


def _seed_problems(cfg: DictConfig) -> Iterator[str]:
    """The run's seed and the vocabulary sample's, each in [0, 2**32 - 1]."""
    for key, seed in (("seed", cfg.seed), ("data.spm.seed", cfg.data.spm.seed)):
        problem = SEED.problem(f"{key}={seed}", seed)
        if problem:
            yield problem


SUBWORDS = {
    **dict.fromkeys(("vocab_size", "input_sentence_size"), COUNT),
    "character_coverage": Range(0, 1, open_low=True),
}


def _subword_problems(spm: DictConfig) -> Iterator[str]:
    """Sentencepiece settings out of range (a positive vocabulary too small for the corpus' characters is
    named later, with the minimum it needs, once the corpus is read)."""
    yield from _range_problems(spm, "data.spm.", SUBWORDS)


FORMATS = ("text", "tsv", "hub")
PARTS = ("train", "valid", "test")


def _data_problems(data: DictConfig) -> Iterator[str]:
    """Training sources (``data.train`` and every ``data.extra_train``) that cannot be read as configured."""
    sources = [("data.train", data.train)]
    sources += [(f"data.extra_train[{i}]", source) for i, source in enumerate(data.extra_train)]
    for where, source in sources:
        if source.format not in FORMATS:
            yield f"{where}.format={source.format}: must be one of {', '.join(FORMATS)}"
        if source.hash_part is not None and source.hash_part not in PARTS:
            yield f"{where}.hash_part={source.hash_part}: must be one of {', '.join(PARTS)}"
        if source.max_pairs is not None and source.max_pairs < 1:
            yield f"{where}.max_pairs={source.max_pairs}: must be at least 1 (or null: every pair)"
    if data.tokenize not in TOKENIZERS:
        yield f"data.tokenize={data.tokenize}: choose one of {', '.join(TOKENIZERS)}"


def _supervision_problems(cfg: DictConfig) -> Iterator[str]:
    """Supervised attention needs a non-negative weight and a model whose attention can be pulled."""
    weight = cfg.trainer.alignment_weight
    if weight > 0 and cfg.model.get("attention") == "none":
        yield f"trainer.alignment_weight={weight}: model.attention=none has no attention to supervise"


ANY_FLOAT, ANY_INT = Range(), Range(-(2**63), 2**63 - 1, integer=True)


def _finite_problems(node: DictConfig | ListConfig, prefix: str) -> Iterator[str]:
    """Every other number of the config, anywhere in it: floats finite, integers within 64 bits
    (``check_training_config`` names a key with a range of its own once, by that range)."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        where = f"{prefix}{key}" if isinstance(node, DictConfig) else f"{prefix[:-1]}[{key}]"
        value = node[key]
        if isinstance(value, DictConfig | ListConfig):
            yield from _finite_problems(value, f"{where}.")
        elif isinstance(value, float) and not ANY_FLOAT.contains(value):
            yield ANY_FLOAT.problem(f"{where}={value}", value)
        elif isinstance(value, int) and not isinstance(value, bool) and not ANY_INT.contains(value):
            yield ANY_INT.problem(f"{where}={value}", value)
