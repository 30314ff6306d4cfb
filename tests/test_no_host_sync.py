"""step() must never wait for the device: no .item(), float(), or Python branching on tensors."""

import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from regclip_bench.optim import OPTIMIZERS, classify_regime, make_optimizer

SYNCING_OPS = {"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero"}


class OpRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func._schema.name)
        return func(*args, **(kwargs or {}))


def model_with_grads(device, dtype=torch.float32):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    model = model.to(device, dtype)
    model(torch.randn(4, 8, device=device, dtype=dtype)).pow(2).sum().mul(100).backward()
    model[2].bias.grad = None  # a parameter without a gradient is part of the contract too
    return model


def hparams(name):
    return {k: v for k, v in dict(lr=0.1, gamma=0.5, delta=1e-3, weight_decay=0.01).items()
            if k in OPTIMIZERS[name].accepts}


def test_recorder_detects_a_host_sync():
    x = torch.ones(3)
    with OpRecorder() as rec:
        float(x.norm())
    assert SYNCING_OPS & set(rec.ops)


@pytest.mark.parametrize("name", ["delta_gclip", "gclip", "delta_gclip_per_tensor"])
def test_step_makes_no_host_sync(name):
    model = model_with_grads("cpu")
    opt = make_optimizer(name, model.parameters(), **hparams(name))
    opt.step()  # the first step creates the counters
    with OpRecorder() as rec:
        for _ in range(3):
            opt.step()
        classify_regime(opt.last_clip_factor, 1e-3)
        opt.last_step_size
    assert rec.ops, "the recorder saw nothing"
    assert "aten::_foreach_norm" in rec.ops
    assert not SYNCING_OPS & set(rec.ops), sorted(SYNCING_OPS & set(rec.ops))


def test_step_with_mixed_dtypes_and_groups_makes_no_host_sync():
    model = model_with_grads("cpu")
    extra = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    extra.grad = torch.ones(3, dtype=torch.float64)
    opt = make_optimizer("delta_gclip", [{"params": model.parameters()},
                                         {"params": [extra], "gamma": 2.0}], **hparams("delta_gclip"))
    with OpRecorder() as rec:
        opt.step()
        opt.step()
    assert not SYNCING_OPS & set(rec.ops)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["delta_gclip", "gclip", "delta_gclip_per_tensor"])
def test_cuda_step_makes_no_sync(name):
    model = model_with_grads("cuda")
    opt = make_optimizer(name, model.parameters(), **hparams(name))
    opt.step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            opt.step()
        classify_regime(opt.last_clip_factor, 1e-3)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert opt.nonfinite_steps.device.type == "cuda"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("task_name", ["teacher_mlp", "digits_mlp", "lsq_student_t", "char_transformer"])
def test_a_cuda_training_step_of_each_cpu_task_makes_no_sync(task_name):
    """The loop body of run_trial (batch, loss, backward, δ-GClip step, device-side diagnostics),
    steps 2–4 under torch's sync debug mode: the host never waits between logged steps."""
    from regclip_bench.config import resolve_trial
    from regclip_bench.data import load_data
    from regclip_bench.diagnostics import StepDiagnostics
    from regclip_bench.kinds import KINDS
    from regclip_bench.models import build_model
    from regclip_bench.spec import load_task

    config = resolve_trial(load_task(task_name), {"optimizer": "delta_gclip", "device": "cuda"})
    task, device = config.task, torch.device("cuda")
    generator = torch.Generator().manual_seed(0)
    data = load_data(task.data, device)
    batches = data.batcher(None if task.budget.batch_size == "full" else task.budget.batch_size, generator, device)
    model = build_model(task.model, data.input_shape, data.num_outputs).to(device)
    opt = make_optimizer("delta_gclip", model.parameters(), **config.hparams)
    diag, kind = StepDiagnostics(device, None), KINDS[task.loss]

    def step():
        x, y = data.batch(batches.next(), generator)
        loss = kind.loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        diag.update(loss, opt.diagnostics(full=False))

    step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert diag.step.device.type == "cuda"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("optimizer", ["delta_gclip", "sgd", "adam"])
def test_a_cuda_pack_waits_for_the_device_only_when_it_logs_or_evaluates(optimizer):
    """run_pack reads its logged rows and evaluations from the device; between them it queues work
    and never waits: twice the steps with the same logs and evaluations makes no more syncs."""
    from regclip_bench.config import resolve_trial
    from regclip_bench.packed import run_pack
    from regclip_bench.spec import load_task

    def syncs(steps: int) -> int:
        members = [resolve_trial(load_task("teacher_mlp"), dict(
            optimizer=optimizer, device="cuda", width=32, depth=2, seed=seed, steps=steps, log_every=steps,
            eval_every=steps)) for seed in range(4)]
        run_pack(members)   # CUDA's and torch.func's first-use work
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run_pack(members)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchronizing" in str(w.message) for w in caught)

    assert syncs(60) == syncs(30)
