"""Each config schema names its own unusable values, all at once, before anything is written; the
registries that build models and data from a config know exactly the names the schemas accept."""

from __future__ import annotations

import re

import pytest
from conftest import compose
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

import nmt.schema
from nmt.config import DataConfig, RNNConfig, TrainerConfig, TransformerConfig
from nmt.config_checks import check_training_config
from nmt.errors import NmtError
from nmt.models.attention import SCORES
from nmt.models.normalizers import build_normalizer
from nmt.models.rnn import CELLS, DECODERS
from nmt.models.spans import SPANS
from nmt.models.transformer import ACTIVATIONS


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        (DECODERS, nmt.schema.DECODERS),
        (CELLS, nmt.schema.CELLS),
        (SCORES, nmt.schema.SCORES),
        (SPANS, nmt.schema.SPANS),
        (ACTIVATIONS, nmt.schema.ACTIVATIONS),
    ],
)
def test_every_name_a_schema_accepts_has_a_class_and_no_other(registry: dict, names: tuple[str, ...]) -> None:
    assert set(registry) == set(names)


@pytest.mark.parametrize("name", nmt.schema.NORMALIZERS)
def test_every_normalizer_a_schema_accepts_builds(name: str) -> None:
    assert build_normalizer(name, alpha=1.3) is not None


def _problems(schema: type, **values: object) -> list[str]:
    return list(schema.problems(OmegaConf.structured(schema(**values)), "model."))


def test_an_rnn_config_names_every_problem_of_its_own() -> None:
    problems = _problems(
        RNNConfig, name="x", cell="rnn", hidden_dim=33, dropout=1.0, attention="dot", coverage=True
    )
    assert len(problems) == 4
    for named in ("model.cell=rnn", "model.hidden_dim=33", "model.dropout=1.0", "model.coverage=true"):
        assert any(problem.startswith(named) for problem in problems), named


@given(
    d_model=st.integers(1, 64),
    heads=st.integers(1, 8),
    layer=st.integers(-8, 8),
    dec_layers=st.integers(1, 4),
)
def test_a_transformer_config_names_what_its_constructor_used_to_refuse(
    d_model: int, heads: int, layer: int, dec_layers: int
) -> None:
    problems = _problems(
        TransformerConfig, name="x", d_model=d_model, heads=heads, align_layer=layer, dec_layers=dec_layers
    )
    named = {problem.split("=")[0] for problem in problems}
    assert ("model.d_model" in named) == (d_model % heads != 0 or d_model % 2 != 0)
    assert ("model.align_layer" in named) == (not -dec_layers <= layer < dec_layers)


def test_trainer_and_data_sections_check_themselves() -> None:
    trainer = OmegaConf.structured(TrainerConfig(batch_tokens=0, max_minutes=-1.0))
    assert sorted(p.split(":")[0] for p in TrainerConfig.problems(trainer, "trainer.")) == [
        "trainer.batch_tokens=0",
        "trainer.max_minutes=-1.0",
    ]
    data = OmegaConf.structured(DataConfig(name="d", src_lang="en", tgt_lang="fr", tokenize="spacy"))
    data.train.format = "csv"
    assert list(DataConfig.problems(data, "data.")) == [
        "data.tokenize=spacy: choose one of none, moses, och_ney",
        "data.train.format=csv: must be one of text, tsv, hub",
    ]


def test_the_entry_point_names_the_problems_of_every_section_at_once() -> None:
    cfg = compose("trainer.lr=-1", "model.cell=rnn", "data.spm.vocab_size=0", "seed=-1")
    with pytest.raises(NmtError) as error:
        check_training_config(cfg)
    for named in ("trainer.lr=-1", "model.cell=rnn", "data.spm.vocab_size=0", "seed=-1"):
        assert re.search(re.escape(named), str(error.value)), named
