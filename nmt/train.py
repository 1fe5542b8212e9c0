"""``nmt train`` and ``python -m nmt.train``: the Hydra application that trains one model.

nmt train                                   # defaults: configs/config.yaml
nmt train model=transformer data=multi30k_en_de trainer.max_minutes=20
nmt train --multirun model=rnn_bahdanau,rnn_noattn
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nmt.config import register_configs
from nmt.errors import NmtError

# The configs ship inside the package as nmt/configs: in a source checkout (and an editable install) a
# link to the top-level configs/, in a wheel the files themselves. `--config-dir DIR` adds a folder of
# your own (searched first); NMT_CONFIG_DIR replaces the packaged folder altogether.
CONFIG_DIR = Path(os.environ.get("NMT_CONFIG_DIR", Path(__file__).resolve().parent / "configs"))

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Train; returns the last validation BLEU (what a Hydra sweeper would maximise)."""
    from nmt.alignment.plot import piece_heatmap
    from nmt.training.signals import Interrupted
    from nmt.training.trainer import train  # imported here so `--help` and config errors stay fast

    try:
        return train(cfg, heatmap=piece_heatmap).get("bleu")
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
