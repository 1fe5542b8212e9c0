"""Options several commands share: the run to load, the precision, the decoding settings (generated
from ``DecodeConfig``'s fields), the attention map; and the help format that shows every default."""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.decoding.config import DecodeConfig
from nmt.decoding.options import decode_options

DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help, each option's default after its help (unless the help says it, or there is none)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)  # room for every command's name beside its summary

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == argparse.SUPPRESS
        if not action.option_strings or unset or "default" in text:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()


def add_run_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a run directory written by `nmt train`"
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint and --device: which weights of a run, on which device."""
    parser.add_argument("--checkpoint", default="best", help="best, last, or a path to a .pt file")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        help="what the model computes in: auto (bf16 on GPUs and on CPUs with native bf16 for the "
        "Transformer, else fp32), fp32, bf16, or fp16 (CUDA)",
    )


def add_attention_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layer", type=int, help="Transformer: decoder layer whose cross-attention to show")
    parser.add_argument("--head", type=int, help="Transformer: one head (default: the mean of the heads)")


def add_decode_arguments(parser: argparse.ArgumentParser, omit: tuple[str, ...] = ()) -> None:
    """One option per field of ``DecodeConfig`` but those in ``omit`` (their defaults hold), with its
    type, default, docstring and range (``nmt.decoding.options``)."""
    group = parser.add_argument_group("decoding")
    for option in decode_options():
        if option.name in omit:
            continue
        text = option.help.replace("%", "%%")
        if option.type is bool:
            group.add_argument(option.flag, dest=option.name, action="store_true", help=text)
        else:
            group.add_argument(
                option.flag, dest=option.name, type=option.type, default=option.default, help=text
            )


def decode_config(args: argparse.Namespace) -> DecodeConfig:
    """The ``DecodeConfig`` of the decoding options parsed into ``args`` (those a command omits keep
    their defaults); its checks name the option at fault."""
    names = {option.name for option in decode_options()}
    return DecodeConfig(**{name: value for name, value in vars(args).items() if name in names})
