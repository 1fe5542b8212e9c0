"""``nmt train`` and ``python -m nmt.train``: the Hydra application that trains one model.

nmt train                                   # defaults: configs/config.yaml
nmt train model=transformer data=multi30k_en_de trainer.max_minutes=20
nmt train --multirun model=rnn_bahdanau,rnn_noattn
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from nmt.config import register_configs
from nmt.errors import NmtError

# The configs ship inside the package as nmt/configs: in a source checkout (and an editable install) a
# link to the top-level configs/, in a wheel the files themselves. `--config-dir DIR` adds a folder of
# your own (searched first); NMT_CONFIG_DIR replaces the packaged folder altogether.
CONFIG_DIR = Path(os.environ.get("NMT_CONFIG_DIR", Path(__file__).resolve().parent / "configs"))

register_configs()


def config_groups() -> str:
    """The config groups and their options as `nmt train --help` lists them: Hydra's list without
    the ``schema`` group (what the YAML files are checked against, not a choice)."""
    if not GlobalHydra.instance().is_initialized():
        return ""
    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in sorted(g for g in loader.list_groups("") if g not in ("hydra", "schema")):
        options = sorted(loader.get_group_options(group))
        lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


OmegaConf.register_new_resolver("nmt_config_groups", config_groups)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Train; returns the last validation BLEU (what a Hydra sweeper would maximise)."""
    from nmt.alignment.plot import Caption, piece_heatmap
    from nmt.training.run import train  # imported here so `--help` and config errors stay fast
    from nmt.training.signals import Interrupted

    try:
        caption = Caption.of_languages(cfg.data.src_lang, cfg.data.tgt_lang)
        return train(cfg, heatmap=partial(piece_heatmap, caption=caption)).get("bleu")
    except NmtError as e:
        print(f"nmt train: error: {e}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as e:  # the checkpoint is saved
        print(f"nmt train: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:  # before training started, or Ctrl-C twice
        print("nmt train: interrupted before a checkpoint was saved", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
