import pytest
import torch

from core.model.bundle import load_bundle
from core.fit.latent import FitData, _trial, best_starts, fit, fit_adam, fit_lm, nearest_code
from core.jobs import Cancelled
from core.model.decoder import latent_field


@pytest.fixture(scope="module")
def tiny(tiny_experiment):
    return load_bundle(tiny_experiment / "bundle.safetensors")


def synthetic_samples(bundle, z, n=6000, seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n, 3, generator=g) * 2 - 1
    with torch.no_grad():
        sdf = latent_field(bundle.decoder, z)(xyz.to(bundle.decoder.device)).cpu()
    return FitData(xyz, sdf, torch.zeros(n, dtype=torch.bool), 0.0)


def field_error(bundle, z_fit, z_true):
    xyz = (torch.rand(4000, 3, generator=torch.Generator().manual_seed(9)) * 2 - 1).to(bundle.decoder.device)
    with torch.no_grad():
        a, b = latent_field(bundle.decoder, z_fit)(xyz), latent_field(bundle.decoder, z_true)(xyz)
    return (a.clamp(-0.1, 0.1) - b.clamp(-0.1, 0.1)).abs().mean().item()


def test_jacobian_matches_torch_func(tiny):
    z = tiny.latents.codes[0].to(tiny.decoder.device)
    xyz = (torch.rand(5, 3) * 2 - 1).to(z)
    _, pred, jac = _trial(tiny.decoder, z, FitData(xyz, torch.zeros(5), torch.zeros(5, dtype=torch.bool), 0.0), 0.1, 0.0, 0.0)
    J = jac()

    def f(code, p):
        return tiny.decoder(torch.cat([code, p])[None])[0, 0]

    for i in range(5):
        ref = torch.func.jacrev(f)(z, xyz[i])
        assert torch.allclose(J[i], ref, atol=1e-6)
        assert torch.isclose(pred[i], f(z, xyz[i]), atol=1e-6)


def test_lm_from_the_answer_stops_without_climbing_the_damping(tiny, monkeypatch):
    """Started at the code that made the samples, LM has nothing to gain: it must stop once its quadratic model
    promises less than a stall, not test a step at every fourfold damping up to 1e8 (17 forward passes)."""
    import core.fit.latent as latent

    trials, real = [], latent._trial
    monkeypatch.setattr(latent, "_trial", lambda *a, **k: trials.append(1) or real(*a, **k))
    z = tiny.latents.codes[1]
    result = fit_lm(tiny.decoder, synthetic_samples(tiny, z), init=z, prior=0.0)
    assert result.losses[-1] <= result.losses[0]
    assert len(trials) <= 2 + 2 * 4  # each phase's start, and a few steps between the model's promise and a stall
    assert field_error(tiny, result.code, z) < 1e-3


@pytest.mark.parametrize("method", ["lm", "adam"])
def test_recovers_the_code_that_made_the_samples(tiny, method):
    z_true = tiny.latents.codes[1]
    data = synthetic_samples(tiny, z_true)
    start = field_error(tiny, torch.zeros_like(z_true), z_true)
    kwargs = {"iterations": 200} if method == "adam" else {}
    result = fit(tiny.decoder, data, method, **kwargs)
    assert field_error(tiny, result.code, z_true) < 0.25 * start
    assert result.losses[-1] < result.losses[0]
    assert all(p.requires_grad for p in tiny.decoder.parameters())  # decoder left as found


def test_lm_starts_from_the_candidate_that_explains_the_samples(tiny):
    codes = tiny.latents.codes
    data = synthetic_samples(tiny, codes[2])
    starts = best_starts(tiny.decoder, codes, data, torch.Generator().manual_seed(0), keep=2)
    assert starts.shape == (2, codes.shape[1]) and torch.equal(starts[0], codes[2])
    assert not torch.equal(starts[1], codes[2])
    from_table = fit_lm(tiny.decoder, data, init=codes)
    from_zero = fit_lm(tiny.decoder, data)
    assert from_table.losses[0] < from_zero.losses[0] and from_table.losses[-1] <= from_zero.losses[-1] * 1.05


def test_lm_needs_far_fewer_iterations_than_adam(tiny):
    z_true = tiny.latents.codes[2]
    data = synthetic_samples(tiny, z_true)
    lm = fit_lm(tiny.decoder, data)
    adam = fit_adam(tiny.decoder, data, iterations=800)
    assert lm.iterations <= 60
    assert field_error(tiny, lm.code, z_true) <= 1.1 * field_error(tiny, adam.code, z_true) + 1e-3


def test_free_space_rows_only_push_outwards(tiny):
    z = tiny.latents.codes[0]
    data = synthetic_samples(tiny, z, n=200)
    free = FitData(data.xyz, torch.zeros(200), torch.ones(200, dtype=torch.bool), 0.0)
    from core.fit.latent import residuals
    r = residuals(torch.linspace(-0.5, 0.5, 200), free)
    assert (r[100:] == 0).all() and (r[:100] < 0).all()


def test_cancel_and_bad_input(tiny):
    data = synthetic_samples(tiny, tiny.latents.codes[0], n=500)
    calls = []
    with pytest.raises(Cancelled):
        fit_lm(tiny.decoder, data, cancelled=lambda: len(calls) > 0 or calls.append(1))
    with pytest.raises(ValueError, match="NaN"):
        FitData(torch.full((3, 3), float("nan")), torch.zeros(3), torch.zeros(3, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match="no samples"):
        FitData(torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match=r"xyz \(n, 3\)"):
        FitData(torch.zeros(4, 2), torch.zeros(4), torch.zeros(4, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match="depth noise"):
        FitData(data.xyz, data.sdf, data.free, float("nan"))
    with pytest.raises(TypeError, match="noise"):  # no silent clean-scan settings for a scan's samples
        FitData(data.xyz, data.sdf, data.free)
    with pytest.raises(ValueError, match="unknown fitting method"):
        fit(tiny.decoder, data, "sgd")


def test_reconstruct_cli_official_layout_and_resume(tiny_experiment, tiny_data, tmp_path):
    from core.cli import main

    bundle = str(tiny_experiment / "bundle.safetensors")
    args = ["reconstruct", bundle, "--data", str(tiny_data), "--split", str(tiny_data / "splits" / "chairs_test.json"),
            "--res", "32", "-o", str(tmp_path)]
    assert main(args) == 0
    codes = list((tmp_path / "Reconstructions").rglob("Codes/synthetic/chairs/*.pth"))
    meshes = list((tmp_path / "Reconstructions").rglob("Meshes/synthetic/chairs/*.ply"))
    assert len(codes) == 1 and len(meshes) == 1
    from core.fileio import torch_load
    assert torch_load(codes[0]).shape == (1, 1, 8)  # official (1, 1, L)
    stamp = codes[0].stat().st_mtime_ns
    assert main(args) == 0
    assert codes[0].stat().st_mtime_ns == stamp  # resumable: done shapes are skipped


def test_prior_pulls_towards_the_anchor_where_samples_say_nothing(tiny):
    codes = tiny.latents.codes
    data = synthetic_samples(tiny, codes[2], n=3000)
    seen = data.subset(torch.nonzero(data.xyz[:, 0] > 0.3)[:, 0])  # one side of the shape only
    to_zero = fit_lm(tiny.decoder, seen, init=codes[0], prior=0.05)
    to_code = fit_lm(tiny.decoder, seen, init=codes[0], prior=0.05, anchor=codes[2])
    assert field_error(tiny, to_code.code, codes[2]) < 0.7 * field_error(tiny, to_zero.code, codes[2])
    assert (to_code.code - codes[2]).norm() < (to_zero.code - codes[2]).norm()


def test_scan_fit_shows_the_chosen_path_and_counts_every_start(tiny):
    from core.scans.completion import SCAN_STARTS, fit_scan
    blend = 0.5 * (tiny.latents.codes[1] + tiny.latents.codes[2])  # no start is the answer
    data = synthetic_samples(tiny, blend, n=3000)
    seen, losses = [], []
    result = fit_scan(tiny.decoder, data, tiny.latents.codes,
                      progress=lambda i, loss, z: (seen.append(i), losses.append(loss)))
    assert SCAN_STARTS >= 2 and seen == list(range(len(seen)))
    assert losses == result.losses[1:]  # the curve drawn is the result's own
    assert result.iterations > len(seen) > 2 and result.losses[-1] < result.losses[0]
    assert field_error(tiny, result.code, blend) < 0.5 * field_error(tiny, tiny.latents.codes[1], blend)


def test_a_judge_keeps_the_first_stage_where_it_scores_the_second_worse(tiny):
    """``fit_scan``'s ``judge`` sees the two stages' codes and keeps the first where the second scores
    worse; scoring them equal keeps the second, as without a judge."""
    from core.scans.completion import fit_scan
    blend = 0.5 * (tiny.latents.codes[1] + tiny.latents.codes[2])
    data = synthetic_samples(tiny, blend, n=3000)
    plain = fit_scan(tiny.decoder, data, tiny.latents.codes)
    judged = []
    tie = fit_scan(tiny.decoder, data, tiny.latents.codes, judge=lambda z: judged.append(z) or 0.0)
    assert torch.equal(tie.code, plain.code) and len(judged) == 2
    after, before = judged
    assert torch.equal(after, plain.code) and not torch.equal(before, plain.code)
    worse = fit_scan(tiny.decoder, data, tiny.latents.codes, judge=lambda z: float(torch.equal(z, after)))
    assert torch.equal(worse.code, before) and worse.losses == plain.losses  # the second stage was still run


def test_nearest_code_is_the_row_closest_to_the_code(tiny):
    codes = tiny.latents.codes
    i, d = nearest_code(codes, codes[1] + 1e-3)
    assert i == 1 and abs(d - 1e-3 * codes.shape[1] ** 0.5) < 1e-5
