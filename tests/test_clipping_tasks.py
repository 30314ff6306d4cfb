"""The tasks where clipping matters (issue 13): streaming least squares with Gaussian and heavy-tailed
noise, a character-level transformer, the edge of stability; and the sharpness diagnostic."""

import math
from pathlib import Path

import pytest
import torch

from regclip_bench.config import resolve_trial
from regclip_bench.data import load_data
from regclip_bench.errors import ConfigError
from regclip_bench.kinds import KINDS
from regclip_bench.sharpness import model_sharpness, top_eigenvalue
from regclip_bench.spec import StreamLSQData, TextData, load_task
from regclip_bench.trial import run_trial

CPU = torch.device("cpu")
JARGON = Path(TextData.model_fields["path"].default)
needs_jargon = pytest.mark.skipif(not JARGON.is_file(), reason="no Jargon File here (Debian: apt-get install dict-jargon)")


def trial(task, **overrides):
    return run_trial(resolve_trial(load_task(task), overrides))


def test_the_stream_is_fixed_by_the_generator_and_differs_by_noise_in_one_field():
    gaussian = load_data(StreamLSQData(source="stream_lsq", dim=50), CPU)
    heavy = load_data(StreamLSQData(source="stream_lsq", dim=50, noise="student_t"), CPU)
    a = gaussian.batch(8, torch.Generator().manual_seed(3))
    b = gaussian.batch(8, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    generator = torch.Generator().manual_seed(3)
    first, second = gaussian.batch(8, generator), gaussian.batch(8, generator)
    assert not torch.equal(first[0], second[0])                       # fresh samples at every step
    assert torch.equal(gaussian.w_star, heavy.w_star)                 # the same problem, other noise
    assert math.isclose(float(gaussian.eigenvalues.sum()), 1.0, rel_tol=1e-12)
    assert math.isclose(float(gaussian.eigenvalues[0] / gaussian.eigenvalues[9]), 10.0, rel_tol=1e-12)


def test_student_t_noise_has_heavy_tails_and_gaussian_noise_does_not():
    def noise(spec):
        data = load_data(spec, CPU)
        x, y = data.batch(100_000, torch.Generator().manual_seed(0))
        return (y.double().squeeze(1) - x.double() @ data.w_star).abs()
    gaussian = noise(StreamLSQData(source="stream_lsq", dim=20))
    heavy = noise(StreamLSQData(source="stream_lsq", dim=20, noise="student_t", df=1.5))
    assert gaussian.max() < 6 and 0.6 < gaussian.median() < 0.75                # |N(0,1)|: median 0.674
    assert heavy.max() > 100                                                    # infinite variance at df 1.5


def test_excess_risk_is_exact_from_the_weights():
    data = load_data(StreamLSQData(source="stream_lsq", dim=30), CPU)
    model = torch.nn.Linear(30, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    expected = float((data.w_star ** 2 * data.eigenvalues).sum())          # w = 0: w*ᵀΣw*
    assert KINDS["least_squares"].evaluate(model, data) == {"excess_risk": expected}
    with torch.no_grad():
        model.weight.copy_(data.w_star.float())
    assert KINDS["least_squares"].evaluate(model, data)["excess_risk"] < 1e-12


def test_resuming_a_stream_or_text_trial_reproduces_the_uninterrupted_run():
    from regclip_bench.trial import Reporter

    class Keep(Reporter):
        def __init__(self):
            self.states = {}

        def checkpoint(self, step, state):
            import copy
            self.states[step] = copy.deepcopy(state())

    cases = [("lsq_student_t", dict(steps=60, eval_every=20, log_every=5))]
    if JARGON.is_file():
        cases.append(("char_transformer", dict(steps=12, eval_every=6, log_every=3, width=32, depth=1,
                                               batch_size=4, optimizer="delta_gclip")))
    for task, overrides in cases:
        config = resolve_trial(load_task(task), overrides)
        keep = Keep()
        whole = run_trial(config, keep)
        resumed = run_trial(config, resume=keep.states[overrides["eval_every"]])
        strip = [[{k: v for k, v in row.items() if k != "examples_per_s"} for row in r["steps"]]
                 for r in (whole, resumed)]
        assert strip[0] == strip[1] and whole["evals"] == resumed["evals"], task
        assert whole["final_train_loss"] == resumed["final_train_loss"]


def test_sharpness_of_a_quadratic_is_its_exact_top_eigenvalue():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(12, 12, generator=generator, dtype=torch.float64)
    hessian = a @ a.T + torch.diag(torch.arange(12, dtype=torch.float64))
    exact = float(torch.linalg.eigvalsh(hessian)[-1])
    value = top_eigenvalue(lambda p: 0.5 * p["w"] @ hessian @ p["w"], {"w": torch.zeros(12, dtype=torch.float64)},
                           iterations=200)
    assert math.isclose(value, exact, rel_tol=1e-9)


def test_sharpness_of_least_squares_is_twice_the_top_eigenvalue_of_the_sample_covariance():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(64, 10, generator=generator, dtype=torch.float64) * torch.linspace(0.2, 2.0, 10, dtype=torch.float64)
    y = torch.randn(64, 1, generator=generator, dtype=torch.float64)
    model = torch.nn.Linear(10, 1, bias=False).double()
    exact = float(torch.linalg.eigvalsh(2 * x.T @ x / 64)[-1])           # ∇² of mean((xw − y)²)
    rng = torch.get_rng_state()
    assert math.isclose(model_sharpness(KINDS["least_squares"], model, x, y, iterations=300), exact, rel_tol=1e-6)
    assert torch.equal(rng, torch.get_rng_state())                   # the trial's random streams untouched


def test_sharpness_is_logged_beside_both_limits_when_asked_and_only_then():
    result = trial("teacher_mlp_eos", optimizer="delta_gclip", lr=3.0, gamma=0.03, delta=0.01, steps=40,
                   log_every=10, **{"budget.sharpness_every": 2})
    measured = [r for r in result["steps"] if "sharpness" in r]
    assert [r["step"] for r in measured] == [1, 20, 40]
    assert all(r["sharpness"] > 0 and r["sharpness_limit"] == 2 / 3.0 for r in measured)
    assert all(math.isclose(r["sharpness_floor_limit"], 2 / (3.0 * 0.01)) for r in measured)
    sgd = trial("teacher_mlp_eos", optimizer="sgd", lr=0.1, steps=20, log_every=10, **{"budget.sharpness_every": 1})
    assert all("sharpness_floor_limit" not in r for r in sgd["steps"])
    plain = trial("teacher_mlp_eos", optimizer="sgd", lr=0.1, steps=20, log_every=10, **{"budget.sharpness_every": 0})
    assert all("sharpness" not in r for r in plain["steps"])
    assert plain["workload_key"] == sgd["workload_key"]           # a diagnostic, not part of the workload
    assert [r["loss"] for r in plain["steps"]] == [r["loss"] for r in sgd["steps"]]   # and it changes nothing


def test_edge_of_stability_sgd_diverges_past_its_limit_and_clipping_stays_finite():
    assert trial("teacher_mlp_eos", optimizer="sgd", lr=3.0, steps=200)["status"] == "diverged"
    clipped = trial("teacher_mlp_eos", optimizer="gclip", lr=3.0, gamma=0.01, steps=200)
    assert clipped["status"] in ("completed", "no_progress") and math.isfinite(clipped["final_loss"])


def test_heavy_tailed_noise_makes_delta_gclip_clip_and_reach_its_floor():
    result = trial("lsq_student_t", optimizer="delta_gclip", lr=1.0, gamma=0.3, delta=0.1, steps=300)
    assert result["status"] == "completed"
    assert result["frac_clipped"] > 0.1 and result["frac_floor"] > 0.01    # both regimes engage
    assert result["final_excess_risk"] < result["initial_excess_risk"]


@needs_jargon
def test_the_corpus_is_the_packaged_jargon_file_checked_by_its_checksum():
    data = load_data(TextData(source="text"), CPU)
    assert data.n_train == int(1_379_044 * 0.9) and len(data.vocabulary) == 153     # characters, not bytes
    assert (data.test_x.shape, data.num_outputs) == ((256, 64), 153)
    assert torch.equal(data.test_x[:, 1:], data.test_y[:, :-1])              # targets: the next character
    x, y = data.batch(torch.tensor([0, 1000]), torch.Generator())
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(x[0], data.train[:64])
    with pytest.raises(ConfigError, match="SHA-256 6c8118c2.*not data.sha256 0+"):
        load_data(TextData(source="text", sha256="0" * 64), CPU)


def test_a_missing_corpus_says_which_package_installs_it(tmp_path):
    with pytest.raises(ConfigError, match=r"not found: install it with `apt-get install dict-jargon`"):
        load_data(TextData(source="text", path=str(tmp_path / "absent.dz")), CPU)


def test_a_text_file_of_ones_own_is_read_with_its_checksum(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcdefgh" * 200)
    data = load_data(TextData(source="text", path=str(corpus), sha256="", context=8, eval_windows=4), CPU)
    assert data.vocabulary == list("abcdefgh") and data.test_x.shape == (4, 8)


@needs_jargon
def test_the_transformer_learns_characters_and_has_the_stated_size():
    result = trial("char_transformer", optimizer="adam", lr=3e-3, steps=60, eval_every=60)
    assert result["status"] == "completed" and result["param_count"] == 821_120
    assert result["final_test_loss"] < result["initial_test_loss"] - 1.0    # from ln(153) ≈ 5.0
