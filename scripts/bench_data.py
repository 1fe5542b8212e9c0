"""Data-pipeline benchmark on a WMT-sized corpus: preparation, reuse, batch order, per-rank memory.

    python scripts/bench_data.py                       # 4.5M pairs, in a temporary folder
    python scripts/bench_data.py --work data/bench --pairs 4500000 --cores 2

1. builds a corpus of ``--pairs`` distinct real-sentence pairs (``scripts/bench_corpus.py``);
2. prepares it as ``nmt train data=wmt14_en_fr`` would (reading, cleaning, sentencepiece on the
   config's sample, encoding) into an empty data cache, pinned to ``--cores`` CPU cores: wall time
   and peak RSS (summed over the process and its workers, sampled every 0.1 s);
3. runs the same preparation again: the time to find and open the cached corpus (and the time of
   the whole process, Python's start and imports included);
4. times the batch order of one epoch (``TokenBatches.batches()``, ``--batch-tokens``) and reports
   its share of padding and its number of batch shapes, with lengths padded to multiples of
   ``trainer.pad_to_multiple`` (8 with trainer=transformer_gpu) and padded only to each batch's longest pair;
5. trains the same Transformer for a few steps in two DDP processes (Gloo) on the prepared corpus and
   on Multi30k, and reports each rank's private memory (USS: pages no other process shares).

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

WMT = "wmt14_en_fr"


# ----------------------------------------------------------------- configs
def compose_config(data: str, corpus: Path | None, cache: Path, run_dir: Path, *extra: str) -> Any:
    """The run config of ``nmt train data=DATA`` with ``corpus/train.{en,fr}`` as its training files."""
    from hydra import compose, initialize_config_dir

    from nmt.config import FileConfig, SplitConfig, register_configs
    from nmt.train import CONFIG_DIR

    overrides = [f"data={data}", "model=transformer", f"cache_dir={cache}", f"run_dir={run_dir}", *extra]
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    if corpus is not None:
        cfg.data.train = SplitConfig(
            src=FileConfig(path=str(corpus / "train.en")), tgt=FileConfig(path=str(corpus / "train.fr"))
        )
    return cfg


def worker_config(args: argparse.Namespace) -> Any:
    corpus = None if args.data != WMT else args.work / "corpus"
    return compose_config(args.data, corpus, args.work / "cache", args.work / "run" / args.data)


# ----------------------------------------------------------------- workers (run as subprocesses)
def work_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare (or reuse) the training data."""
    from nmt.data.store import prepare_training_data

    cfg = worker_config(args)
    start = time.perf_counter()
    data = prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir)
    return {"pairs": len(data.corpus), "report": data.report, "seconds": time.perf_counter() - start}


def work_batches(args: argparse.Namespace) -> dict[str, Any]:
    """Time one epoch's batch order; its padding share and shapes, and those without rounding."""
    from nmt.data.batching import TokenBatches, batch_shape, pad_share
    from nmt.data.store import prepare_training_data

    cfg = worker_config(args)
    corpus = prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir, build=False).corpus
    lengths, multiple = (corpus.src_lengths, corpus.tgt_lengths), cfg.trainer.pad_to_multiple
    batches = TokenBatches(*lengths, args.batch_tokens, seed=1, pad_to_multiple=multiple)
    batches.set_epoch(1)
    start = time.perf_counter()
    order = batches.batches()
    seconds = time.perf_counter() - start
    exact = TokenBatches(*lengths, args.batch_tokens, seed=1)
    exact.set_epoch(1)
    return {
        "seconds": seconds,
        "batches": len(order),
        "pairs": len(corpus),
        "multiple": multiple,
        "padding": [pad_share(*lengths, order, multiple), pad_share(*lengths, exact.batches())],
        "shapes": [
            len({batch_shape(*lengths, b, m) for b in o})
            for o, m in ((order, multiple), (exact.batches(), 1))
        ],
    }


def work_ddp(args: argparse.Namespace) -> dict[str, Any]:
    """One DDP rank: open the prepared corpus, build its batch order and read its first batches (USS),
    then train the model on them (USS again)."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    from nmt.data.batching import TokenBatches
    from nmt.data.store import prepare_training_data
    from nmt.data.vocab import PAD, Vocab
    from nmt.models import build_model

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = worker_config(args)
    if rank == 0:
        prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir)
    dist.barrier()
    data = prepare_training_data(cfg.data, cfg.cache_dir, cfg.run_dir, build=rank == 0)
    multiple = cfg.trainer.pad_to_multiple
    batches = TokenBatches(
        data.corpus.src_lengths,
        data.corpus.tgt_lengths,
        args.batch_tokens,
        seed=1,
        rank=rank,
        world=world,
        pad_to_multiple=multiple,
    )
    held = [data.corpus.batch(indices).padded_to(multiple) for indices in batches.batches()[: args.steps]]
    data_uss = psutil.Process().memory_full_info().uss
    src_vocab, tgt_vocab = (Vocab(path) for path in data.vocab_models)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(src_vocab), len(tgt_vocab), PAD)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for batch in held:
        logits, _ = ddp(batch.src, batch.src_mask, batch.tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train_uss = psutil.Process().memory_full_info().uss
    dist.barrier()
    dist.destroy_process_group()
    return {"rank": rank, "data_uss": data_uss, "train_uss": train_uss, "vocab": len(tgt_vocab)}


WORKERS = {"prepare": work_prepare, "batches": work_batches, "ddp": work_ddp}


# ----------------------------------------------------------------- measuring
def run_measured(
    command: list[str], cores: list[int] | None = None
) -> tuple[float, dict[str, float], list[str]]:
    """Run ``command``; its wall time, the peaks of the summed RSS and PSS of it and its children
    (PSS counts a page shared by n processes 1/n times in each) and their CPU time, its stdout lines."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.PIPE, text=True)
    if cores:
        process.cpu_affinity(cores)  # its workers inherit it
    peak: dict[str, float] = {"rss": 0, "pss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                memory = [p.memory_full_info() for p in [process, *process.children(recursive=True)]]
                for key in peak:
                    peak[key] = max(peak[key], sum(getattr(m, key) for m in memory))
            except psutil.Error:  # a worker ended while being read
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = process.stdout.read()
    process.wait()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit status {process.returncode}")
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process it waited for, workers included
    peak["cpu"] = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    return seconds, peak, [line for line in out.splitlines() if line.startswith("{")]


def worker(args: argparse.Namespace, name: str, data: str = WMT) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--data",
        data,
        "--work",
        str(args.work),
        "--batch-tokens",
        str(args.batch_tokens),
        "--steps",
        str(args.steps),
    ]


def ddp_memory(args: argparse.Namespace, data: str) -> list[dict[str, Any]]:
    """Each rank's memory after training on ``data`` in two Gloo processes."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _, _, lines = run_measured([*launcher, *worker(args, "ddp", data)[1:]])
    return sorted((json.loads(line) for line in lines), key=lambda r: r["rank"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, help="folder for the corpus and the cache (default: temporary)")
    parser.add_argument("--pairs", type=int, default=4_500_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2, help="CPU cores the preparation may use")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=10, help="training steps per DDP rank")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=WMT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="nmt-bench-data-") as tmp:
        args.work = (args.work or Path(tmp)).resolve()
        report(args)


def report(args: argparse.Namespace) -> None:
    from bench_corpus import build

    from nmt.config import CleanConfig

    corpus = args.work / "corpus"
    marker = corpus / f"built-{args.pairs}-{args.seed}"
    if not marker.exists():
        build(corpus, args.pairs, args.seed, CleanConfig())
        marker.touch()
    shutil.rmtree(args.work / "cache", ignore_errors=True)  # prepare from nothing
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    prepare_s, peak, lines = run_measured(worker(args, "prepare"), cores)
    prepared = json.loads(lines[-1])
    reuse_s, _, lines = run_measured(worker(args, "prepare"))
    reused = json.loads(lines[-1])
    epoch = json.loads(run_measured(worker(args, "batches"))[2][-1])
    big, small = ddp_memory(args, WMT), ddp_memory(args, "multi30k_en_de")
    gb = 1e9
    rows = [
        ("corpus", f"{prepared['report']['read']:,} distinct pairs, {prepared['pairs']:,} after cleaning"),
        (
            f"prepare on {len(cores)} CPU cores (target ≤ 10 min)",
            f"{prepare_s / 60:.1f} min (CPU time of all its processes: {peak['cpu'] / 60:.1f} min)",
        ),
        (
            "peak RSS while preparing, summed over its processes (target ≤ 2.5 GB)",
            f"{peak['rss'] / gb:.2f} GB",
        ),
        ("peak PSS while preparing, summed over its processes", f"{peak['pss'] / gb:.2f} GB"),
        (
            "reuse: a second run finds and opens it (target ≤ 10 s)",
            f"{reused['seconds']:.1f} s ({reuse_s:.1f} s for the whole process: start, imports, config)",
        ),
        (
            f"one epoch's batch order, {args.batch_tokens} tokens (target ≤ 5 s)",
            f"{epoch['seconds']:.2f} s ({epoch['batches']:,} batches)",
        ),
        (
            f"padding of those batches: lengths padded to multiples of {epoch['multiple']} / "
            "to each batch's longest pair",
            "{:.1%} / {:.1%} of batch tokens ({:,} / {:,} batch shapes)".format(
                *epoch["padding"], *epoch["shapes"]
            ),
        ),
    ]
    for key, what in (
        ("data_uss", "holding the corpus and the batch order"),
        ("train_uss", "after training"),
    ):
        for b, s in zip(big, small, strict=True):
            rows.append(
                (
                    f"rank {b['rank']} USS {what}: WMT-sized / Multi30k (target: ≤ 1 GB more)",
                    f"{b[key] / gb:.2f} / {s[key] / gb:.2f} GB (+{(b[key] - s[key]) / gb:.2f})",
                )
            )
    print(f"\n{len(os.sched_getaffinity(0))} CPU cores visible, {args.cores} for the preparation\n")
    print("| what | measured |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")


if __name__ == "__main__":
    main()
