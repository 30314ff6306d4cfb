"""The paper's VAE protocol on one device: every optimizer family × 3 seeds, as one process would run
them — a family with a packed kernel as one pack of its seeds (`run_pack`), the others trial by trial —
timed per family and in all (issue 31, item 6: target ≤ 10 minutes on one H200 for the full 200 epochs).

Each family runs one configuration: the paper code's for its four (defaults.hparams of the task file: Adam,
SGD, GClip, δ-GClip, with its η schedule for the two clipped ones), and for the other four the
configuration the published protocol chose on `fashion_mnist_vae[epochs=10]` (results/leaderboard.json,
2026-12-03). On a CPU run it reduced (`--epochs 1`): the line "projected" scales the time to 200 epochs.

    python benchmarks/vae_protocol.py [--epochs 200] [--seeds 3] [--device cuda] [--cuda-graph] [--threads N]
                                      [--synthetic-data DIR]

`--cuda-graph` replays each step from a CUDA graph where the family's optimizer allows it (graphs.py).
`--synthetic-data DIR`: random images of the dataset's size (written once in DIR), where it is not on disk.
"""

from __future__ import annotations

import argparse
import time

import torch
from _synthetic import data_line, fashion_overrides

from regclip_bench.config import resolve_trial
from regclip_bench.optim.registry import lookup
from regclip_bench.packed import run_pack
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial

PUBLISHED_10_EPOCHS = {   # results/leaderboard.json, fashion_mnist_vae[epochs=10], each family's configuration
    "delta_gclip_per_tensor": {"lr": 9.538e-4, "gamma": 31.27, "delta": 0.1383},
    "clip_sgd": {"lr": 1.565e-4, "gamma": 5431.0},
    "sgd_momentum": {"lr": 4.462e-5},
    "adamw": {"lr": 2.897e-3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cuda-graph", action="store_true", help="capture each step (on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--synthetic-data", metavar="DIR", help="random images of Fashion-MNIST's size, in DIR")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task = load_task("fashion_mnist_vae")
    families = {**{name: dict(hp) for name, hp in task.defaults.hparams.items()}, **PUBLISHED_10_EPOCHS}
    data = fashion_overrides(args.synthetic_data)
    print(data_line(args.synthetic_data), flush=True)
    rows, total = [], 0.0
    for name, hparams in families.items():
        configs = [resolve_trial(task, {"optimizer": name, **hparams, "seed": seed, "epochs": args.epochs,
                                        "eval_every": 10**6, "device": args.device, **data}) for seed in range(args.seeds)]
        start = time.perf_counter()
        if lookup(name).packed is not None:
            records, how = run_pack(configs, capture=args.cuda_graph), f"one pack of {len(configs)}"
        else:
            records = [run_trial(c, capture=args.cuda_graph) for c in configs]
            how = f"{len(configs)} trial{'s' if len(configs) > 1 else ''} in turn"
        if any(r["step_graph"] for r in records):
            how += ", captured"
        seconds = time.perf_counter() - start
        total += seconds
        losses = ", ".join(f"{r['final_test_loss']:.2f}" for r in records)
        rows.append(f"  {name:24s} {seconds:8.1f} s  ({how}; final test loss {losses})")
        print(rows[-1], flush=True)
    device = records[0]["device_name"] if records else "?"
    print(f"{len(families)} families × {args.seeds} seeds, {args.epochs} epochs each, on {device} "
          f"(torch {torch.__version__}): {total:.1f} s in all")
    if args.epochs != 200:
        print(f"  projected to the paper's 200 epochs: {total * 200 / args.epochs / 60:.1f} min "
              "(target on one H200: ≤ 10 min)")


if __name__ == "__main__":
    main()
