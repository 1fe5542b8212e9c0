"""Typed configuration schemas, registered with Hydra's ConfigStore.

Every YAML file under ``configs/`` is merged onto one of these dataclasses, so a misspelt key
(``trainer.max_stepz=5``) stops the program at start-up with the key's name. Each YAML file names
its schema in its defaults list (``/schema/rnn_schema@_here_``): the schemas live in a config group
of their own, ``schema``, so Hydra never offers them as a choice of ``model=`` or ``trainer=``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from nmt.cache import cache_home
from nmt.numbers import COUNT, NON_NEGATIVE, POSITIVE, PROBABILITY, SEED, SOME, Range
from nmt.schema import (
    ACTIVATIONS,
    CELLS,
    COMPILE_CHOICES,
    DECODERS,
    FORMATS,
    NORMALIZERS,
    PARTS,
    SCORES,
    SPANS,
    TOKENIZERS,
    Schema,
    choice,
    ranged,
)

ALPHA = Range(1, None, open_low=True, note="1 is softmax")
ALL_OR_SOME = Range(0, 2**31 - 1, integer=True, note="0: the whole validation set")


@dataclass
class FileConfig:
    """One corpus file: where it lives locally and where it can be downloaded from."""

    path: str = MISSING  # absolute, or relative to $NMT_DATA_DIR / the data cache
    url: str | None = None  # public URL of the file (or of a zip archive holding it)
    sha256: str | None = None  # checksum of what `url` serves
    member: str | None = None  # the file's name inside the zip archive at `url`


@dataclass
class HubConfig:
    """A Hugging Face `datasets` source: a hub name, or a builder such as "json" with local files."""

    path: str = MISSING
    name: str | None = None
    split: str = "train"
    data_files: list[str] | None = None
    src_field: str = MISSING  # dotted path into each record, e.g. "translation.en"
    tgt_field: str = MISSING
    streaming: bool = False  # read records as they download, for corpora too large to download first


@dataclass
class SplitConfig:
    """Where one split's sentence pairs come from."""

    format: str = "text"  # text (two line-aligned files) | tsv | hub
    src: FileConfig | None = None
    tgt: FileConfig | None = None
    tsv: FileConfig | None = None
    columns: list[int] = field(default_factory=lambda: [0, 1])  # tsv: source, target column
    hub: HubConfig | None = None
    hash_part: str | None = None  # keep one part (train/valid/test) of a split by hashing the source
    max_pairs: int | None = None  # keep only the first N pairs
    unescape: bool = False  # undo the XML escapes of Moses-tokenized text (&apos; &quot; &amp; &lt; &gt;)


@dataclass
class HashSplitConfig:
    """Fractions of a corpus without an official split that go to valid and test."""

    valid: float = 0.01
    test: float = 0.01


@dataclass
class CleanConfig:
    """Filters applied to training pairs (valid and test are only NFC-normalised)."""

    max_words: int = 100
    max_ratio: float = 3.0  # longer side / shorter side, in words
    ratio_min_words: int = 5  # the ratio filter ignores pairs whose longer side is shorter than this
    dedupe: bool = True


@dataclass
class SubwordConfig(Schema):
    """Sentencepiece settings; models are trained on the training split and stored in the run directory."""

    model_type: str = "unigram"  # unigram | bpe
    vocab_size: int = ranged(8000, COUNT)
    joint: bool = True  # one model for both languages (needed to share embeddings)
    character_coverage: float = ranged(1.0, Range(0, 1, open_low=True))
    # larger corpora: a seeded sample of this many sentences
    input_sentence_size: int = ranged(1_000_000, COUNT)
    # the sample's seed, not the run's: runs of every seed share one vocabulary (and can be ensembled)
    seed: int = ranged(1, SEED)


@dataclass
class DataConfig(Schema):
    """A corpus: its languages, where each split comes from, and how it is cleaned and split into subwords."""

    name: str = MISSING  # the corpus's name (run directories default to runs/<data.name>/<model.name>)
    src_lang: str = MISSING  # source language code, e.g. en
    tgt_lang: str = MISSING  # target language code, e.g. fr
    train: SplitConfig = field(default_factory=SplitConfig)
    extra_train: list[SplitConfig] = field(default_factory=list)  # more sources, appended to train
    valid: SplitConfig = field(default_factory=SplitConfig)
    test: SplitConfig = field(default_factory=SplitConfig)
    hash_split: HashSplitConfig = field(default_factory=HashSplitConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    spm: SubwordConfig = field(default_factory=SubwordConfig)
    # processes that prepare the training corpus (None: every usable core)
    num_proc: int | None = None
    lowercase: bool = False  # lowercase both sides of every split (as word-alignment gold text is)
    # split both sides of every split into words first: none | moses | och_ney (moses, then French
    # contractions written out as in the Hansards gold text: du -> de le); nmt.data.pretokenize
    tokenize: str = choice("none", TOKENIZERS)
    reverse: bool = False  # swap source and target of every split: fr->en from the en->fr files

    @classmethod
    def relations(cls, node: Any, prefix: str) -> Iterator[str]:
        """Training sources (``train`` and every ``extra_train``) that cannot be read as configured, and
        sentencepiece settings out of range (a vocabulary too small for the corpus' characters is named
        later, with the minimum it needs, once the corpus is read)."""
        sources = [(f"{prefix}train", node.train)]
        sources += [(f"{prefix}extra_train[{i}]", source) for i, source in enumerate(node.extra_train)]
        for where, source in sources:
            if source.format not in FORMATS:
                yield f"{where}.format={source.format}: must be one of {', '.join(FORMATS)}"
            if source.hash_part is not None and source.hash_part not in PARTS:
                yield f"{where}.hash_part={source.hash_part}: must be one of {', '.join(PARTS)}"
            if source.max_pairs is not None and source.max_pairs < 1:
                yield f"{where}.max_pairs={source.max_pairs}: must be at least 1 (or null: every pair)"
        yield from SubwordConfig.problems(node.spm, f"{prefix}spm.")


@dataclass
class RNNConfig(Schema):
    """RNN encoder-decoder (Bahdanau et al. 2014; Luong et al. 2015)."""

    name: str = MISSING
    arch: str = "rnn"
    cell: str = choice("gru", CELLS)  # gru | lstm
    # score: additive | dot | general | concat | scaled_dot | none
    attention: str = choice("additive", SCORES)
    # bahdanau (attend from s_{i-1}) | conditional (attend from s'_i, which has read y_{i-1}; Nematus)
    # | luong (attend from h_t, input feeding)
    decoder: str = choice("bahdanau", DECODERS)
    normalizer: str = choice("softmax", NORMALIZERS)  # softmax | sparsemax | entmax15 | entmax_bisect | hard
    entmax_alpha: float = ranged(1.5, ALPHA)  # alpha of entmax_bisect (> 1; 2 is sparsemax)
    # temperature of the hard attention's Gumbel-softmax in training
    gumbel_tau: float = ranged(1.0, POSITIVE)
    span: str = choice("global", SPANS)  # global | local_m | local_p (Luong et al. 2015, local attention)
    window: int = 10  # D: local attention looks at source positions p_t - D .. p_t + D
    coverage: bool = False  # coverage vector in the additive score (Tu et al. 2016)
    # lambda of the coverage loss (See et al. 2017); 0: none
    coverage_loss: float = ranged(0.0, Range(0, None, note="0: none"))
    # lexical model (Nguyen & Chiang 2018): the attended source embeddings feed the output layer
    lexical: bool = False
    # word keys: the attention scores [h_j; E x_j], the annotation and the source word itself
    word_keys: bool = False
    emb_dim: int = ranged(256, COUNT)
    hidden_dim: int = ranged(512, COUNT)  # decoder state; the encoder has hidden_dim/2 per direction
    attn_dim: int = ranged(256, COUNT)  # additive/concat scoring layer
    enc_layers: int = ranged(1, COUNT)
    dec_layers: int = ranged(1, COUNT)
    dropout: float = ranged(0.2, PROBABILITY)
    tie_embeddings: bool = True  # output projection shares the target embedding matrix

    @classmethod
    def relations(cls, node: Any, prefix: str) -> Iterator[str]:
        if node.hidden_dim % 2:
            yield (
                f"{prefix}hidden_dim={node.hidden_dim}: must be even "
                "(the bidirectional encoder gives each direction half of it)"
            )
        if node.span != "global" and node.window < 1:
            yield f"{prefix}window={node.window}: local attention needs a window of at least 1"
        if node.coverage and (node.attention not in ("additive", "concat") or node.span != "global"):
            yield (
                f"{prefix}coverage=true: coverage enters the additive score of global attention, not "
                f"{prefix}attention={node.attention} with {prefix}span={node.span}"
            )
        if node.coverage_loss and not node.coverage:
            yield (
                f"{prefix}coverage_loss={node.coverage_loss}: a weight >= 0, "
                f"and only with {prefix}coverage=true"
            )
        if node.word_keys and node.attention not in ("additive", "concat", "general"):
            yield (
                f"{prefix}word_keys=true: the source words enter a projected key (additive, concat or "
                f"general attention), not {prefix}attention={node.attention}"
            )


@dataclass
class TransformerConfig(Schema):
    """Transformer encoder-decoder (Vaswani et al. 2017)."""

    name: str = MISSING
    arch: str = "transformer"
    d_model: int = ranged(256, COUNT)
    heads: int = ranged(4, COUNT)
    enc_layers: int = ranged(3, COUNT)
    dec_layers: int = ranged(3, COUNT)
    ffn_dim: int = ranged(1024, COUNT)
    activation: str = choice("relu", ACTIVATIONS)  # relu (as in the paper) | gelu
    dropout: float = ranged(0.1, PROBABILITY)
    attn_dropout: float = ranged(0.0, PROBABILITY)
    # every attention: softmax | sparsemax | entmax15 | entmax_bisect | hard
    normalizer: str = choice("softmax", NORMALIZERS)
    entmax_alpha: float = ranged(1.5, ALPHA)  # alpha of entmax_bisect (> 1; Correia et al. 2019)
    gumbel_tau: float = ranged(1.0, POSITIVE)  # temperature of hard attention's Gumbel-softmax in training
    # k > 0: relative positions in self-attention (Shaw et al. 2018)
    max_relative_position: int = ranged(0, Range(0, 2**31 - 1, integer=True, note="0: none"))
    pre_norm: bool = True
    share_embeddings: bool = True  # source and target share one embedding (needs a joint vocabulary)
    tie_embeddings: bool = True  # output projection shares the target embedding matrix
    max_len: int = ranged(512, COUNT)
    # Which cross-attention translations carry as their alignment. The default, the last decoder
    # layer with its heads averaged, had the best AER of the layers' head means on the Hansards
    # trial set (tied with the middle layer): docs/guides/alignments.md.
    align_layer: int = -1
    align_head: int | None = None  # None: the mean over heads
    # Garg et al. (2019): read that map off a decoder pass that sees the whole target (the supervised
    # loss, nmt aer, nmt align); translations, decoded left to right, still carry the causal map.
    full_context_alignment: bool = False

    @classmethod
    def relations(cls, node: Any, prefix: str) -> Iterator[str]:
        if node.heads > 0 and node.d_model % node.heads:
            yield f"{prefix}d_model={node.d_model}: must be a multiple of {prefix}heads={node.heads}"
        elif node.d_model % 2:
            yield f"{prefix}d_model={node.d_model}: must be even (sinusoidal positions)"
        if node.dec_layers > 0 and not -node.dec_layers <= node.align_layer < node.dec_layers:
            yield f"{prefix}align_layer={node.align_layer}: not one of {node.dec_layers} decoder layers"
        if node.align_head is not None and not 0 <= node.align_head < node.heads:
            yield f"{prefix}align_head={node.align_head}: not one of {node.heads} heads"


@dataclass
class TrainerConfig(Schema):
    """How a model is trained: budget, batches, optimiser, schedule, precision, validation and saving."""

    max_steps: int = ranged(100_000, COUNT)
    # wall-clock budget; whichever of the two comes first stops training
    max_minutes: float | None = ranged(None, POSITIVE)
    batch_tokens: int = ranged(4096, COUNT)  # source + target tokens per batch, padding included
    # batch lengths are padded up to multiples of this, and a batch holds one (S, T) bucket, so batches
    # take few shapes (tensor cores; trainer=transformer_gpu sets 8); 1: each batch padded to its longest
    # pair only, the least padding (the default: on a CPU nothing yet gains from repeated shapes)
    pad_to_multiple: int = ranged(1, COUNT)
    optimizer_betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    lr: float = ranged(1e-3, POSITIVE)
    schedule: str = "constant"  # constant | inverse_sqrt | cosine | linear (to 0 at the end of the budget)
    warmup_steps: int = ranged(0, SOME)
    weight_decay: float = ranged(0.0, NON_NEGATIVE)
    clip_norm: float = ranged(1.0, Range(0, None, note="0: no clipping"))  # 0: no clipping
    label_smoothing: float = ranged(0.1, PROBABILITY)
    precision: str = "auto"  # auto (bf16 where measured faster) | fp32 | bf16 | fp16 (CUDA)
    # torch.compile the forward pass and loss: auto (where a probe measures that it repays its compile
    # time within the run), true, false (docs/guides/gpu.md, "Compiling the training step")
    compile: str = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: int | None = ranged(
        None, COUNT
    )  # torch's CPU threads (None: its default, at most the usable cores)
    log_every: int = ranged(50, COUNT)
    valid_every: int = ranged(1000, COUNT)
    valid_bleu_sentences: int = ranged(500, ALL_OR_SOME)  # 0: the whole validation set
    # attention heatmaps in TensorBoard, at every validation: the first N of the textbook pair ("I love
    # you."), attention_sentences and validation pairs of 5-20 words (nmt/training/showcase.py); 0: none
    attention_images: int = ranged(4, SOME)
    attention_sentences: list[str] = field(default_factory=list)  # source sentences to show (own translation)
    patience: int | None = ranged(None, COUNT)  # stop after this many validations without a better BLEU
    resume: bool = True  # continue from last.pt when the run directory has one
    allow_data_change: bool = False  # resume even when the training data changed since the run started
    update_freq: int = ranged(1, COUNT)  # micro-batches per optimiser update (gradient accumulation)
    # also write last.pt every N updates (0: at validations and on signals only)
    save_every: int = ranged(0, SOME)
    # ... and every N minutes of training (None: never)
    save_every_minutes: float | None = ranged(10.0, POSITIVE)
    # step_N.pt snapshots of the latest periodic saves, for `nmt average --last`
    keep_last: int = ranged(0, SOME)
    keep_best: int = ranged(0, SOME)  # best_step_N.pt of the best validation BLEUs, for `nmt average --best`
    max_bad_steps: int = ranged(10, COUNT)  # stop after this many updates in a row with a non-finite loss
    # Supervised attention (Liu et al. 2016; Garg et al. 2019): weight of the loss that pulls the map
    # translations carry (model.align_layer/align_head) toward eflomal's links (0: off).
    alignment_weight: float = ranged(0.0, Range(0, None, note="0: no supervised attention"))

    @classmethod
    def relations(cls, node: Any, prefix: str) -> Iterator[str]:
        """``compile`` in any case (the command line's ``true`` arrives as "True"); no blank
        ``attention_sentences``."""
        if str(node.compile).lower() not in COMPILE_CHOICES:
            yield f"{prefix}compile={node.compile}: choose one of {', '.join(COMPILE_CHOICES)}"
        for index, sentence in enumerate(node.get("attention_sentences") or []):
            if not str(sentence).strip():
                where = f"{prefix}attention_sentences[{index}]={sentence!r}"
                yield f"{where}: an empty sentence has nothing to show"


@dataclass
class Config(Schema):
    """The whole configuration of `nmt train`: one data, one model and one trainer group."""

    data: DataConfig = MISSING  # data=NAME picks configs/data/NAME.yaml
    model: Any = MISSING  # model=NAME picks configs/model/NAME.yaml (an RNNConfig or TransformerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # trainer=NAME: configs/trainer/
    seed: int = ranged(1234, SEED)  # seeds torch, NumPy, random and the batch order
    run_dir: str = "runs/${data.name}/${model.name}"  # checkpoints, vocabulary, logs and TensorBoard events
    # downloaded corpora, prepared ones in prepared/ (default: $NMT_CACHE_DIR, else $XDG_CACHE_HOME/nmt,
    # else ~/.cache/nmt)
    cache_dir: str = "${nmt.cache_home:}"

    @classmethod
    def relations(cls, node: Any, prefix: str) -> Iterator[str]:
        """Each section by its own schema; supervised attention needs a model whose attention can be
        pulled."""
        yield from TrainerConfig.problems(node.trainer, f"{prefix}trainer.")
        model = RNNConfig if node.model.arch == "rnn" else TransformerConfig
        yield from model.problems(node.model, f"{prefix}model.")
        yield from DataConfig.problems(node.data, f"{prefix}data.")
        weight = node.trainer.alignment_weight
        if weight > 0 and node.model.get("attention") == "none":
            yield f"trainer.alignment_weight={weight}: model.attention=none has no attention to supervise"


OmegaConf.register_new_resolver("nmt.cache_home", cache_home, replace=True)


def register_configs() -> None:
    """Make the schemas available to Hydra's defaults lists."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="schema", name="data_schema", node=DataConfig)
    store.store(group="schema", name="rnn_schema", node=RNNConfig)
    store.store(group="schema", name="transformer_schema", node=TransformerConfig)
    store.store(group="schema", name="trainer_schema", node=TrainerConfig)
