"""Trials per second, packed against unpacked, on the same grid, measured in one run.

The grid: 64 configurations of teacher_mlp at width 64, depth 2 (δ-GClip: 4 η × 4 γ × 4 seeds).
Unpacked: `run_trial` on each configuration in turn; packed: `run_pack` on packs of K = 16 and of
K = 64.  All in this process, one thread each (torch.set_num_threads(1)), so what is compared is
the per-trial work, not Ray's scheduling; rounds alternate the three so that machine noise hits
them alike.  `--task fashion_mnist_vae` runs the VAE grid instead (4 η × 2 seeds, 1 epoch); `--seeds S`
widens either grid to S seeds and adds one pack of the whole grid (for a GPU, where K = 8 is too few to
fill the device).  Each variant's final losses are compared with the unpacked trials' (the largest
relative differences are printed: float32 packed and unpacked trials differ in arithmetic order, which runs
that oscillate or diverge amplify; tests/test_packed.py holds packed and unpacked trials equal.  Packed VAE
members draw their reparameterisation noise in one batched draw, so they equal unpacked ones in
distribution only, and their final losses differ as two noisy estimates do).

    python benchmarks/packed_trials.py [--rounds 3] [--threads 1] [--device cpu] [--seeds S]
    python benchmarks/packed_trials.py --sweep [--rounds 1]

`--sweep` times whole sweeps instead, as a user runs them: `regclip-bench sweep teacher_mlp` over the
same 64 configurations, and over 256 (16 seeds), without and with `--pack 16` and `--pack 64`, each into a
fresh folder — as a command that starts its own local Ray, and on a local Ray already running.  It prints
each sweep's trials per second and the marginal rate between the two sizes (the fixed start cancels).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from regclip_bench.config import resolve_trial
from regclip_bench.packed import run_pack
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial

GRIDS = {
    "teacher_mlp": (dict(width=64, depth=2, optimizer="delta_gclip", delta=0.1),
                    [dict(lr=lr, gamma=g, seed=s) for lr in (0.1, 0.3, 1.0, 3.0) for g in (0.01, 0.1, 1.0, 10.0)
                     for s in range(4)], (16, 64)),
    "fashion_mnist_vae": (dict(optimizer="delta_gclip", epochs=1, eval_every=600),
                          [dict(lr=lr, seed=s) for lr in (1e-4, 3e-4, 1e-3, 3e-3) for s in range(2)], (8,)),
}


def widened(grid: list[dict], packs: tuple[int, ...], seeds: int | None) -> tuple[list[dict], tuple[int, ...]]:
    """The grid with seeds 0..S−1 for each of its other settings, and a pack of all of it added."""
    if seeds is None:
        return grid, packs
    points = list({tuple((k, v) for k, v in p.items() if k != "seed"): None for p in grid})
    grid = [dict(p, seed=s) for p in points for s in range(seeds)]
    return grid, tuple(sorted({*(k for k in packs if k < len(grid)), len(grid)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="teacher_mlp", choices=sorted(GRIDS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, help="S seeds per configuration, and a pack of the whole grid")
    parser.add_argument("--sweep", action="store_true", help="time whole sweeps on local Ray")
    args = parser.parse_args()
    if args.sweep:
        return sweeps(args.rounds)
    torch.set_num_threads(args.threads)
    common, grid, packs = GRIDS[args.task]
    grid, packs = widened(grid, packs, args.seeds)
    task = load_task(args.task)
    configs = [resolve_trial(task, {**common, **point, "device": args.device}) for point in grid]
    n = len(configs)

    def unpacked() -> list[dict]:
        return [run_trial(c) for c in configs]

    def packed(k: int):
        return lambda: [r for i in range(0, n, k) for r in run_pack(configs[i:i + k])]

    variants = {"unpacked": unpacked, **{f"packed K={k}": packed(k) for k in packs}}
    times: dict[str, list[float]] = {name: [] for name in variants}
    finals: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            records = run()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
            finals[name] = [rec["final_loss"] for rec in records]
            print(f"  round {r + 1} {name}: {times[name][-1]:.2f} s", flush=True)
    print(f"{args.task}: {n} configurations, device {args.device}, {args.threads} thread(s), "
          f"{args.rounds} rounds, interleaved")
    base = statistics.median(times["unpacked"])
    for name, t in times.items():
        median = statistics.median(t)
        ratios = [u / p for u, p in zip(times["unpacked"], t)]
        print(f"  {name:14s} median {median:8.2f} s   {n / median:8.2f} trials/s   "
              f"{base / median:5.2f}x unpacked (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    for name, losses in finals.items():
        diffs = [abs(a - b) / max(abs(b), 1e-30) for a, b in zip(losses, finals["unpacked"])]
        print(f"  {name:14s} final losses vs unpacked, relative difference: median "
              f"{statistics.median(diffs):.1e}, largest {max(diffs):.1e}")


SWEEP_GRID = ["--grid", "width=64", "--grid", "depth=2", "--optimizers", "delta_gclip", "--grid", "delta=0.1",
              "--grid", "lr=0.1,0.3,1.0,3.0", "--grid", "gamma=0.01,0.1,1.0,10.0"]
SIZES = {64: 4, 256: 16}   # configurations: seeds


def sweeps(rounds: int) -> None:
    """Whole sweeps of 64 configurations (the issue's grid) and of 256 (16 seeds), each run two ways: as a
    command that starts its own local Ray ("cold": what a user waits for, Ray's start and the driver's imports
    included), and in this process on one local Ray started beforehand ("running Ray": what each sweep costs
    on a cluster that is already up, as with --address).  (256 − 64) / (t₂₅₆ − t₆₄) is a sweep's marginal
    throughput — trials per second once Ray, Tune and the workers are up, which is what a large sweep runs at."""
    from regclip_bench.sweep.session import ray_session, use_token
    use_token()   # before Ray is imported: the running Ray gets a token, as the CLI's would
    from regclip_bench import cli

    def cold(argv: list[str]) -> str:
        done = subprocess.run([sys.executable, "-m", "regclip_bench.cli", *argv], capture_output=True, text=True)
        return done.stdout + done.stderr

    def running(argv: list[str]) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            cli.main(argv)
        return out.getvalue()

    variants = {"unpacked sweep": [], "--pack 16": ["--pack", "16"], "--pack 64": ["--pack", "64"]}
    times: dict[tuple[str, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as top, ray_session(None, top):
        for _ in range(rounds):
            for n, seeds in SIZES.items():
                for name, extra in variants.items():
                    for mode, run in (("cold", cold), ("running Ray", running)):
                        with tempfile.TemporaryDirectory() as folder:
                            start = time.perf_counter()
                            said = run(["sweep", "teacher_mlp", *SWEEP_GRID, "--seeds", str(seeds), *extra,
                                        "--name", "bench", "--storage", folder, "--no-aggregate"])
                            times.setdefault((mode, name, n), []).append(time.perf_counter() - start)
                        if f"ran {n} trials" not in said:
                            sys.exit(f"{mode} {name}: the sweep failed:\n{said}")
    median = {key: statistics.median(t) for key, t in times.items()}
    small, large = SIZES
    print(f"teacher_mlp sweeps (width 64, depth 2, δ-GClip) on local Ray, {rounds} round(s), interleaved")
    for mode in ("cold", "running Ray"):
        base_whole = median[mode, "unpacked sweep", small]
        base_marginal = (large - small) / (median[mode, "unpacked sweep", large] - base_whole)
        print(f"{mode}:")
        for name in variants:
            whole = median[mode, name, small]
            marginal = (large - small) / (median[mode, name, large] - whole)
            print(f"  {name:15s} {small} configurations {whole:6.1f} s, {small / whole:5.2f} trials/s, "
                  f"{base_whole / whole:4.2f}x   |   {large}: {median[mode, name, large]:6.1f} s   |   marginal "
                  f"{marginal:6.2f} trials/s, {marginal / base_marginal:4.2f}x unpacked")


if __name__ == "__main__":
    main()
