"""The optimizer contract: every entry of the registry holds everything about its optimizer."""

import re

import pytest
import torch

from regclip_bench.config import resolve_trial
from regclip_bench.errors import ConfigError
from regclip_bench.identity import trial_key
from regclip_bench.optim import OPTIMIZERS, ClipSGD, DeltaGClip, GClip, make_optimizer
from regclip_bench.optim.base import Hyperparameter, OptimizerEntry
from regclip_bench.optim.plugins import state_copies
from regclip_bench.report import colors
from regclip_bench.results.schema import CONFIG_COLUMNS
from regclip_bench.spec import load_task

REQUIRED_VALUES = dict(lr=0.05, gamma=1.0, delta=0.1)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_entry_builds_steps_and_declares_its_state_and_colour(name):
    entry = OPTIMIZERS[name]
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    hparams = entry.resolve({k: v for k, v in REQUIRED_VALUES.items() if k in entry.required})
    opt = entry.build(model.parameters(), **hparams)
    assert isinstance(opt, torch.optim.Optimizer)
    before = model.weight.detach().clone()
    model(torch.randn(8, 3)).pow(2).mean().backward()
    opt.step()
    assert not torch.equal(before, model.weight.detach())
    # the memory estimate's state copies are what a step really keeps (momentum: 1; Adam: 2)
    assert entry.state_copies == max(state_copies(entry, hparams), 1 if name == "clip_sgd" else 0)
    assert re.fullmatch(r"#[0-9A-F]{6}", entry.color) and entry.display


def test_every_entry_has_its_own_colour_in_legend_order():
    assert list(colors.OPTIMIZER_COLORS) == list(OPTIMIZERS)
    assert len(set(colors.OPTIMIZER_COLORS.values())) == len(OPTIMIZERS)


def test_the_palette_extends_past_the_built_ins_colour_blind_safe_first(monkeypatch):
    monkeypatch.setattr(colors, "_others", set())   # a store with these twelve other names
    others = [f"plugin_{i:02d}" for i in range(12)]
    colors.use(others)
    shown = [colors.of(n) for n in others]
    assert shown[:9] == list(colors.EXTENSION) and set(shown[9:]) == {colors.OTHER}
    assert not set(colors.EXTENSION) & set(colors.OPTIMIZER_COLORS.values())


def test_the_registry_builds_the_right_classes_and_settings():
    params = [torch.nn.Parameter(torch.zeros(1))]
    assert type(make_optimizer("gclip", params, lr=1, gamma=1)) is GClip
    per_tensor = make_optimizer("delta_gclip_per_tensor", params, lr=1, gamma=1, delta=0.1)
    assert type(per_tensor) is DeltaGClip and per_tensor.param_groups[0]["per_tensor"] is True
    assert make_optimizer("sgd_momentum", params, lr=1).param_groups[0]["momentum"] == 0.9
    assert make_optimizer("sgd", params, lr=1).param_groups[0]["momentum"] == 0
    assert make_optimizer("adamw", params, lr=1, weight_decay=0.5).param_groups[0]["weight_decay"] == 0.5
    assert make_optimizer("adam", params, lr=1, beta1=0.8, beta2=0.9).param_groups[0]["betas"] == (0.8, 0.9)
    assert type(make_optimizer("clip_sgd", params, lr=1, gamma=2)) is ClipSGD


def test_hyperparameters_are_scalars_with_one_range_per_name():
    for entry in OPTIMIZERS.values():
        for h in entry.hyperparameters:
            assert h.kind in (float, int, bool)
            assert h == Hyperparameter.of(h.name, h.default, h.kind)    # the vocabulary's range, not the entry's
    assert "betas" not in {h.name for e in OPTIMIZERS.values() for h in e.hyperparameters}


def test_the_stores_configuration_columns_come_from_the_registry():
    names = [n for n, _ in CONFIG_COLUMNS]
    assert {h.name for e in OPTIMIZERS.values() for h in e.hyperparameters} <= set(names)
    assert {"beta1", "beta2", "eps", "nesterov"} <= set(names)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match=r"unknown optimizer 'no_such_optimizer'; choose from: delta_gclip, gclip"):
        make_optimizer("no_such_optimizer", [torch.nn.Parameter(torch.zeros(1))], lr=1)


def test_argument_the_optimizer_does_not_take_lists_what_it_accepts():
    with pytest.raises(ValueError, match=r"'adam' does not take delta, gamma; it accepts: lr, beta1, beta2, eps, "
                                         r"weight_decay"):
        make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr=1, gamma=1, delta=0.1)


def test_missing_argument_is_named():
    with pytest.raises(ValueError, match=r"'delta_gclip' needs delta; it accepts: lr, gamma, delta"):
        make_optimizer("delta_gclip", [torch.nn.Parameter(torch.zeros(1))], lr=1, gamma=1)


def test_a_resolved_trial_holds_every_default_so_a_changed_default_changes_its_key(monkeypatch):
    task = load_task("teacher_mlp")
    config = resolve_trial(task, {"optimizer": "adamw", "lr": 1e-3})
    assert config.hparams == {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01}
    before = trial_key(config)
    entry = OPTIMIZERS["adamw"]
    changed = tuple(Hyperparameter.of("weight_decay", 0.02) if h.name == "weight_decay" else h
                    for h in entry.hyperparameters)
    monkeypatch.setitem(OPTIMIZERS, "adamw", OptimizerEntry(**{**entry.__dict__, "hyperparameters": changed}))
    after = resolve_trial(task, {"optimizer": "adamw", "lr": 1e-3})
    assert after.hparams["weight_decay"] == 0.02 and trial_key(after) != before


def test_beta1_and_beta2_are_set_like_any_hyperparameter():
    config = resolve_trial(load_task("teacher_mlp"), {"optimizer": "adam", "lr": 1e-3, "beta1": 0.5, "beta2": 0.9})
    opt = config.make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    assert opt.param_groups[0]["betas"] == (0.5, 0.9)
    with pytest.raises(ConfigError, match=r"optimizer adam: invalid beta2=1.0: must be a finite number >= 0 and < 1"):
        resolve_trial(load_task("teacher_mlp"), {"optimizer": "adam", "beta2": 1.0})
    with pytest.raises(ConfigError, match=r"'sgd' does not take beta1"):
        resolve_trial(load_task("teacher_mlp"), {"optimizer": "sgd", "beta1": 0.5})


def test_one_spelling_per_value_so_that_keys_agree():
    task = load_task("teacher_mlp")
    a = resolve_trial(task, {"optimizer": "delta_gclip", "lr": 1, "delta": 0})
    b = resolve_trial(task, {"optimizer": "delta_gclip", "lr": 1.0, "delta": -0.0})
    assert a.hparams == b.hparams and trial_key(a) == trial_key(b)
    assert str(b.hparams["delta"]) == "0.0"


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


def test_adding_a_built_in_is_one_file_and_one_entry(tmp_path, monkeypatch, capsys):
    """docs/architecture.md's how-to, followed: a class in a file of its own and one registry entry; then
    `train` runs it, its defaults are in the configuration, and it has a colour, with no other edit."""
    from regclip_bench.cli import main
    from regclip_bench.optim.registry import H, LR
    (tmp_path / "my_sign.py").write_text(
        "import torch\n\n\nclass MySign(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr, beta1=0.9):\n"
        "        super().__init__(params, dict(lr=lr, beta1=beta1))\n\n"
        "    @torch.no_grad()\n    def step(self, closure=None):\n"
        "        for group in self.param_groups:\n            for p in group['params']:\n"
        "                if p.grad is not None:\n"
        "                    state = self.state[p]\n"
        "                    m = state.setdefault('m', torch.zeros_like(p)).lerp_(p.grad, 1 - group['beta1'])\n"
        "                    p.add_(m.sign(), alpha=-group['lr'])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from my_sign import MySign
    monkeypatch.setitem(OPTIMIZERS, "my_sign", OptimizerEntry("my_sign", MySign, (LR, H("beta1", 0.9)), "my sign",
                                                              state_copies=1))
    assert main(["train", "teacher_mlp", "--set", "optimizer=my_sign", "--set", "lr=0.01", "--set", "width=16",
                 "--set", "steps=20", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "my_sign width=16 depth=2 lr=0.01 beta1=0.9" in out and "completed" in out
    assert state_copies(OPTIMIZERS["my_sign"], {"lr": 0.01, "beta1": 0.9}) == 1
    assert colors.of("my_sign") in colors.EXTENSION   # no colour given: the extension's next


def test_a_stores_other_names_get_their_colours_from_that_store_alone(monkeypatch):
    """What was drawn before in the same process does not shift a plug-in's colour on a page."""
    colors.use(["aaa_plugin", "lion", "sgd"])
    assert colors.of("lion") == colors.EXTENSION[1] and colors.of("sgd") == OPTIMIZERS["sgd"].color
    colors.use(["lion", "schedulefree_adamw"])
    assert (colors.of("lion"), colors.of("schedulefree_adamw")) == colors.EXTENSION[:2]
