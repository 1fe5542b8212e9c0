"""Load test of `nmt serve` on this machine: concurrent clients against the same requests one at a time.

    python scripts/load_test.py runs/tatoeba_en_fr/rnn_bahdanau --clients 32 --requests 20

Starts `nmt serve RUN_DIR --port 0` on 127.0.0.1 (nothing else is ever addressed), sends one
sentence per request (the run's test sources, in order): first from ``--clients`` concurrent
clients, ``--requests`` each, then the same requests one at a time. Each phase stops sending after
``--max-seconds`` (the whole test stays within about a minute). A third phase sends the same
requests from 16 light clients while one heavy client sends request after request of 64 sentences
of 1,000 characters: the light requests' p99 is what the short sentences' own lane bounds. Then the
server is stopped with Ctrl-C. Prints a Markdown table: requests answered, errors, latency p50/p99,
sentences/s, the server's batched model calls, how long each heavy request took, and whether the
first two phases gave the same translations.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nmt.data.pipeline import load_pairs
from nmt.rundir import load_config


async def phase(url: str, requests: list[dict], clients: int, max_seconds: float) -> dict:
    """Send ``requests`` from ``clients`` concurrent clients (each takes the next one left) until
    done or ``max_seconds`` have passed; latencies, errors and translations of the answered ones."""
    todo = iter(enumerate(requests))
    latencies, errors, answers = [], [], {}
    deadline = time.perf_counter() + max_seconds

    async def client(http: httpx.AsyncClient) -> None:
        for index, request in todo:
            if time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            try:
                response = await http.post("api/translate", json=request)
                response.raise_for_status()
                answers[index] = response.json()["sentences"][0]["nbest"][0]["translation"]
                latencies.append(time.perf_counter() - start)
            except httpx.HTTPError as error:
                errors.append(repr(error))

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        batches = (await http.get("healthz")).json()["batches"]
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        seconds = time.perf_counter() - start
        batches = (await http.get("healthz")).json()["batches"] - batches
    return {
        "latencies": latencies,
        "errors": errors,
        "answers": answers,
        "seconds": seconds,
        "batches": batches,
    }


async def beside_a_heavy_client(url: str, light: list[dict], heavy: dict, max_seconds: float) -> dict:
    """``phase`` of ``light`` from 16 clients while one more client sends ``heavy`` again and again;
    also how long each heavy request took (seconds; the one in flight when the light clients are done
    is awaited for up to 4 x ``max_seconds`` more, and counted as unfinished after that)."""
    heavy_seconds = []
    done = asyncio.Event()

    async def heavy_client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=600) as http:
            while not done.is_set():
                start = time.perf_counter()
                (await http.post("api/translate", json=heavy)).raise_for_status()
                heavy_seconds.append(time.perf_counter() - start)

    task = asyncio.create_task(heavy_client())
    await asyncio.sleep(0.5)  # the first heavy request is being translated
    try:
        result = await phase(url, light, 16, max_seconds)
    finally:
        done.set()
    finished, _ = await asyncio.wait([task], timeout=4 * max_seconds)
    task.cancel()
    return {**result, "heavy_seconds": heavy_seconds, "heavy_unfinished": not finished}


def heavy_request(model: str, sources: list[str], beam: int) -> dict:
    """64 sentences of 1,000 characters (test sources joined and cut): the most one request may ask."""
    text = " ".join(sources)
    while len(text) < 64_000:
        text = f"{text} {text}"
    return {"model": model, "sentences": [text[i * 1000 : (i + 1) * 1000] for i in range(64)], "beam": beam}


def row(name: str, result: dict) -> str:
    ms = sorted(1000 * t for t in result["latencies"])
    p50 = statistics.median(ms) if ms else float("nan")
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))] if ms else float("nan")
    rate = len(ms) / result["seconds"]
    return (
        f"| {name} | {len(ms)} | {len(result['errors'])} | {p50:.0f} | {p99:.0f} | {rate:.1f} "
        f"| {result['batches']} |"
    )


def start_server(run_dir: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "nmt.cli", "serve", str(run_dir), "--host", "127.0.0.1", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    started = time.perf_counter()
    for line in server.stdout:
        if line.startswith("open http://"):
            print(
                f"server ready in {time.perf_counter() - started:.1f} s: {line.split()[1]}", file=sys.stderr
            )
            return server, line.split()[1]
    raise SystemExit(f"nmt serve {run_dir} did not start (exit status {server.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="a trained run (a small model keeps this within a minute)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=20, help="requests per client, one sentence each")
    parser.add_argument("--beam", type=int, default=5, help="beam size of every request")
    parser.add_argument("--max-seconds", type=float, default=25, help="stop sending after this, per phase")
    args = parser.parse_args()

    cfg = load_config(args.run_dir)
    pairs = load_pairs(cfg.data, "test", cfg.cache_dir)
    count = args.clients * args.requests
    requests = [
        {"model": args.run_dir.resolve().name, "sentences": [pairs[i % len(pairs)][0]], "beam": args.beam}
        for i in range(count)
    ]
    server, url = start_server(args.run_dir)
    print(f"{count} requests of one sentence each, beam {args.beam}, {args.run_dir}\n")
    print("| clients | answered | errors | p50 ms | p99 ms | sentences/s | model calls |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    try:
        together = asyncio.run(phase(url, requests, args.clients, args.max_seconds))
        print(row(f"{args.clients} concurrent", together), flush=True)
        alone = asyncio.run(phase(url, requests, 1, args.max_seconds))
        print(row("1 (one at a time)", alone), flush=True)
        heavy = heavy_request(requests[0]["model"], [src for src, _ in pairs[:200]], args.beam)
        light = asyncio.run(beside_a_heavy_client(url, requests, heavy, args.max_seconds))
        print(row("16 light beside 1 heavy (64 x 1,000 characters)", light), flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # a long model call in flight: the figures are in already
            server.kill()
            server.wait()
    both = together["answers"].keys() & alone["answers"].keys()
    same = sum(together["answers"][i] == alone["answers"][i] for i in both)
    took = "".join(f", {t:.1f} s" for t in light["heavy_seconds"])
    after = f"; one unfinished {4 * args.max_seconds:.0f} s after the light clients were done"
    unfinished = after if light["heavy_unfinished"] else ""
    print(f"\nheavy requests answered meanwhile: {len(light['heavy_seconds'])}{took}{unfinished}")
    print(f"\nidentical translations in both phases: {same} of {len(both)}")
    for error in (together["errors"] + alone["errors"] + light["errors"])[:5]:
        print(f"error: {error}")


if __name__ == "__main__":
    main()
