"""One trial: train one configuration of a task, measure what the theorem is about, summarise.

Runs on its own (`regclip-bench train`) and, unchanged, inside a Ray Tune trial: all
contact with the outside goes through the `Reporter`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from .config import TrialConfig, pick_device
from .data import Batches, TensorData, load_data
from .diagnostics import StepDiagnostics
from .identity import trial_identity
from .losses import LOSSES
from .models import build_model
from .optim import OPTIMIZERS, REGIME_NAMES, classify_regime, make_optimizer

NOT_REACHED = math.inf


class Reporter:
    """Receives a trial's rows as they are produced; the default ignores them."""

    def start(self, total_steps: int) -> None: ...

    def log(self, row: dict[str, Any]) -> None: ...

    def eval(self, row: dict[str, Any]) -> None: ...

    def checkpoint(self, step: int, state: Callable[[], dict[str, Any]]) -> None:
        """Called after each evaluation; `state()` builds what `run_trial(resume=...)` takes."""

    def close(self) -> None: ...


def run_trial(config: TrialConfig, reporter: Reporter | None = None,
              resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `config` and return its summary; the step and eval rows go to `reporter`
    and are also returned under "steps" and "evals".  `resume` is a state handed to
    `Reporter.checkpoint`: training continues after its step, exactly as it would have."""
    reporter = reporter or Reporter()
    task, budget = config.task, config.task.budget
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # batch order and augmentation

    data = load_data(task.data, device)
    batches = Batches(data.n_train, None if budget.batch_size == "full" else budget.batch_size,
                      generator, device)
    steps_per_epoch = batches.steps_per_epoch
    total_steps = budget.steps or budget.epochs * steps_per_epoch
    clips = OPTIMIZERS[config.optimizer].clips
    shortfall = memory_shortfall(task, data, config.optimizer, device)
    if shortfall is not None:  # out of memory is a result: say so before allocating it
        return _result(config, device, _summarise([], [], [0, 0, 0], clips, "failed", shortfall, math.nan),
                       steps_done=0, resumed_from_step=0, total_steps=total_steps, hit=None,
                       param_count=parameter_count(task, data), seconds=(0.0, 0.0), steps=[], evals=[])
    model = build_model(task.model, data.input_shape, data.num_outputs).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(config.optimizer, params, **config.hparams)
    milestones = [m * steps_per_epoch if budget.epochs else m for m in budget.lr_milestones]
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=budget.lr_decay)
    loss_fn = LOSSES[task.loss]
    target = task.target
    train_target = target.value if target.metric == "train_loss" and target.direction == "min" else None
    diag = StepDiagnostics(device, train_target, config.hparams.get("delta", 0.0) if clips else None)
    w0 = [p.detach().clone() for p in params]

    steps, evals = [], []
    step_times: list[float] = []      # training seconds (evaluation excluded) after each step
    regime_totals = [0, 0, 0]
    eval_hit: tuple[int, float] | None = None
    status, error = "completed", None
    eval_seconds, start = 0.0, time.perf_counter()
    first_step = 1
    reporter.start(total_steps)
    if resume is None:  # the metrics at w₀: what "no progress" and capped scores compare with
        evals.append({"step": 0, "epoch": 0.0, **evaluate(model, data, task.loss, device)})
        reporter.eval(evals[0])
        eval_seconds = time.perf_counter() - start
    else:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        generator.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        if resume["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        batches.load_state_dict(resume["batches"])
        diag.load_state_dict(resume["diag"])
        for p, p0 in zip(w0, resume["w0"]):
            p.copy_(p0)
        steps, evals, step_times = resume["steps"], resume["evals"], resume["step_times"]
        regime_totals, eval_hit = resume["regime_totals"], resume["eval_hit"]
        first_step = resume["step"] + 1
        start -= step_times[-1] if step_times else 0.0  # the clock goes on from the checkpoint
    w0_norm = _norm(w0).item()  # once per trial: the scale of ‖w − w₀‖
    interval_start, interval_first_step = time.perf_counter(), first_step

    def state() -> dict[str, Any]:
        return {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "batches": batches.state_dict(), "diag": diag.state_dict(), "w0": w0,
                "steps": steps, "evals": evals, "step_times": step_times,
                "regime_totals": regime_totals, "eval_hit": eval_hit}

    step = first_step - 1
    try:
        for step in range(first_step, total_steps + 1):
            index = batches.next()
            x = data.train_x if index is None else data.train_x[index]
            y = data.train_y if index is None else data.train_y[index]
            x = data.inputs(x, generator)
            model.train()
            loss = loss_fn(model(x), x if task.loss == "vae_elbo" else y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            diag.update(loss, opt.last_clip_factor if clips else None)
            step_times.append(time.perf_counter() - start - eval_seconds)

            if step % budget.log_every == 0 or step in (1, total_steps):
                row = _log_row(step, diag, opt, params, w0, w0_norm, clips, len(x),
                               step - interval_first_step + 1, time.perf_counter() - interval_start)
                for i, name in enumerate(REGIME_NAMES):
                    regime_totals[i] += row[f"n_{name}"]
                steps.append(row)
                reporter.log(row)
                interval_start, interval_first_step = time.perf_counter(), step + 1
                if row["nonfinite"] or row["nonfinite_steps"] > 0:
                    status = "diverged"
                    break

            if step % budget.eval_every == 0 or step == total_steps:
                eval_start = time.perf_counter()
                row = {"step": step, "epoch": step / steps_per_epoch,
                       **evaluate(model, data, task.loss, device)}
                eval_seconds += time.perf_counter() - eval_start
                evals.append(row)
                reporter.eval(row)
                if eval_hit is None and target.metric in row and target.reached(row[target.metric]):
                    eval_hit = (step, step_times[-1])
            scheduler.step()  # after logging, so that a row's lr is the η its step used
            if step % budget.eval_every == 0 and step < total_steps:
                reporter.checkpoint(step, state)
    except (torch.OutOfMemoryError, RuntimeError) as exc:  # out of memory: a result; anything else is a bug
        if not is_out_of_memory(exc):
            raise
        status, error = "failed", f"out of memory: {str(exc).splitlines()[0]}"

    if target.metric == "train_loss":
        hit_step = steps[-1]["first_hit"] if steps else -1
        if target.direction == "max":  # not tracked per step; judged on logged losses
            hit_step = next((r["step"] for r in steps if r["loss"] >= target.value), -1)
        hit = (hit_step, step_times[hit_step - 1]) if hit_step > 0 else None
    else:
        hit = eval_hit
    return _result(config, device, _summarise(steps, evals, regime_totals, clips, status, error, w0_norm),
                   steps_done=step if status != "failed" else max(step - 1, 0),
                   resumed_from_step=first_step - 1, total_steps=total_steps, hit=hit,
                   param_count=sum(p.numel() for p in params),
                   seconds=(time.perf_counter() - start, step_times[-1] if step_times else 0.0),
                   steps=steps, evals=evals)


def _result(config: TrialConfig, device: torch.device, summary: dict[str, Any], *, steps_done: int,
            resumed_from_step: int, total_steps: int, hit: tuple[int, float] | None, param_count: int,
            seconds: tuple[float, float], steps: list[dict], evals: list[dict]) -> dict[str, Any]:
    return {
        **summary,
        "steps_done": steps_done,
        "resumed_from_step": resumed_from_step,
        "total_steps": total_steps,
        "steps_to_target": hit[0] if hit else NOT_REACHED,
        "seconds_to_target": hit[1] if hit else NOT_REACHED,
        "param_count": param_count,
        "wall_time_s": seconds[0],
        "train_time_s": seconds[1],
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "config": config.flat(),
        **trial_identity(config),
        "steps": steps,
        "evals": evals,
    }


# Optimizer state per parameter, in copies of the weights (momentum: 1; Adam: 2).
_STATE_COPIES = {"sgd_momentum": 1, "adam": 2, "adamw": 2, "clip_sgd": 1}


def parameter_count(task, data: TensorData) -> int:
    """The model's parameter count, built on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = build_model(task.model, data.input_shape, data.num_outputs)
    return sum(p.numel() for p in model.parameters())


def memory_shortfall(task, data: TensorData, optimizer: str, device: torch.device) -> str | None:
    """Why the model cannot fit in the device's free memory, or None when it can: weights,
    gradients, w₀ and the optimizer's state, in float32."""
    params = parameter_count(task, data)
    needed = params * 4 * (3 + _STATE_COPIES.get(optimizer, 0))
    free = _free_memory(device)
    if free is None or needed <= free:
        return None
    return (f"out of memory: the model has {params:,} parameters, about {needed / 2**30:.1f} GiB with its "
            f"gradients and optimizer state; {free / 2**30:.1f} GiB are free on {device}")


def _free_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA out-of-memory error, or the CPU allocator's refusal (a RuntimeError in torch)."""
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc)


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


def _log_row(step: int, diag: StepDiagnostics, opt: torch.optim.Optimizer, params: list,
             w0: list, w0_norm: float, clips: bool, batch: int, interval_steps: int,
             seconds: float) -> dict[str, Any]:
    grad_norm = getattr(opt, "last_grad_norm", None)
    if grad_norm is None:  # SGD, Adam: the gradients are still there after the step
        grad_norm = _norm([p.grad for p in params if p.grad is not None])
    dist = _norm(torch._foreach_sub([p.detach() for p in params], w0))
    nonfinite_steps = getattr(opt, "nonfinite_steps", None)
    extra = {"grad_norm": grad_norm, "dist_from_init": dist,
             "nonfinite_steps": torch.zeros(()) if nonfinite_steps is None else nonfinite_steps}
    if clips:
        extra["clip_factor"] = opt.last_clip_factor
        extra["step_size"] = opt.last_step_size
        extra["regime_code"] = classify_regime(opt.last_clip_factor, diag.delta)
    row = {"step": step, **diag.read(interval_steps, extra)}
    row["lr"] = opt.param_groups[0]["lr"]
    row["pl_ratio"] = row["grad_norm"] ** 2 / row["loss"] if row["loss"] > 0 else math.nan
    row["rel_dist_from_init"] = row["dist_from_init"] / w0_norm if w0_norm > 0 else math.nan
    row["examples_per_s"] = interval_steps * batch / seconds if seconds > 0 else math.nan
    if clips:
        # Classified on the device: δ as a float32 is not the Python float δ.
        row["regime"] = REGIME_NAMES[int(row.pop("regime_code"))]
        for name in REGIME_NAMES:
            row[f"frac_{name}"] = row[f"n_{name}"] / interval_steps
    else:
        row["regime"] = None
    row["nonfinite_steps"] = int(row["nonfinite_steps"])
    return row


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: TensorData, loss: str, device: torch.device,
             chunk: int = 1024) -> dict[str, float]:
    """Test loss (per example for the VAE), accuracy for classification, ELBO for the VAE."""
    model.eval()
    loss_fn = LOSSES[loss]
    total_loss, correct, n = 0.0, 0, len(data.test_x)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        sums = []
        hits = []
        for i in range(0, n, chunk):
            x = data.inputs(data.test_x[i:i + chunk])
            y = data.test_y[i:i + chunk]
            out = model(x)
            batch_loss = loss_fn(out, x if loss == "vae_elbo" else y)
            sums.append(batch_loss if loss == "vae_elbo" else batch_loss * len(x))
            if data.num_classes is not None and loss != "vae_elbo":
                hits.append((out.argmax(1) == y).sum())
        total_loss = torch.stack(sums).sum().item()
        correct = torch.stack(hits).sum().item() if hits else None
    metrics = {"test_loss": total_loss / n}
    if correct is not None:
        metrics["test_accuracy"] = correct / n
    if loss == "vae_elbo":
        metrics["test_elbo"] = -total_loss / n
    return metrics


def _summarise(steps: list[dict], evals: list[dict], regime_totals: list[int], clips: bool,
               status: str, error: str | None, w0_norm: float) -> dict[str, Any]:
    losses = [r["loss"] for r in steps]
    finite = [(r["step"], math.log(r["loss"])) for r in steps
              if math.isfinite(r["loss"]) and r["loss"] > 0]
    second_half = [(x, y) for x, y in finite if steps and x >= steps[-1]["step"] / 2]
    pl = [r["pl_ratio"] for r in steps if math.isfinite(r["pl_ratio"])]
    dist = [r["dist_from_init"] for r in steps if math.isfinite(r["dist_from_init"])]
    counted = sum(regime_totals)
    initial_loss = losses[0] if losses else math.nan
    final_loss = losses[-1] if losses else math.nan
    if status == "completed" and math.isfinite(final_loss) and final_loss >= initial_loss:
        status = "no_progress"   # finished, but the training loss ended no lower than it began
    slope, r2 = _fit(finite)
    slope_late, r2_late = _fit(second_half)
    summary: dict[str, Any] = {
        "status": status,
        "error": error,
        "initial_loss": initial_loss,
        "final_loss": final_loss,
        "best_loss": steps[-1]["best_loss"] if steps else math.nan,
        "loss_log_slope": slope,
        "loss_rate": math.exp(slope) if math.isfinite(slope) else math.nan,
        "loss_rate_r2": r2,
        "loss_rate_second_half": math.exp(slope_late) if math.isfinite(slope_late) else math.nan,
        "loss_rate_second_half_r2": r2_late,
        "min_pl_ratio": min(pl) if pl else math.nan,
        "final_pl_ratio": steps[-1]["pl_ratio"] if steps else math.nan,
        "w0_norm": w0_norm,
        "max_dist_from_init": max(dist) if dist else math.nan,
        "max_rel_dist_from_init": max(dist) / w0_norm if dist and w0_norm > 0 else math.nan,
        "final_rel_dist_from_init": steps[-1]["rel_dist_from_init"] if steps else math.nan,
    }
    for name, count in zip(REGIME_NAMES, regime_totals):
        summary[f"frac_{name}"] = count / counted if clips and counted else math.nan
    for row, prefix in ((evals[0] if evals and evals[0]["step"] == 0 else {}, "initial"),
                        (evals[-1] if evals and evals[-1]["step"] > 0 else {}, "final")):
        for key, value in row.items():
            if key not in ("step", "epoch"):
                summary[f"{prefix}_{key}"] = value
    return summary


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope of log L against the step (the geometric rate is exp(slope)) and
    the fit's R²: 1 for an exactly geometric decay, near 0 when a line explains nothing."""
    if len(points) < 2:
        return math.nan, math.nan
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    var_y = sum((y - mean_y) ** 2 for _, y in points)
    if not var_x:
        return math.nan, math.nan
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return cov / var_x, (cov * cov / (var_x * var_y) if var_y else 1.0)
