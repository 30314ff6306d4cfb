"""The `regclip-bench` command."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from typing import Any

from .errors import ConfigError, check_name, check_path


DEFAULT_STORAGE = "~/regclip-bench/sweeps"
DEFAULT_STORE = "~/regclip-bench/store"
DEFAULT_RESULTS = "~/regclip-bench/results"
# `submit`: the tasks whose headline trials take seconds on one CPU core (results/README.md's wall times),
# the budget of configurations per workload (docs/protocol.md) and a trial's time limit (a built-in
# headline trial takes seconds to a minute on this suite's CPUs).
CPU_TASKS = ("teacher_mlp", "digits_mlp", "lsq_gaussian", "lsq_student_t", "teacher_mlp_eos")
DEFAULT_BUDGET = 16
DEFAULT_TIME_LIMIT_S = 900.0


def _number(kind: type, minimum: float, inclusive: bool, maximum: float = math.inf):
    """An argparse type: a finite number of `kind` above `minimum` (or at it, if `inclusive`), at most
    `maximum`."""
    bound = f"{'>=' if inclusive else '>'} {minimum:g}" + (f" and <= {maximum:,}" if maximum < math.inf else "")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (value is None or not math.isfinite(value) or value > maximum
                or not (value >= minimum if inclusive else value > minimum)):
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
        return value
    return parse


def _name(option: str):
    """An argparse type: a name that becomes a folder (see errors.check_name)."""
    def parse(text: str) -> str:
        try:
            return check_name(option, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option} ")) from None
    return parse


_positive_int = _number(int, 0, inclusive=False)
# Bounds on what a command plans before anything runs, far beyond any sweep this suite runs, so that a
# typo (--budget 10000000) is a one-line error, not a plan that never ends or an allocation of exabytes;
# sweep/grid.py bounds the planned trials as a whole (MAX_TRIALS).
_budget = _number(int, 0, inclusive=False, maximum=10_000)
_seed_count = _number(int, 0, inclusive=False, maximum=1_000)
_sequence_seed = _number(int, 0, inclusive=True, maximum=2**32 - 1)
_positive_float = _number(float, 0, inclusive=False)
_non_negative_float = _number(float, 0, inclusive=True)


def _add_execution_options(parser: argparse.ArgumentParser, submit: bool = False) -> None:
    if not submit:
        parser.add_argument("--name", type=_name("--name"), help="sweep name (default: the task's name)")
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="path or URI (default: %(default)s)")
    parser.add_argument("--address", help="a Ray cluster to join: auto or HOST:PORT (default: local Ray)")
    parser.add_argument("--cpus-per-trial", type=_positive_float, default=1.0, metavar="N",
                        help="CPUs Ray reserves for each trial, on one node (default 1)")
    parser.add_argument("--gpus-per-trial", type=_non_negative_float, default=0.0, metavar="N",
                        help="GPUs for each trial; fractions share one, e.g. 0.5 (default 0)")
    parser.add_argument("--max-concurrent", type=_positive_int, metavar="N",
                        help="at most N trials at a time (default: as many as the resources hold)")
    if not submit:   # a plug-in optimizer has no packed kernel: a submission runs unpacked
        parser.add_argument("--pack", type=_number(int, 1, inclusive=True), metavar="K",
                            help="train up to K configurations of one workload and optimizer together in one "
                                 "process (docs/packed-trials.md; default: the task's `pack`, else 1)")
    if submit:   # a plug-in's step is never captured (its code may keep host values)
        parser.set_defaults(cuda_graph=False)
    else:
        parser.add_argument("--cuda-graph", action="store_true",
                            help="replay each training step from a CUDA graph, where the optimizer allows it "
                                 "(same numbers, fewer kernel launches; needs --gpus-per-trial)")
    parser.add_argument("--trial-time-limit", type=_positive_float, metavar="SECONDS",
                        default=DEFAULT_TIME_LIMIT_S if submit else None,
                        help="a trial still running after this many seconds ends as timed_out (default: "
                             + (f"{DEFAULT_TIME_LIMIT_S:g}" if submit else "none") + ")")
    parser.add_argument("--max-failures", type=_number(int, 0, inclusive=True), default=3,
                        help="retries of a crashed trial (default 3)")
    parser.add_argument("--checkpoint-every", type=_non_negative_float, default=10.0, metavar="SECONDS",
                        help="checkpoint at the first evaluation after this many seconds (default 10)")
    parser.add_argument("--resume", action="store_true", help="continue the sweep's interrupted run")
    parser.add_argument("--dry-run", action="store_true", help="print the trials and stop")
    parser.add_argument("--store", default=DEFAULT_STORE,
                        help="results store to aggregate into when done (default: %(default)s)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("regclip-bench")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2), like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="regclip-bench",
        description="Benchmark suite for δ-regularized gradient clipping (arXiv 2404.08624).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  regclip-bench run teacher_mlp                      # the main job: a quick grid, report, leaderboard\n"
               "  regclip-bench tasks                                # the shipped tasks\n"
               "  regclip-bench train teacher_mlp --set optimizer=gclip --set lr=0.5\n"
               "  regclip-bench sweep teacher_mlp --budget 16 --dry-run   # the budgeted protocol's plan\n"
               "  regclip-bench leaderboard ~/regclip-bench/store --out pages --reports\n"
               "\nCOMMAND --help tells more; README.md tells all.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("tasks", help="list the shipped tasks").set_defaults(func=cmd_tasks)

    train = commands.add_parser(
        "train", help="run one trial of a task and print its summary",
        description="Run one trial of TASK (a shipped task's name or a YAML file). --set takes width, depth, "
                    "optimizer, seed, device, hyperparameters, budget keys and dotted task fields.")
    train.add_argument("task", help="a shipped task's name (regclip-bench tasks) or a task YAML file")
    train.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                       help="a field of the trial: width, depth, optimizer, seed, a hyperparameter, … (repeatable)")
    train.add_argument("--out", metavar="FILE.parquet",
                       help="write the step metrics (one row per logged step) and the summary")
    train.add_argument("--quiet", action="store_true", help="no progress line")
    train.add_argument("--cuda-graph", action="store_true",
                       help="replay each training step from a CUDA graph, where the optimizer allows it "
                            "(same numbers, fewer kernel launches; needs a CUDA device)")
    train.set_defaults(func=cmd_train)

    sweep = commands.add_parser(
        "sweep", help="run a grid (or a budget) of trials of a task on Ray Tune (local by default)",
        description="Run trials of TASK on Ray Tune. The same name again runs only the trials not yet "
                    "finished; --resume continues an interrupted run from its checkpoints.")
    sweep.add_argument("task", help="a shipped task's name (regclip-bench tasks) or a task YAML file")
    sweep.add_argument("--grid", dest="grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="values to cross: width, depth, a hyperparameter, a budget key or a dotted task "
                            "field (repeatable)")
    sweep.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                       help="one value for every trial: the same keys as --grid (repeatable)")
    sweep.add_argument("--optimizers", metavar="A,B", help="default: those of the task's search space")
    sweep.add_argument("--seeds", type=_seed_count, help="seeds 0..N-1 (default: the task's)")
    sweep.add_argument("--mode", choices=("grid", "search"), default="grid",
                       help="grid: every combination; search: --samples trials per optimizer, "
                            "Optuna-sampled and ASHA-pruned")
    sweep.add_argument("--samples", type=_budget, default=16,
                       help="search mode: trials per optimizer (default 16)")
    sweep.add_argument("--budget", type=_budget, metavar="N",
                       help="budgeted tuning: N configurations per optimizer and workload, drawn from the "
                            "task's tuning ranges by a seeded scrambled Halton sequence (the same N for "
                            "every optimizer; a larger N later keeps the first N), each with every seed")
    sweep.add_argument("--sequence-seed", type=_sequence_seed, default=0, metavar="S",
                       help="--budget: the seed of the sequence (default 0)")
    sweep.add_argument("--no-held-out", action="store_true",
                       help="--budget: stop after the tuning seeds (a scan; the leaderboard then ranks the "
                            "workload on the seeds that chose its configurations)")
    _add_execution_options(sweep)
    sweep.add_argument("--no-aggregate", action="store_true", help="leave the results in the sweep folder")
    sweep.set_defaults(func=cmd_sweep)

    run = commands.add_parser(
        "run", help="the main job: quick sweep → results store → report → leaderboard",
        description="Run TASK's quick grid as a sweep, aggregate it, write its report and the leaderboard.")
    run.add_argument("task", help="a shipped task's name (regclip-bench tasks) or a task YAML file")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                     help="one value for every trial of the quick grid (repeatable)")
    run.add_argument("--out", default=DEFAULT_RESULTS, help="leaderboard and reports (default: %(default)s)")
    _add_execution_options(run)
    run.set_defaults(func=cmd_run, no_aggregate=False)   # the main job always aggregates

    aggregate = commands.add_parser(
        "aggregate", help="gather a sweep's trials (a folder, URI or name) into a results store",
        description="Gather the finished trials of SWEEP into STORE; aggregating again adds no rows.")
    aggregate.add_argument("sweep", help="a sweep folder or URI, or a sweep name under --storage")
    aggregate.add_argument("--into", dest="store", default=DEFAULT_STORE, metavar="STORE",
                           help="a results store: a folder or a URI (default: %(default)s)")
    aggregate.add_argument("--storage", default=DEFAULT_STORAGE, help="where sweep names are looked up")
    aggregate.set_defaults(func=cmd_aggregate)

    migrate = commands.add_parser(
        "migrate", help="write a store of schema version 1 again as version 2 (once; nothing else reads version 1)",
        description="Write STORE (schema version 1) as a new store of schema version 2 at --into: the columns "
                    "version 1 lacked are null, the trials' workload and configuration keys are computed from "
                    "their configurations. STORE is only read.")
    migrate.add_argument("store", metavar="STORE", help="a store of schema version 1: a folder or a URI")
    migrate.add_argument("--into", required=True, metavar="NEW_STORE", help="an empty or new folder, or a URI")
    migrate.set_defaults(func=cmd_migrate)

    query = commands.add_parser("query", help="summarise a results store per task and optimizer")
    query.add_argument("store", nargs="?", default=DEFAULT_STORE,
                       help="a results store: a folder or a URI (default: %(default)s)")
    query.add_argument("--task", help="only this task's trials")
    query.add_argument("--optimizer", help="only this optimizer's trials")
    query.add_argument("--status", choices=("completed", "no_progress", "diverged", "failed", "stopped"),
                       help="only trials that ended so")
    query.add_argument("--sweep", help="a sweep id")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table",
                       help="table (default: per workload, for reading), or csv / json (one row per task, workload "
                            "and optimizer, every column) on standard output")
    query.set_defaults(func=cmd_query)

    report = commands.add_parser(
        "report", help="figures and an HTML/Markdown report per task and workload (docs/protocol.md)")
    report.add_argument("store", nargs="?", default=DEFAULT_STORE,
                        help="a results store: a folder or a URI (default: %(default)s)")
    report.add_argument("--task", help="this task only (default: every task in the store)")
    report.add_argument("--out", required=True, metavar="DIR", help="a folder or a URI for the reports")
    report.set_defaults(func=cmd_report)

    board = commands.add_parser(
        "leaderboard", help="leaderboard.json, .md and index.html per workload × optimizer (docs/protocol.md)")
    board.add_argument("store", nargs="?", default=DEFAULT_STORE,
                       help="a results store: a folder or a URI (default: %(default)s)")
    board.add_argument("--out", required=True, metavar="DIR", help="a folder or a URI for the pages")
    board.add_argument("--reports", action="store_true", help="also write the per-task reports")
    board.add_argument("--add", metavar="FILE", help="first add an external results file (trials rows, "
                       "schema version 2) to the store, after checking it; a rejected file changes nothing")
    board.add_argument("--max-rows", type=_number(int, 0, inclusive=False, maximum=1_000_000), default=100_000,
                       help="--add: the most rows a file may have (default %(default)s)")
    board.set_defaults(func=cmd_leaderboard)

    submit = commands.add_parser(
        "submit", help="run a submitted optimizer (a folder: submission.yaml + its code) under the protocol",
        description="Tune and run the optimizer of SUBMISSION (a folder with submission.yaml; see "
                    "examples/submissions/) as the leaderboard's built-ins are: N configurations drawn from its "
                    "tuning ranges, every seed, on the headline workloads of each task; aggregated into the store "
                    "as trials the suite ran. Its code runs with your privileges (docs/security.md).")
    submit.add_argument("submission", metavar="SUBMISSION", help="a folder holding submission.yaml (and its code)")
    submit.add_argument("--tasks", metavar="A,B", help=f"default: {', '.join(CPU_TASKS)}")
    submit.add_argument("--budget", type=_budget, default=DEFAULT_BUDGET, metavar="N",
                        help="configurations per workload (default %(default)s, as the built-ins' protocol)")
    submit.add_argument("--seeds", type=_seed_count, help="seeds 0..N-1 (default: the task's)")
    submit.add_argument("--sequence-seed", type=_sequence_seed, default=0, metavar="S",
                        help="the sequence's seed (default 0)")
    submit.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="change every headline workload's field KEY (epochs, width, batch_size, a dotted "
                             "task key), e.g. --set epochs=10 for the VAE's published 10-epoch workload (the "
                             "sweep's name ends -epochs10); repeatable")
    submit.add_argument("--out", metavar="DIR", help="also write the leaderboard here when done")
    _add_execution_options(submit, submit=True)
    submit.set_defaults(func=cmd_submit)

    demo = commands.add_parser("demo", help="teacher_mlp at full batch with δ-GClip, GClip and SGD (~20 s)")
    demo.add_argument("--steps", type=_positive_int, default=300, help="default: %(default)s")
    demo.add_argument("--width", type=_positive_int, default=1024, help="default: %(default)s")
    demo.add_argument("--depth", type=_positive_int, default=2, help="default: %(default)s")
    demo.add_argument("--seed", type=_number(int, 0, inclusive=True), default=0, help="default: %(default)s")
    demo.add_argument("--log-every", type=_positive_int, default=50, help="default: %(default)s")
    demo.set_defaults(func=cmd_demo)
    return parser


def cmd_tasks(args: argparse.Namespace) -> int:
    """One row per shipped task, a header above, each line within the terminal's width (the description
    cut with '…'; `regclip-bench sweep TASK --dry-run` and the task file say the rest)."""
    import shutil
    from .spec import load_task, task_names
    rows = [("TASK", "MODEL", "DATA", "KIND", "BUDGET", "DESCRIPTION")]
    for name in task_names():
        task = load_task(name)
        budget = task.budget
        length = f"{budget.steps} steps" if budget.steps else f"{budget.epochs} epochs"
        rows.append((name, task.model.family, task.data.source, task.loss, length,
                     task.description.split(". ")[0].rstrip(".")))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    room = max(shutil.get_terminal_size((100, 24)).columns, 60)
    for row in rows:
        line = "  ".join(f"{cell:{w}s}" for cell, w in zip(row, widths)) + "  "
        rest = room - len(line)
        print(line + (row[5] if len(row[5]) <= rest else row[5][:max(rest - 1, 0)].rstrip() + "…"))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import parse_assignments, resolve_trial
    from .progress import ProgressLine, Reporter
    from .spec import load_task
    from .trial import run_trial
    from .trial_io import write_trial

    if args.out and not args.out.endswith(".parquet"):
        raise ConfigError(f"--out {args.out!r}: the file name must end in .parquet")
    config = resolve_trial(load_task(args.task), parse_assignments(args.assignments))
    if args.cuda_graph:
        from .config import pick_device
        device = pick_device(config.device)
        if device.type != "cuda":
            raise ConfigError(f"--cuda-graph: CUDA graphs need a CUDA device; this trial's is {device}")
        print(_capture_line([config.optimizer]))
    reporter = Reporter() if args.quiet else ProgressLine()
    try:
        result = run_trial(config, reporter, capture=args.cuda_graph)
    finally:
        reporter.close()
    print_summary(result)
    if args.out:
        print(f"wrote {write_trial(args.out, result)}")
    return 0 if result["status"] != "failed" else 1


def parse_grid(entries: list[str]) -> dict[str, list[Any]]:
    from .config import parse_value
    grid: dict[str, list[Any]] = {}
    for entry in entries:
        key, sep, values = entry.partition("=")
        items = [v for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not items:
            raise ConfigError(f"--grid {entry!r}: expected KEY=V1,V2,...")
        if key.strip() in grid:
            raise ConfigError(f"--grid {key.strip()}: given twice; put all its values in one --grid")
        grid[key.strip()] = [parse_value(v.strip()) for v in items]
    return grid


def _sweep_inputs(args: argparse.Namespace) -> tuple[dict[str, list[Any]], dict[str, Any], list[str] | None]:
    """--grid, --set and --optimizers, each key given once."""
    from .config import parse_assignments
    grid, fixed = parse_grid(args.grid), parse_assignments(args.assignments)
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ConfigError(f"{both[0]}: given by both --grid and --set; give it once")
    optimizers = None
    if args.optimizers is not None:
        optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
        if not optimizers:
            raise ConfigError(f"--optimizers {args.optimizers!r}: names no optimizer")
    return grid, fixed, optimizers


def cmd_sweep(args: argparse.Namespace) -> int:
    from .spec import load_task
    from .sweep.grid import describe_grid, plan_grid

    task = load_task(args.task)
    grid, fixed, optimizers = _sweep_inputs(args)
    name = args.name or task.name
    _local_token(args)
    if args.mode == "search":
        if args.pack not in (None, 1):
            raise ConfigError("--pack: search mode samples one trial at a time; leave out --pack")
        if args.budget is not None:
            raise ConfigError("--budget: budgeted tuning is its own mode; leave out --mode search")
        return _search(args, task, name, grid, fixed, optimizers or list(task.search_space.optimizers))
    if args.no_held_out and args.budget is None:
        raise ConfigError("--no-held-out: held-out seeds belong to budgeted tuning; give --budget N")
    if args.budget is not None:
        from .sweep.grid import describe_budget, plan_budget
        trials, plan = plan_budget(task, args.budget, grid, fixed, optimizers, args.seeds, args.sequence_seed)
        print(f"sweep {name}: {len(trials)} trials of {task.name}: {args.budget} configurations per optimizer "
              f"and workload ({plan['sequence']}, seed {args.sequence_seed}) × {plan['seeds']} seeds")
        print("\n".join(describe_budget(trials, plan, values=args.dry_run)))
        if not args.no_held_out:
            print(_held_out_line(task, trials))
    else:
        trials = plan_grid(task, grid, fixed, optimizers, args.seeds)
        plan = {"mode": "grid"}
        print(f"sweep {name}: {len(trials)} trials of {task.name}")
        print("\n".join(describe_grid(trials)))
    pack = _pack_size(args, task, trials)
    _check_capture(args, [t.config.optimizer for t in trials])
    if args.dry_run:
        return 0
    from .sweep.runner import run_protocol, run_sweep
    options = _sweep_options(args, name, pack)
    if args.budget is not None and not args.no_held_out:
        return _report(run_protocol(trials, options, task, plan), args, name)
    return _report(run_sweep(trials, options, task.model_dump(mode="json"), plan=plan), args, name)


def _held_out_line(task, trials) -> str:
    from .identity import trial_identity
    from .spec import report_seeds
    chosen = len({(t.config.optimizer, trial_identity(t.config)["workload_key"]) for t in trials})
    seeds = report_seeds(task)
    return (f"  then each optimizer's configuration chosen on these seeds, per workload, on {len(seeds)} held-out "
            f"seeds ({seeds[0]}–{seeds[-1]}): {chosen * len(seeds)} more trials")


def _local_token(args: argparse.Namespace) -> None:
    """A local Ray gets a token before anything imports Ray (see sweep/session.py)."""
    if not args.address:
        from .sweep.session import use_token
        use_token()


def _sweep_options(args: argparse.Namespace, name: str, pack: int):
    from .sweep.runner import SweepOptions
    return SweepOptions(name=name, storage=args.storage, address=args.address,
                        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                        max_concurrent=args.max_concurrent, resume=args.resume,
                        max_failures=args.max_failures, checkpoint_every_s=args.checkpoint_every,
                        pack=pack, trial_time_limit_s=args.trial_time_limit, cuda_graph=args.cuda_graph)


def _check_capture(args: argparse.Namespace, optimizers) -> None:
    """--cuda-graph on a sweep: refused without GPUs; else which optimizers it applies to, in one line."""
    if not args.cuda_graph:
        return
    if args.gpus_per_trial <= 0:
        raise ConfigError("--cuda-graph: CUDA graphs need GPUs; give --gpus-per-trial")
    print(_capture_line(optimizers))


def _capture_line(optimizers) -> str:
    from .optim.registry import lookup
    kept = sorted({name for name in optimizers if not lookup(name).capturable})
    return ("  CUDA graphs: each training step replayed from one"
            + (f", except {', '.join(kept)}'s (a host-side step count): run as they are" if kept else ""))


def _pack_size(args: argparse.Namespace, task, trials) -> int:
    """The one rule for how many trials share a pack: --pack, else the task's `pack`, else on GPUs the size
    packing.gpu_pack gives the plan's largest model (said in one line), else 1."""
    if args.pack is not None:
        return args.pack
    if task.pack > 1 or args.gpus_per_trial <= 0:
        return task.pack
    from .packing import gpu_pack
    k, largest = gpu_pack({id(t.config.task): t.config.task for t in trials}.values())   # a plan shares them
    if k > 1:
        print(f"  on GPUs: packs of up to {k} configurations (the largest model has {largest:,} parameters; "
              "--pack 1 runs each trial alone)")
    return k


def cmd_submit(args: argparse.Namespace) -> int:
    from .spec import load_task, task_names
    from .submit import load_submission, plan

    from .config import parse_assignments
    submission = load_submission(args.submission)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else list(CPU_TASKS)
    for task in tasks:
        if task not in task_names():
            raise ConfigError(f"--tasks: unknown task {task!r}; shipped tasks: {', '.join(task_names())}")
    changed = parse_assignments(args.assignments)
    plans = {task: plan(submission, task, args.budget, args.seeds, args.sequence_seed, changed) for task in tasks}
    suffix = [f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" for k, v in changed.items()]
    names = {task: check_name("--set", "-".join([f"submit-{submission.name}-{task}", *suffix])) for task in tasks}
    entry = submission.entry
    print(f"submit {submission.name} ({entry.display}, {entry.origin}, SHA-256 {entry.source_sha256[:12]}…): "
          f"{args.budget} configurations per headline workload, tuning "
          + ", ".join(f"{k}={v}" for k, v in next(iter(plans.values()))[1]["ranges"][submission.name].items()))
    print("  a plug-in optimizer runs unpacked (it has no packed kernel)"
          + ("; mode switch: train() / eval() around evaluation" if entry.mode_switch else ""))
    for task, (trials, described) in plans.items():
        label = task + (f"[{','.join(f'{k}={v}' for k, v in changed.items())}]" if changed else "")
        print(f"  {label:18s} {len(trials):4d} trials ({described['headline_workloads']} headline workload(s) × "
              f"{args.budget} × {described['seeds']} seeds)")
        print("  " + _held_out_line(load_task(task), trials))
    if args.dry_run:
        return 0
    _local_token(args)
    from .results import aggregate
    from .sweep.runner import run_protocol
    code = 0
    for task, (trials, described) in plans.items():
        name = names[task]
        outcome = run_protocol(trials, _sweep_options(args, name, pack=1), load_task(task), described)   # a plug-in has no packed kernel
        done = aggregate(outcome.sweep_dir, args.store)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.statuses.items()))
        print(f"  {task}: ran {outcome.ran} trials ({counts or 'none new'}), {outcome.errored} errored; "
              f"aggregated {done.trials} into {args.store}")
        for line in outcome.error_lines():
            print(f"  {line}")
        if outcome.interrupted:
            print(f"interrupted: continue with `{shlex.join(['regclip-bench', *args.argv, '--resume'])}`")
            return 130
        code = code or (1 if outcome.errored else 0)
    if args.out:
        from .report import leaderboard
        _write_pages(args.out, lambda folder: leaderboard.write(leaderboard.compute(args.store), folder))
    return code


def _search(args: argparse.Namespace, task, name: str, grid: dict[str, list[Any]], fixed: dict[str, Any],
            optimizers: list[str]) -> int:
    from .optim.registry import hyperparameter_names
    from .sweep.grid import check_taken, known_optimizers
    from .sweep.search import describe, search_space
    if args.resume:
        raise ConfigError("--resume: search mode samples afresh; run it again for more samples")
    names, known = hyperparameter_names(), known_optimizers(optimizers)
    check_taken(known, [k for k in grid if k in names], "--grid")
    check_taken(known, [k for k in fixed if k in names], "--set")
    spaces = {o: search_space(task, o, grid, fixed) for o in optimizers}
    print(f"sweep {name}: search, {args.samples} trials per optimizer ({args.samples * len(spaces)} "
          f"in all) of {task.name}, Optuna TPE + ASHA on {task.target.metric}")
    for optimizer, space in spaces.items():
        print(f"  {optimizer:24s} " + "  ".join(f"{k}={v}" for k, v in describe(space).items()))
    _check_capture(args, optimizers)
    if args.dry_run:
        return 0
    from .sweep.runner import run_search
    outcome = run_search(task, optimizers, args.samples, grid, fixed, _sweep_options(args, name, pack=1))
    return _report(outcome, args, name)


def _report(outcome, args: argparse.Namespace, name: str) -> int:
    if not args.no_aggregate and not outcome.interrupted:
        from .results import aggregate
        done = aggregate(outcome.sweep_dir, args.store)
        print(f"{'[2/4] ' if args.command == 'run' else ''}aggregated {done.trials} trials of sweep {done.sweep_id} "
              f"into {args.store}")
    if outcome.already_done:
        print(f"{outcome.already_done} of {outcome.planned} trials were already finished")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.statuses.items()))
    print(f"ran {outcome.ran} trials" + (f": {counts}" if counts else "") + f"; {outcome.errored} errored"
          + (f"; up to {outcome.most_at_once} at once" if outcome.most_at_once else ""))
    for line in outcome.error_lines():
        print(line)
    print(f"results: {outcome.sweep_dir}/trials")
    if outcome.interrupted:
        again = args.argv + ([] if "--resume" in args.argv else ["--resume"])
        print(f"interrupted: continue with `{shlex.join(['regclip-bench', *again])}`")
        return 130
    return 0 if outcome.errored == 0 else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .config import parse_assignments
    from .report import build_report, leaderboard
    from .spec import load_task
    from .sweep.grid import describe_grid, plan_quick
    from .sweep.runner import run_sweep

    task = load_task(args.task)
    trials = plan_quick(task, parse_assignments(args.assignments))
    name = args.name or task.name
    _local_token(args)
    print(f"[1/4] sweep {name}: {len(trials)} trials of {task.name}")
    print("\n".join(describe_grid(trials)))
    _check_capture(args, [t.config.optimizer for t in trials])
    if args.dry_run:
        return 0
    outcome = run_sweep(trials, _sweep_options(args, name, _pack_size(args, task, trials)), task.model_dump(mode="json"))
    code = _report(outcome, args, name)
    if code:
        return code
    print(f"[3/4] report of {task.name}")
    _write_pages(args.out, lambda folder: build_report(args.store, folder / "reports", task.name), "      ")
    print("[4/4] leaderboard")
    from .report.page import beside
    board, published = leaderboard.compute(args.store), leaderboard.published_board()
    rows = beside(board, published)
    if rows:
        print("      beside the published leaderboard (results/leaderboard.json):")
        for row in rows:
            print(f"        {row['workload']} {row['optimizer']}: yours {row['yours']} — published {row['published']}")
    _write_pages(args.out, lambda folder: leaderboard.write(board, folder, reports="reports", published=published),
                 "      ")
    return 0


def _write_pages(out: str, write, indent: str = "") -> None:
    """`write(folder)` writes pages into a local folder and returns them (storage.local_pages: `out`, or a
    temporary folder copied to `out` when it is a URI); then the files written, and the leaderboard page
    as a link to open where it is local."""
    from .storage import is_uri, local_pages
    with local_pages(out) as (folder, where):
        paths = write(folder)
    for path in paths:
        print(f"{indent}wrote {where(path)}")
    page = next((p for p in paths if p.name == "index.html"), None)
    if page is not None and not is_uri(out):
        print(f"{indent}open {page.resolve().as_uri()}")


def cmd_aggregate(args: argparse.Namespace) -> int:
    from .results import aggregate
    from .storage import is_uri, join
    sweep = args.sweep
    if not is_uri(sweep) and "/" not in sweep and not sweep.startswith("."):
        sweep = join(args.storage, sweep)
    done = aggregate(sweep, args.store)
    print(f"aggregated sweep {done.sweep_id} ({done.task}): {done.trials} trials, "
          + ", ".join(f"{n} {table} rows" for table, n in done.rows.items()) + f" → {args.store}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from .report.protocol import distinct_trials, overview
    from .results import load
    filters = {k: v for k, v in (("task", args.task), ("optimizer", args.optimizer),
                                 ("status", args.status), ("sweep_id", args.sweep)) if v}
    trials = load(args.store, "trials", filters)
    trials = distinct_trials(trials) if not trials.empty else trials   # a trial in two sweeps is one trial
    rows = overview(trials) if not trials.empty else None
    if args.format == "csv":
        print((rows if rows is not None else _no_rows()).to_csv(index=False), end="")
    elif args.format == "json":
        print((rows if rows is not None else _no_rows()).to_json(orient="records", indent=1))
    elif rows is None:
        print("no trials match")
    else:
        for (task, workload), group in rows.groupby(["task", "workload"], sort=False):
            first = group.iloc[0]
            best = "lowest" if first["direction"] == "min" else "highest"
            print(f"{workload}  (best: the configuration the protocol chooses on its tuning seeds — "
                  + ("fewest median steps to the target, then " if first["scored_by"] == "time_to_target" else "")
                  + f"{best} mean {first['metric']})")
            for row in group.itertuples():
                time = (f", median {row.median_time_reached:.0f} {row.time_unit}"
                        if row.median_time_reached is not None else "")
                chosen = "" if row.best_configuration is None else (
                    f"  best {row.metric} {row.best_metric:.4g}"
                    + (f" in {row.best_time:.0f} {row.time_unit}" if math.isfinite(row.best_time) else "")
                    + f" ({row.best_configuration})")
                print(f"  {row.optimizer:22s} {row.trials:4d} trials: {row.statuses}  reached {row.reached}/"
                      f"{row.trials}{time}{chosen}")
    return 0


def _no_rows():
    import pandas as pd
    return pd.DataFrame(columns=["task", "workload", "optimizer", "trials"])


def print_summary(result: dict[str, Any]) -> None:
    from .summary import PRINTED, fmt
    config = result["config"]
    print(f"\n{config['task']}: {config['optimizer']} "
          + " ".join(f"{k}={v}" for k, v in config.items() if k not in ("task", "optimizer") and v is not None))
    for key in PRINTED:
        value = result.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value) and key.startswith("frac")):
            continue
        print(f"  {key:20s} {fmt(value)}")
    if result.get("error"):
        print(f"  error                {result['error']}")


def check_outputs(args: argparse.Namespace) -> None:
    """Every place the command will write, checked before any work starts (storage.check_output)."""
    from .results.schema import TABLES as tables
    from .storage import check_output
    command = args.command
    if command == "train" and args.out:
        check_output("--out", os.path.dirname(os.path.abspath(os.path.expanduser(args.out))))
        check_path("--out", args.out)
    if command in ("sweep", "run", "submit"):
        check_output("--storage", args.storage)
        if not getattr(args, "no_aggregate", False):
            check_output("--store", args.store, tables)
    if command in ("run", "report", "leaderboard", "submit") and args.out:
        check_output("--out", args.out, ("reports",))
    if command == "aggregate":
        check_output("--into", args.store, tables)
    if command == "migrate":
        check_output("--into", args.into, tables)
    if command == "leaderboard" and args.add:
        check_output("store", args.store, tables)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .report import build_report, leaderboard
    if args.add:
        from .results.submission import add_submission
        print(f"added {add_submission(args.store, args.add, args.max_rows)} trials from {args.add}")

    def pages(folder):
        if args.reports:
            build_report(args.store, folder / "reports")
        return leaderboard.write(leaderboard.compute(args.store), folder, reports="reports" if args.reports else None)
    _write_pages(args.out, pages)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .results.migrate import migrate
    rows = migrate(args.store, args.into)
    print(f"migrated {args.store} (schema version 1) into {args.into} (version 2): "
          + ", ".join(f"{n} {table} rows" for table, n in rows.items()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report
    _write_pages(args.out, lambda folder: build_report(args.store, folder, args.task))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    run_demo(steps=args.steps, width=args.width, depth=args.depth, seed=args.seed, log_every=args.log_every)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # the command as typed (what a resume hint repeats) goes in before parsing; nothing changes args after
    args = build_parser().parse_args(argv, namespace=argparse.Namespace(argv=argv))
    try:
        check_outputs(args)
        return args.func(args)
    except ConfigError as exc:
        print(f"regclip-bench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # `regclip-bench tasks | head`: the reader has gone; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:   # a full or read-only disk, a folder taken away: the filesystem's words, one line
        from .storage import os_reason
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"regclip-bench: error: {where}{os_reason(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
