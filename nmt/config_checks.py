"""Values the schemas accept but training cannot use, refused before anything is written.

The schemas (``nmt/config.py``) check types and key names; ``check_training_config`` checks ranges
and the relations between values, so ``trainer.batch_tokens=0`` stops at start-up with the key's
name instead of training silently on one-pair batches or failing deep inside torch.
"""

from __future__ import annotations

from collections.abc import Iterator

from omegaconf import DictConfig

from nmt.data.pretokenize import TOKENIZERS
from nmt.errors import NmtError
from nmt.models.attention import SPANS
from nmt.models.normalizers import NORMALIZERS
from nmt.models.rnn import CELLS, DECODERS


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
    if problems:
        raise NmtError("; ".join(problems))


def _trainer_problems(tc: DictConfig) -> Iterator[str]:
    at_least = {
        "batch_tokens": 1,
        "pad_to_multiple": 1,
        "max_steps": 1,
        "update_freq": 1,
        "log_every": 1,
        "valid_every": 1,
        "max_bad_steps": 1,
        "warmup_steps": 0,
        "save_every": 0,
        "keep_last": 0,
        "keep_best": 0,
    }
    for key, low in at_least.items():
        if tc[key] < low:
            yield f"trainer.{key}={tc[key]}: must be at least {low}"
    if not tc.lr > 0:
        yield f"trainer.lr={tc.lr}: the learning rate must be positive"
    if not 0 <= tc.label_smoothing < 1:
        yield f"trainer.label_smoothing={tc.label_smoothing}: must be in [0, 1)"
    for key in ("max_minutes", "save_every_minutes"):
        if tc[key] is not None and not tc[key] > 0:
            yield f"trainer.{key}={tc[key]}: must be positive (or null: no limit)"
    if tc.patience is not None and tc.patience < 1:
        yield f"trainer.patience={tc.patience}: must be at least 1 (or null: no early stopping)"


def _model_problems(model: DictConfig) -> Iterator[str]:
    for key in ("dropout", "attn_dropout"):
        if key in model and not 0 <= model[key] < 1:
            yield f"model.{key}={model[key]}: a dropout probability must be in [0, 1)"
    if model.arch == "rnn" and model.cell not in CELLS:
        yield f"model.cell={model.cell}: choose one of {', '.join(CELLS)}"
    if model.arch == "rnn" and model.decoder not in DECODERS:
        yield f"model.decoder={model.decoder}: choose one of {', '.join(DECODERS)}"
    if model.arch == "rnn" and model.hidden_dim % 2:
        yield (
            f"model.hidden_dim={model.hidden_dim}: must be even "
            "(the bidirectional encoder gives each direction half of it)"
        )
    if model.arch == "transformer" and model.d_model % model.heads:
        yield f"model.d_model={model.d_model}: must be a multiple of model.heads={model.heads}"
    yield from _attention_problems(model)


def _attention_problems(model: DictConfig) -> Iterator[str]:
    """The attention family's switches (``nmt.models.attention``, ``nmt.models.normalizers``)."""
    if model.normalizer not in NORMALIZERS:
        yield f"model.normalizer={model.normalizer}: choose one of {', '.join(NORMALIZERS)}"
    if not model.entmax_alpha > 1:
        yield f"model.entmax_alpha={model.entmax_alpha}: alpha-entmax needs alpha > 1 (1 is softmax)"
    if not model.gumbel_tau > 0:
        yield f"model.gumbel_tau={model.gumbel_tau}: the Gumbel-softmax temperature must be positive"
    if model.arch == "transformer" and model.max_relative_position < 0:
        yield f"model.max_relative_position={model.max_relative_position}: must be at least 0 (0: none)"
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
    if model.coverage_loss < 0 or (model.coverage_loss and not model.coverage):
        yield f"model.coverage_loss={model.coverage_loss}: a weight >= 0, and only with model.coverage=true"
    if model.word_keys and model.attention not in ("additive", "concat", "general"):
        yield (
            f"model.word_keys=true: the source words enter a projected key (additive, concat or "
            f"general attention), not model.attention={model.attention}"
        )


MAX_SEED = 2**32 - 1  # NumPy's legacy seeding takes no more


def _seed_problems(cfg: DictConfig) -> Iterator[str]:
    """The run's seed and the vocabulary sample's, each in [0, MAX_SEED]."""
    for key, seed in (("seed", cfg.seed), ("data.spm.seed", cfg.data.spm.seed)):
        if not 0 <= seed <= MAX_SEED:
            yield f"{key}={seed}: must be in [0, 2**32 - 1]"


def _subword_problems(spm: DictConfig) -> Iterator[str]:
    """Sentencepiece settings out of range (a positive vocabulary too small for the corpus' characters is
    named later, with the minimum it needs, once the corpus is read)."""
    for key in ("vocab_size", "input_sentence_size"):
        if spm[key] < 1:
            yield f"data.spm.{key}={spm[key]}: must be at least 1"
    if not 0 < spm.character_coverage <= 1:
        yield f"data.spm.character_coverage={spm.character_coverage}: must be in (0, 1]"


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
    if weight < 0:
        yield f"trainer.alignment_weight={weight}: must be at least 0 (0: no supervised attention)"
    elif weight > 0 and cfg.model.get("attention") == "none":
        yield f"trainer.alignment_weight={weight}: model.attention=none has no attention to supervise"
