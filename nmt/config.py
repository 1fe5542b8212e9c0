"""Typed configuration schemas, registered with Hydra's ConfigStore.

Every YAML file under ``nmt/configs/`` is merged onto one of these dataclasses, so a misspelt key
(``trainer.max_stepz=5``) stops the program at start-up with the key's name. Model configs pick
their schema through their defaults list (``rnn_schema`` or ``transformer_schema``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


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
class SubwordConfig:
    """Sentencepiece settings; models are trained on the training split and stored in the run directory."""

    model_type: str = "unigram"  # unigram | bpe
    vocab_size: int = 8000
    joint: bool = True  # one model for both languages (needed to share embeddings)
    character_coverage: float = 1.0
    input_sentence_size: int = 1_000_000  # larger corpora: a seeded sample of this many sentences
    # the sample's seed, not the run's: runs of every seed share one vocabulary (and can be ensembled)
    seed: int = 1


@dataclass
class DataConfig:
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
    # processes that prepare the training corpus, and sentencepiece's threads (None: every usable core)
    num_proc: int | None = None
    lowercase: bool = False  # lowercase both sides of every split (as word-alignment gold text is)
    # split both sides of every split into words first: none | moses | och_ney (moses, then French
    # contractions written out as in the Hansards gold text: du -> de le); nmt.data.pretokenize
    tokenize: str = "none"
    reverse: bool = False  # swap source and target of every split: fr->en from the en->fr files


@dataclass
class RNNConfig:
    """RNN encoder-decoder (Bahdanau et al. 2014; Luong et al. 2015)."""

    name: str = MISSING
    arch: str = "rnn"
    cell: str = "gru"  # gru | lstm
    attention: str = "additive"  # score: additive | dot | general | concat | scaled_dot | none
    # bahdanau (attend from s_{i-1}) | conditional (attend from s'_i, which has read y_{i-1}; Nematus)
    # | luong (attend from h_t, input feeding)
    decoder: str = "bahdanau"
    normalizer: str = "softmax"  # softmax | sparsemax | entmax15 | entmax_bisect | hard
    entmax_alpha: float = 1.5  # alpha of entmax_bisect (> 1; 2 is sparsemax)
    gumbel_tau: float = 1.0  # temperature of the hard attention's Gumbel-softmax in training
    span: str = "global"  # global | local_m | local_p (Luong et al. 2015, local attention)
    window: int = 10  # D: local attention looks at source positions p_t - D .. p_t + D
    coverage: bool = False  # coverage vector in the additive score (Tu et al. 2016)
    coverage_loss: float = 0.0  # lambda of the coverage loss (See et al. 2017); 0: none
    # lexical model (Nguyen & Chiang 2018): the attended source embeddings feed the output layer
    lexical: bool = False
    # word keys: the attention scores [h_j; E x_j], the annotation and the source word itself
    word_keys: bool = False
    emb_dim: int = 256
    hidden_dim: int = 512  # decoder state; the encoder has hidden_dim/2 per direction
    attn_dim: int = 256  # additive/concat scoring layer
    enc_layers: int = 1
    dec_layers: int = 1
    dropout: float = 0.2
    tie_embeddings: bool = True  # output projection shares the target embedding matrix


@dataclass
class TransformerConfig:
    """Transformer encoder-decoder (Vaswani et al. 2017)."""

    name: str = MISSING
    arch: str = "transformer"
    d_model: int = 256
    heads: int = 4
    enc_layers: int = 3
    dec_layers: int = 3
    ffn_dim: int = 1024
    activation: str = "relu"  # relu (as in the paper) | gelu
    dropout: float = 0.1
    attn_dropout: float = 0.0
    normalizer: str = "softmax"  # every attention: softmax | sparsemax | entmax15 | entmax_bisect | hard
    entmax_alpha: float = 1.5  # alpha of entmax_bisect (> 1; Correia et al. 2019)
    gumbel_tau: float = 1.0  # temperature of hard attention's Gumbel-softmax in training
    max_relative_position: int = 0  # k > 0: relative positions in self-attention (Shaw et al. 2018)
    pre_norm: bool = True
    share_embeddings: bool = True  # source and target share one embedding (needs a joint vocabulary)
    tie_embeddings: bool = True  # output projection shares the target embedding matrix
    max_len: int = 512
    # Which cross-attention translations carry as their alignment. The default, the last decoder
    # layer with its heads averaged, had the best AER of the layers' head means on the Hansards
    # trial set (tied with the middle layer): docs/guides/alignments.md.
    align_layer: int = -1
    align_head: int | None = None  # None: the mean over heads
    # Garg et al. (2019): read that map off a decoder pass that sees the whole target (the supervised
    # loss, nmt aer, nmt align); translations, decoded left to right, still carry the causal map.
    full_context_alignment: bool = False


@dataclass
class TrainerConfig:
    """How a model is trained: budget, batches, optimiser, schedule, precision, validation and saving."""

    max_steps: int = 100_000
    max_minutes: float | None = None  # wall-clock budget; whichever of the two comes first stops training
    batch_tokens: int = 4096  # source + target tokens per batch, padding included
    # batch lengths are padded up to multiples of this, and a batch holds one (S, T) bucket, so batches
    # take few shapes (tensor cores; trainer=transformer_gpu sets 8); 1: each batch padded to its longest
    # pair only, the least padding (the default: on a CPU nothing yet gains from repeated shapes)
    pad_to_multiple: int = 1
    optimizer_betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    lr: float = 1e-3
    schedule: str = "constant"  # constant | inverse_sqrt | cosine | linear (to 0 at the end of the budget)
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clip_norm: float = 1.0  # 0: no clipping
    label_smoothing: float = 0.1
    precision: str = "auto"  # auto (bf16 where measured faster) | fp32 | bf16 | fp16 (CUDA)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: int | None = None  # torch's CPU threads (None: its default, at most the usable cores)
    log_every: int = 50
    valid_every: int = 1000
    valid_bleu_sentences: int = 500  # 0: the whole validation set
    attention_images: int = 4  # heatmaps of the first N validation sentences in TensorBoard
    patience: int | None = None  # stop after this many validations without a better BLEU
    resume: bool = True  # continue from last.pt when the run directory has one
    allow_data_change: bool = False  # resume even when the training data changed since the run started
    update_freq: int = 1  # micro-batches per optimiser update (gradient accumulation)
    save_every: int = 0  # also write last.pt every N updates (0: at validations and on signals only)
    save_every_minutes: float | None = 10.0  # ... and every N minutes of training (None: never)
    keep_last: int = 0  # step_N.pt snapshots of the latest periodic saves, for `nmt average --last`
    keep_best: int = 0  # best_step_N.pt of the best validation BLEUs, for `nmt average --best`
    max_bad_steps: int = 10  # stop after this many updates in a row with a non-finite loss
    # Supervised attention (Liu et al. 2016; Garg et al. 2019): weight of the loss that pulls the map
    # translations carry (model.align_layer/align_head) toward eflomal's links (0: off).
    alignment_weight: float = 0.0


@dataclass
class Config:
    """The whole configuration of `nmt train`: one data, one model and one trainer group."""

    data: DataConfig = MISSING  # data=NAME picks nmt/configs/data/NAME.yaml
    model: Any = MISSING  # model=NAME picks nmt/configs/model/NAME.yaml (an RNNConfig or TransformerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)  # trainer=NAME: nmt/configs/trainer/
    seed: int = 1234  # seeds torch, NumPy, random and the batch order
    run_dir: str = "runs/${data.name}/${model.name}"  # checkpoints, vocabulary, logs and TensorBoard events
    # downloaded corpora, prepared ones in prepared/ (default: $NMT_CACHE_DIR, else $XDG_CACHE_HOME/nmt,
    # else ~/.cache/nmt)
    cache_dir: str = "${nmt.cache_home:}"


def cache_home() -> str:
    """The default data cache: ``$NMT_CACHE_DIR``, else ``$XDG_CACHE_HOME/nmt``, else ``~/.cache/nmt``.

    It lies outside the working directory, so ``nmt`` run from anywhere shares one cache. As the XDG
    specification says, an empty or relative ``$XDG_CACHE_HOME`` is ignored.
    """
    if own := os.environ.get("NMT_CACHE_DIR"):
        return own
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return str(base / "nmt")


OmegaConf.register_new_resolver("nmt.cache_home", cache_home, replace=True)


def register_configs() -> None:
    """Make the schemas available to Hydra's defaults lists."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="data", name="data_schema", node=DataConfig)
    store.store(group="model", name="rnn_schema", node=RNNConfig)
    store.store(group="model", name="transformer_schema", node=TransformerConfig)
    store.store(group="trainer", name="trainer_schema", node=TrainerConfig)
