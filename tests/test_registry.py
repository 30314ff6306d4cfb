import pytest
import torch

from regclip_bench.optim import OPTIMIZERS, ClipSGD, DeltaGClip, GClip, make_optimizer

EXPECTED_NAMES = {"delta_gclip", "gclip", "delta_gclip_per_tensor", "sgd", "sgd_momentum",
                  "adam", "adamw", "clip_sgd"}


def test_registry_has_every_optimizer():
    assert set(OPTIMIZERS) == EXPECTED_NAMES


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_each_optimizer_builds_and_steps(name):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    required = {k: v for k, v in dict(lr=0.05, gamma=1.0, delta=0.1).items()
                if k in OPTIMIZERS[name].required}
    opt = make_optimizer(name, model.parameters(), **required)
    assert isinstance(opt, torch.optim.Optimizer)
    before = model.weight.detach().clone()
    model(torch.randn(8, 3)).pow(2).mean().backward()
    opt.step()
    assert not torch.equal(before, model.weight.detach())


def test_registry_builds_the_right_classes_and_settings():
    params = [torch.nn.Parameter(torch.zeros(1))]
    assert type(make_optimizer("gclip", params, lr=1, gamma=1)) is GClip
    per_tensor = make_optimizer("delta_gclip_per_tensor", params, lr=1, gamma=1, delta=0.1)
    assert type(per_tensor) is DeltaGClip and per_tensor.param_groups[0]["per_tensor"] is True
    assert make_optimizer("sgd_momentum", params, lr=1).param_groups[0]["momentum"] == 0.9
    assert make_optimizer("sgd", params, lr=1).param_groups[0]["momentum"] == 0
    assert make_optimizer("adamw", params, lr=1, weight_decay=0.5).param_groups[0]["weight_decay"] == 0.5
    assert type(make_optimizer("clip_sgd", params, lr=1, gamma=2)) is ClipSGD


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown optimizer 'lion'; choose from: delta_gclip, gclip"):
        make_optimizer("lion", [torch.nn.Parameter(torch.zeros(1))], lr=1)


def test_argument_the_optimizer_does_not_take_lists_what_it_accepts():
    with pytest.raises(ValueError, match=r"'adam' does not take delta, gamma; it accepts: lr, betas, eps"):
        make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr=1, gamma=1, delta=0.1)


def test_missing_argument_is_named():
    with pytest.raises(ValueError, match=r"'delta_gclip' needs delta; it accepts: lr, gamma, delta"):
        make_optimizer("delta_gclip", [torch.nn.Parameter(torch.zeros(1))], lr=1, gamma=1)


def test_clip_sgd_matches_gclip_up_to_its_epsilon():
    grads = torch.tensor([30.0, 40.0], dtype=torch.float64)
    a = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    a.grad, b.grad = grads.clone(), grads.clone()
    clip = make_optimizer("clip_sgd", [a], lr=0.1, gamma=1.0)
    clip.step()
    make_optimizer("gclip", [b], lr=0.1, gamma=1.0).step()
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(clip.last_grad_norm, torch.tensor(50.0, dtype=torch.float64))


def test_clip_sgd_rejects_bad_gamma():
    with pytest.raises(ValueError, match="invalid gamma=0"):
        ClipSGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, gamma=0)
