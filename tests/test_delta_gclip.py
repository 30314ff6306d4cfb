"""DeltaGClip against the formula h = lr·min(1, max(delta, gamma/‖g‖)), in float64."""

import copy
import pickle

import pytest
import torch

from regclip_bench.optim import (CLIPPED, FLOOR, UNCLIPPED, DeltaGClip, GClip, classify_regime)

LR, GAMMA, DELTA = 0.1, 1.0, 0.1


def param(values, grad):
    p = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = None if grad is None else torch.tensor(grad, dtype=torch.float64)
    return p


def close(actual, expected):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype),
                               rtol=1e-15, atol=1e-300)


@pytest.mark.parametrize("grad, factor, regime", [
    ([0.3, 0.4], 1.0, UNCLIPPED),             # ‖g‖ = 0.5 < γ
    ([3.0, 4.0], GAMMA / 5.0, CLIPPED),        # γ < ‖g‖ = 5 < γ/δ
    ([30.0, 40.0], DELTA, FLOOR),              # ‖g‖ = 50 > γ/δ
])
def test_update_matches_formula_in_each_regime(grad, factor, regime):
    w0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    p = param(w0.tolist(), grad)
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA)
    opt.step()
    g = torch.tensor(grad, dtype=torch.float64)
    close(p.detach(), w0 - LR * factor * g)
    close(opt.last_grad_norm, g.norm())
    close(opt.last_clip_factor, factor)
    close(opt.last_step_size, LR * factor)
    assert classify_regime(opt.last_clip_factor, DELTA).item() == regime
    assert opt.nonfinite_steps.item() == 0


def test_norm_is_global_across_param_groups():
    a, b = param([0.0], [3.0]), param([0.0], [4.0])   # per-group norms 3 and 4, global 5
    opt = DeltaGClip([{"params": [a]}, {"params": [b], "lr": 0.2, "gamma": 2.0}],
                     lr=LR, gamma=GAMMA, delta=0.0)
    opt.step()
    close(opt.last_grad_norm, 5.0)
    close(a.detach(), [-LR * (GAMMA / 5.0) * 3.0])
    close(b.detach(), [-0.2 * (2.0 / 5.0) * 4.0])
    close(opt.group_clip_factors[1], 2.0 / 5.0)
    close(opt.group_step_sizes[1], 0.2 * 2.0 / 5.0)


def test_norm_is_global_across_dtypes():
    a = torch.nn.Parameter(torch.zeros(1, dtype=torch.float32))
    a.grad = torch.tensor([3.0])
    b = param([0.0], [4.0])
    opt = DeltaGClip([a, b], lr=LR, gamma=GAMMA, delta=0.0)
    opt.step()
    assert opt.last_grad_norm.dtype == torch.float64
    close(opt.last_grad_norm, 5.0)
    torch.testing.assert_close(a.detach(), torch.tensor([-LR * 3.0 / 5.0]))
    close(b.detach(), [-LR * 4.0 / 5.0])


def test_none_gradients_are_skipped_and_left_out_of_the_norm():
    a, frozen = param([1.0], [0.5]), param([7.0], None)
    opt = DeltaGClip([a, frozen], lr=LR, gamma=GAMMA, delta=DELTA)
    opt.step()
    close(opt.last_grad_norm, 0.5)
    close(frozen.detach(), [7.0])
    close(a.detach(), [1.0 - LR * 0.5])


def test_step_without_any_gradient_does_nothing():
    p = param([1.0], None)
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA)
    assert opt.step() is None
    close(p.detach(), [1.0])
    assert opt.last_grad_norm is None and opt.nonfinite_steps is None


def test_zero_gradient_makes_no_update_and_no_nan():
    p = param([1.0, 2.0], [0.0, 0.0])
    opt = GClip([p], lr=LR, gamma=GAMMA)
    opt.step()
    close(p.detach(), [1.0, 2.0])
    close(opt.last_clip_factor, 1.0)
    assert opt.nonfinite_steps.item() == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_gradient_is_counted(bad):
    p = param([1.0, 2.0], [bad, 1.0])
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA)
    opt.step()
    opt.step()
    assert opt.nonfinite_steps.item() == 2
    assert not torch.isfinite(opt.last_grad_norm)
    # As documented: the step is applied as computed, so the weight is no longer finite.
    assert not torch.isfinite(p.detach()[0])
    p.grad = torch.tensor([1.0, 1.0], dtype=torch.float64)
    opt.step()
    assert opt.nonfinite_steps.item() == 2


def test_per_tensor_variant_uses_each_tensors_norm():
    a, b = param([0.0, 0.0], [3.0, 4.0]), param([0.0], [0.5])
    opt = DeltaGClip([a, b], lr=LR, gamma=GAMMA, delta=DELTA, per_tensor=True)
    opt.step()
    close(a.detach(), [-LR * 0.2 * 3.0, -LR * 0.2 * 4.0])   # ‖a‖ = 5: clipped to γ/5
    close(b.detach(), [-LR * 0.5])                         # ‖b‖ = 0.5: unclipped
    close(opt.last_grad_norm, (25.0 + 0.25) ** 0.5)         # still the global norm
    close(opt.last_clip_factor, 0.2)                       # the most-clipped tensor


def test_decoupled_weight_decay_stays_out_of_the_norm():
    w0 = [2.0, -1.0]
    p = param(w0, [3.0, 4.0])
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA, weight_decay=0.5)
    opt.step()
    close(opt.last_grad_norm, 5.0)
    expected = [w - LR * 0.5 * w - LR * (GAMMA / 5.0) * g for w, g in zip(w0, [3.0, 4.0])]
    close(p.detach(), expected)


def test_lr_scheduler_scales_eta():
    p = param([0.0], [0.5])
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    sched.step()
    opt.step()
    close(opt.last_step_size, LR * 0.5)
    close(p.detach(), [-LR * 0.5 - LR * 0.5 * 0.5])


def test_closure_is_evaluated_with_grad_and_its_loss_returned():
    p = param([3.0], None)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum() / 2   # grad = p = 3 > γ
        loss.backward()
        return loss

    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA)
    loss = opt.step(closure)
    close(loss.detach(), 4.5)
    close(p.detach(), [3.0 - LR * (GAMMA / 3.0) * 3.0])


def test_state_dict_round_trip():
    a, b = param([1.0], [float("nan")]), param([2.0], [1.0])
    opt = DeltaGClip([{"params": [a]}, {"params": [b], "gamma": 0.3, "delta": 0.2}],
                     lr=LR, gamma=GAMMA, delta=DELTA, weight_decay=0.01)
    opt.step()
    saved = copy.deepcopy(opt.state_dict())

    c, d = param([1.0], [1.0]), param([2.0], [1.0])
    fresh = DeltaGClip([{"params": [c]}, {"params": [d]}], lr=1.0, gamma=5.0, delta=0.5)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[1]["gamma"] == 0.3 and fresh.param_groups[1]["delta"] == 0.2
    assert fresh.param_groups[0]["weight_decay"] == 0.01
    assert fresh.nonfinite_steps.item() == 1
    fresh.step()
    reference = DeltaGClip([{"params": [param([1.0], [1.0])]},
                            {"params": [param([2.0], [1.0])], "gamma": 0.3, "delta": 0.2}],
                           lr=LR, gamma=GAMMA, delta=DELTA, weight_decay=0.01)
    reference.step()
    for got, want in zip((c, d), (p for g in reference.param_groups for p in g["params"])):
        close(got.detach(), want.detach())


def test_copy_and_pickle_keep_hyperparameters_and_count():
    p = param([1.0], [float("inf")])
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA, per_tensor=True)
    opt.step()
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert clone.param_groups[0]["per_tensor"] is True
        assert clone.nonfinite_steps.item() == 1


def test_gclip_is_delta_gclip_with_zero_delta():
    grad = [300.0, 400.0]
    p, q = param([0.0, 0.0], grad), param([0.0, 0.0], grad)
    GClip([p], lr=LR, gamma=GAMMA).step()
    DeltaGClip([q], lr=LR, gamma=GAMMA, delta=0.0).step()
    close(p.detach(), q.detach())
    close(p.detach(), [-LR * GAMMA / 500.0 * 300.0, -LR * GAMMA / 500.0 * 400.0])


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"),
    (dict(gamma=0.0), "gamma"), (dict(gamma=float("inf")), "gamma"),
    (dict(delta=-0.1), "delta"), (dict(delta=1.5), "delta"), (dict(delta=True), "delta"),
    (dict(weight_decay=-1e-4), "weight_decay"), (dict(lr="0.1"), "lr"),
    (dict(per_tensor=1), "per_tensor"),
])
def test_invalid_hyperparameters_name_the_argument_and_value(kwargs, name):
    args = dict(lr=LR, gamma=GAMMA, delta=DELTA) | kwargs
    with pytest.raises(ValueError, match=rf"invalid {name}={kwargs[name]!r}"):
        DeltaGClip([param([1.0], None)], **args)


def test_invalid_param_group_override_is_rejected():
    with pytest.raises(ValueError, match="invalid gamma=-2"):
        DeltaGClip([{"params": [param([1.0], None)], "gamma": -2}], lr=LR, gamma=GAMMA, delta=DELTA)


def test_boundary_values_are_accepted():
    DeltaGClip([param([1.0], None)], lr=LR, gamma=GAMMA, delta=0.0)
    p = param([0.0], [10.0])
    opt = DeltaGClip([p], lr=LR, gamma=GAMMA, delta=1.0)   # δ = 1: plain gradient descent
    opt.step()
    close(p.detach(), [-LR * 10.0])
    assert classify_regime(opt.last_clip_factor, 1.0).item() == UNCLIPPED


def test_sparse_gradients_are_refused():
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        DeltaGClip([p], lr=LR, gamma=GAMMA, delta=DELTA).step()


def test_trains_a_model_end_to_end():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    opt = DeltaGClip(model.parameters(), lr=0.5, gamma=0.5, delta=1e-3)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
