"""Start-up of the commands that only read task files or a store, and a sweep's fixed start, in one run.

Each command runs as a user types it (a fresh process), the kinds interleaved round by round; medians.
Printed beside each: its ratio to `python -c "import torch"` — what `tasks` used to cost before it stopped
importing torch (issue 31: target ≤ 1 s for `tasks` and `sweep --dry-run` on this suite's 2-core machine).
The sweep is one 20-step trial on a local Ray started and stopped by the command: what is left of it is
Ray's and Tune's start, the worker's imports and the shutdown.

    python benchmarks/startup.py [--rounds 5] [--no-sweep]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

CLI = [sys.executable, "-m", "regclip_bench.cli"]
COMMANDS = {
    "--help": [*CLI, "--help"],
    "tasks": [*CLI, "tasks"],
    "sweep teacher_mlp --dry-run (2,064 trials planned)": [*CLI, "sweep", "teacher_mlp", "--dry-run"],
    "sweep digits_mlp --budget 16 --dry-run": [*CLI, "sweep", "digits_mlp", "--budget", "16", "--dry-run"],
    "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-sweep", action="store_true", help="skip the one-trial sweep (≈ 10 s a round)")
    args = parser.parse_args()
    commands = dict(COMMANDS)
    storage = tempfile.TemporaryDirectory()
    if not args.no_sweep:
        commands["sweep: 1 trial of 20 steps, local Ray"] = [
            *CLI, "sweep", "teacher_mlp", "--grid", "width=16", "--grid", "depth=1", "--grid", "lr=0.1",
            "--optimizers", "sgd", "--seeds", "1", "--set", "steps=20", "--storage", storage.name, "--no-aggregate"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(args.rounds):
        for name, command in commands.items():
            if name.startswith("sweep: "):
                subprocess.run(["rm", "-rf", f"{storage.name}/teacher_mlp"], check=True)
            times[name].append(timed(command))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    reference = statistics.median(times["python -c 'import torch' (reference)"])
    print(f"{args.rounds} interleaved rounds, medians (min–max); ratio to importing torch ({reference:.2f} s)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:52s} {median:6.2f} s ({min(values):.2f}–{max(values):.2f})   {median / reference:5.2f}×")


if __name__ == "__main__":
    main()
