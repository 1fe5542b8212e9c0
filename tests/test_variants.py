"""Checkpoints written before the model variants became classes of their own still load and
translate identically.

``fixtures/models_7a3dd5d.pt`` was recorded at commit 7a3dd5d (before the split) for every model
config in configs/model/: each built with ``TINY`` below, ``torch.manual_seed(0)``, vocabularies
of 11 entries (pad 0); its state dict (keys, shapes and values, flattened in order), and, in eval
mode on ``BATCH``, the teacher-forced logits and attention and three greedy ``step`` calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from nmt.models import build_model

FIXTURE = Path(__file__).parent / "fixtures" / "models_7a3dd5d.pt"
CONFIGS = Path(__file__).parents[1] / "configs" / "model"
RECORDED = torch.load(FIXTURE)
TINY = {
    "rnn": ["model.emb_dim=4", "model.hidden_dim=6", "model.attn_dim=4", "model.window=2"],
    "transformer": [
        "model.d_model=8",
        "model.heads=2",
        "model.ffn_dim=8",
        "model.enc_layers=1",
        "model.dec_layers=2",
        "model.max_len=16",
    ],
}
VOCAB = 11
BATCH = (torch.tensor([[4, 5, 6, 7, 3], [8, 9, 3, 0, 0]]), torch.tensor([[2, 4, 5, 6], [2, 7, 8, 0]]))


def _old_state(record: dict) -> dict[str, torch.Tensor]:
    """The recorded state dict, in its recorded key order."""
    sizes = [torch.Size(shape).numel() for _, shape in record["keys"]]
    values = record["values"].split(sizes)
    return {key: value.view(shape) for (key, shape), value in zip(record["keys"], values, strict=True)}


def _model_yaml(name: str) -> DictConfig:
    """configs/model/NAME.yaml over the model configs its defaults list names, with ``arch`` set
    from its schema (read directly: Hydra's compose takes seconds per config)."""
    cfg = OmegaConf.load(CONFIGS / f"{name}.yaml")
    defaults = list(cfg.pop("defaults"))
    parents = [_model_yaml(d) for d in defaults if d != "_self_" and not d.startswith("/schema/")]
    schemas = [
        {"arch": d.removeprefix("/schema/").removesuffix("_schema@_here_")}
        for d in defaults
        if d.startswith("/schema/")
    ]
    return OmegaConf.merge(*schemas, *parents, cfg)


def _build(name: str) -> torch.nn.Module:
    """Model ``name`` as recorded: tiny, seed 0, eval mode."""
    cfg = _model_yaml(name)
    relative = ["max_relative_position=2"] if name == "transformer_relpos" else []
    tiny = [item.removeprefix("model.") for item in TINY[cfg.arch]]
    torch.manual_seed(0)
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([*tiny, *relative]))
    return build_model(cfg, VOCAB, VOCAB, 0).eval()


def test_every_recorded_model_config_still_exists() -> None:
    assert set(RECORDED) <= {path.stem for path in CONFIGS.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_old_checkpoints_load_strictly_and_translate_identically(name: str) -> None:
    """Same seed, same initial parameters (the old state dict, converted on load where a layout
    changed: the Transformer's stacked q/k/v projection); the old state dict loads strictly and
    gives the old logits, attention and greedy tokens: bit for bit where the layout is the same,
    within float rounding (1e-6) where one matrix product now does the work of three."""
    record, model = RECORDED[name], _build(name)
    exact = {"rtol": 0, "atol": 0}
    initial = {key: value.clone() for key, value in model.state_dict().items()}
    same_layout = [key for key, _ in record["keys"]] == list(initial)  # optimiser states fit
    if same_layout:
        torch.testing.assert_close(
            torch.cat([v.flatten() for v in initial.values()]), record["values"], **exact
        )
    close = exact if same_layout else {"rtol": 1e-5, "atol": 1e-6}
    model.load_state_dict(_old_state(record), strict=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, initial[key], **exact, msg=key)
    src, tgt = BATCH
    with torch.no_grad():
        logits, attention = model(src, src != 0, tgt, attention=True)
        torch.testing.assert_close(logits, record["logits"], **close)
        torch.testing.assert_close(attention, record["attention"], **close)
        state, tokens = model.init_state(model.encode(src, src != 0)), tgt[:, 0]
        for logp_old, attention_old in record["steps"]:
            logp, step_attention, state = model.step(tokens, state)
            torch.testing.assert_close(logp, logp_old, **close)
            torch.testing.assert_close(step_attention, attention_old, **close)
            tokens = logp.argmax(-1)
            assert torch.equal(tokens, logp_old.argmax(-1))  # the same translation
