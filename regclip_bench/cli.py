"""The `regclip-bench` command."""

from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regclip-bench",
        description="Benchmark suite for δ-regularized gradient clipping (arXiv 2404.08624).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="train a wide MLP at full batch with δ-GClip, GClip and SGD (~15 s)",
        description="Train a wide MLP on a random teacher at full batch with δ-GClip, GClip and "
                    "SGD, printing loss, ‖g‖, h/η, the regime, ‖g‖²/L and ‖w−w₀‖.")
    demo.add_argument("--steps", type=_positive_int, default=300)
    demo.add_argument("--width", type=_positive_int, default=512)
    demo.add_argument("--depth", type=_positive_int, default=2)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--log-every", type=_positive_int, default=50)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo
        run_demo(steps=args.steps, width=args.width, depth=args.depth, seed=args.seed,
                 log_every=args.log_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
