"""Benchmarks: every ratio is against a baseline measured in the same run, on the same machine."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from core.fileio import default_device
from core.mesh.meshing import mesh_code
from .metrics import chamfer
from core.data.samples import ground_truth_points
from core.model.decoder import Architecture, Decoder, latent_field

REFERENCE_CHUNK = 2**18  # official deep_sdf/mesh.py evaluates the grid in chunks of 2^18 points


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer stops when the work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _where(device: torch.device) -> str:
    """The device a benchmark ran on, for its header: the GPU's name, or the CPU's thread count."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return f"CPU, {torch.get_num_threads()} torch threads"


def box_sdf(x: torch.Tensor, centre, half) -> torch.Tensor:
    q = (x - x.new_tensor(centre)).abs() - x.new_tensor(half)
    return q.clamp(min=0).norm(dim=1) + q.max(1).values.clamp(max=0)


def analytic_chair(x: torch.Tensor, plate: float = 0.01) -> torch.Tensor:
    """A chair of boxes whose back is a plate ``plate`` thick: thin parts must survive meshing."""
    d = box_sdf(x, (0, 0, 0), (0.4, 0.03, 0.4))
    for sx in (-1, 1):
        for sz in (-1, 1):
            d = torch.minimum(d, box_sdf(x, (0.35 * sx, -0.35, 0.35 * sz), (0.03, 0.35, 0.03)))
    return torch.minimum(d, box_sdf(x, (0, 0.4, -0.37), (0.4, 0.4, plate / 2)))


class AnalyticWrapped(nn.Module):
    """A real decoder's cost with an analytic field's values: analytic(xyz) + 0 * decoder(rows).

    The network is evaluated in full (so timings are the decoder's), while the exact field is known
    everywhere (so a 256^3 reference mesh can be computed without the network).
    """

    def __init__(self, decoder: Decoder, sdf: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.decoder, self.sdf = decoder, sdf

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.sdf(rows[:, -3:])[:, None] + 0.0 * self.decoder(rows)

    def field(self, z: torch.Tensor):
        net = latent_field(self.decoder, z)
        return lambda xyz: self.sdf(xyz) + 0.0 * net(xyz)


def reference_values(decoder: nn.Module, z: torch.Tensor, res: int, max_points: int | None = None) -> tuple[np.ndarray | None, float]:
    """The official pipeline's evaluation: every node, rows [z, xyz] built per chunk of 2^18.

    Returns (values or None when only timed, seconds); with ``max_points`` only a sub-block is timed
    and the seconds are extrapolated to the full grid.
    """
    n = res + 1
    total = n ** 3
    todo = total if max_points is None else min(total, max_points)
    device = next(decoder.parameters()).device
    ax = torch.linspace(-1, 1, n, device=device)
    out = torch.empty(todo, device=device)
    z = z.to(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(0, todo, REFERENCE_CHUNK):
            lin = torch.arange(s, min(s + REFERENCE_CHUNK, todo), device=device)
            xyz = torch.stack([ax[lin // (n * n)], ax[(lin // n) % n], ax[lin % n]], 1)
            rows = torch.cat([z.reshape(1, -1).expand(len(lin), -1), xyz], 1)
            out[s:s + len(lin)] = decoder(rows)[:, 0]
    _sync(device)
    seconds = (time.perf_counter() - t0) * total / todo
    return (out.reshape(n, n, n).cpu().numpy() if todo == total else None), seconds


def bench_mesh(resolutions=(64, 128, 256), bundle=None, exact_budget_s: float = 240.0,
               plate: float = 0.01, echo=print) -> list[dict]:
    """Reference (dense + scikit-image) vs ours (narrow band + Flying Edges), same decoder and code.

    Without a bundle: the paper-size decoder (8x512, L=256) wrapped around an analytic chair with a
    ``plate``-thick back. References that would take longer than ``exact_budget_s`` are timed on a
    sub-block and extrapolated (marked "est.").
    """
    from skimage.measure import marching_cubes as sk_mc

    torch.manual_seed(0)
    if bundle is None:
        model = AnalyticWrapped(Decoder(Architecture()).eval().to(default_device()), lambda x: analytic_chair(x, plate))
        z = torch.randn(256) * 0.05
        decoder, field, ref_model = model.decoder, model.field(z), model
        what = f"paper-size decoder 8x512/L256 wrapped around an analytic chair ({plate}-thick back)"
    else:
        z = bundle.latents.codes[0]
        decoder, field, ref_model, what = bundle.decoder, None, bundle.decoder, "bundle decoder, code 0"
    echo(f"bench mesh: {what}; {_where(decoder.device)}")
    # decoder throughput in reference style, to estimate the budget
    _, per_node = reference_values(ref_model, z, 63, max_points=REFERENCE_CHUNK // 4)
    per_node /= 64 ** 3
    rows = []
    echo(f"{'res':>5} {'ref s':>10} {'ours s':>8} {'ratio':>8} {'evaluated':>10} {'chamfer':>10} {'verts ref':>10} {'verts ours':>10}")
    for res in resolutions:
        n = res + 1
        estimated = per_node * n ** 3 > exact_budget_s
        values, ref_eval = reference_values(ref_model, z, res, max_points=REFERENCE_CHUNK if estimated else None)
        if values is None and bundle is None:  # exact field known: the reference's values, without the network
            ax = torch.linspace(-1, 1, n)
            grid = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
            values = analytic_chair(grid, plate).reshape(n, n, n).numpy()
        t0 = time.perf_counter()
        ours = mesh_code(decoder, z, res, field_fn=field)
        t_ours = time.perf_counter() - t0
        ref_verts, mc_s = None, 0.0
        if values is not None:
            t0 = time.perf_counter()
            v, f, _, _ = sk_mc(values, 0.0, spacing=(2.0 / res,) * 3)
            mc_s = time.perf_counter() - t0
            ref_verts = v - 1.0
        t_ref = ref_eval + mc_s
        cd = chamfer(ref_verts, ours.vertices) if ref_verts is not None else float("nan")
        row = {"res": res, "ref_s": t_ref, "estimated": estimated, "ours_s": t_ours, "ratio": t_ref / t_ours,
               "fraction": ours.stats["fraction"], "chamfer": cd,
               "verts_ref": len(ref_verts) if ref_verts is not None else None, "verts_ours": len(ours.vertices)}
        rows.append(row)
        echo(f"{res:>5} {t_ref:>9.1f}{'*' if estimated else ' '} {t_ours:>8.2f} {row['ratio']:>7.1f}x "
             f"{row['fraction']:>9.2%} {cd:>10.2e} {row['verts_ref'] or '-':>10} {row['verts_ours']:>10}")
    if any(r["estimated"] for r in rows):
        echo("* reference evaluation timed on a sub-block of 2^18 points and extrapolated to the full grid; "
             "its mesh comes from the exact field (the network's share is 0 x decoder)" if bundle is None else
             "* reference evaluation extrapolated from a sub-block; no reference mesh at this size")
    return rows


def bench_train(arch: Architecture | None = None, scenes: int = 16, samples: int = 2048, steps: int = 6,
                echo=print) -> dict:
    """Training throughput (points/s) of the real training step (codes, official loss, Adam) and its
    FLOP rate as a share of the machine's fp32 matmul rate, both measured here."""
    from core.model.train import PRESETS, AutoDecoder, train_step

    arch = arch or Architecture.from_specs(PRESETS["cpu"])
    device = default_device()
    gen = torch.Generator().manual_seed(0)
    model = AutoDecoder(arch, 96, 1.0, 1.0, gen).train().to(device)
    opt = torch.optim.Adam([{"params": model.decoder.parameters(), "lr": 1e-4},
                            {"params": model.codes.parameters(), "lr": 1e-3}])
    batch = torch.randperm(96, generator=gen)[:scenes].to(device)
    xyz = (torch.rand(scenes, samples, 3, generator=gen) * 2 - 1).to(device)
    gt = (torch.rand(scenes, samples, generator=gen) * 0.2 - 0.1).to(device)

    def step():
        train_step(model, opt, batch, xyz, gt, clamp=0.1, epoch=200, reg_lambda=1e-4)

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    pts_s = steps * scenes * samples / (time.perf_counter() - t0)
    # forward + backward (two matmuls per layer) = 3x the forward FLOPs
    achieved = 3 * arch.flops_per_point() * pts_s
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    _sync(device)
    peak = 5 * 2 * 2048**3 / (time.perf_counter() - t0)
    result = {"points_per_s": pts_s, "decoder_gflops": achieved / 1e9, "matmul_gflops": peak / 1e9, "ratio": achieved / peak}
    echo(f"bench train: {len(arch.dims)}x{max(arch.dims)} L{arch.latent_size}, {scenes} scenes x {samples} points "
         f"per step, {_where(device)}")
    echo(f"  {pts_s:,.0f} points/s = {achieved / 1e9:.1f} GFLOP/s; fp32 matmul {peak / 1e9:.1f} GFLOP/s; "
         f"ratio {result['ratio']:.2f}")
    return result


def bench_fit(bundle, data_dir, split, count: int = 3, res: int = 128, echo=print) -> list[dict]:
    """Adam-800 (official recipe) vs Levenberg-Marquardt on held-out shapes: time, iterations, Chamfer."""
    from core.data.samples import read_split
    from core.fit.latent import FitData, fit_adam, fit_lm
    from .metrics import sample_surface
    from core.data.samples import read_sdf_npz

    entries = read_split(split)[:count]
    echo(f"bench fit: {len(entries)} held-out shapes, {len(bundle.arch.dims)}x{max(bundle.arch.dims)} "
         f"L{bundle.arch.latent_size}, mesh {res}^3, Chamfer x1e3 (official, unit-sphere frame), "
         f"{_where(bundle.decoder.device)}")
    echo(f"{'shape':>16} {'adam s':>8} {'lm s':>7} {'speed-up':>9} {'adam it':>8} {'lm it':>6} {'CD adam':>8} {'CD lm':>7}")
    rows = []
    for ds, cls, inst in entries:
        data = FitData.from_sdf(*read_sdf_npz(Path(data_dir) / "SdfSamples" / ds / cls / f"{inst}.npz"))
        truth = ground_truth_points(data_dir, ds, cls, inst)
        row = {"shape": inst}
        for name, solver in (("adam", fit_adam), ("lm", lambda d, data: fit_lm(d, data, init=bundle.latents.codes))):
            result = solver(bundle.decoder, data)
            mesh = mesh_code(bundle.decoder, result.code, res)
            row[name] = {"seconds": result.seconds, "iterations": result.iterations,
                         "chamfer": chamfer(sample_surface(mesh), truth) if not mesh.is_empty else float("inf")}
        rows.append(row)
        a, l = row["adam"], row["lm"]
        echo(f"{inst:>16} {a['seconds']:>8.1f} {l['seconds']:>7.2f} {a['seconds'] / l['seconds']:>8.1f}x "
             f"{a['iterations']:>8} {l['iterations']:>6} {1e3 * a['chamfer']:>8.3f} {1e3 * l['chamfer']:>7.3f}")
    mean = lambda k, f: float(np.mean([r[k][f] for r in rows]))
    echo(f"{'mean':>16} {mean('adam', 'seconds'):>8.1f} {mean('lm', 'seconds'):>7.2f} "
         f"{mean('adam', 'seconds') / mean('lm', 'seconds'):>8.1f}x {'':>8} {'':>6} "
         f"{1e3 * mean('adam', 'chamfer'):>8.3f} {1e3 * mean('lm', 'chamfer'):>7.3f}")
    return rows


def bench_scenes(bundle, data_dir, split, count: int = 3, res: int = 128, echo=print) -> list[dict]:
    """Pose-free completion (segment, then code and Sim(3) by LM) against the posed LM fit of the same view
    (ground-truth pose and mask), one held-out shape per rendered sensor scene: fit times and their ratio."""
    import json

    from core.data.samples import read_split
    from .experiments import scene_rows
    from core.scans.pose import model_height
    from core.data.samples import load_mesh, normalize

    entries = read_split(split)[:count]
    sources = {}
    for ds, cls, _ in entries:
        sources.update(json.loads((Path(data_dir) / "splits" / f"{cls}_sources.json").read_text()))
    height = model_height(bundle.decoder, bundle.latents.codes)
    echo(f"bench scenes: {len(entries)} held-out shapes, one per sensor scene (640x480, noise on); "
         f"posed = LM code fit with the true pose and mask; Chamfer x1e3, normalised frame; "
         f"{_where(bundle.decoder.device)}")
    echo(f"{'shape':>16} {'posed s':>8} {'pose-free s':>12} {'ratio':>7} {'CD posed':>9} {'CD free':>8} {'rot deg':>8} {'t cm':>6} {'scale %':>8}")
    rows = []
    for k, (ds, cls, inst) in enumerate(entries):
        mesh = normalize(load_mesh(sources[inst]))[0]
        row = scene_rows(bundle, [mesh], [inst], [ground_truth_points(data_dir, ds, cls, inst)], k, res, height=height)[0]
        rows.append(row)
        echo(f"{inst:>16} {row['posed_s']:>8.2f} {row['fit_s']:>12.2f} {row['fit_s'] / row['posed_s']:>6.1f}x "
             f"{1e3 * row['posed_chamfer']:>9.3f} {1e3 * row['chamfer']:>8.3f} {row['rot_err_deg']:>8.1f} "
             f"{row['t_err_cm']:>6.1f} {row['scale_err_pct']:>+8.1f}")
    found = [r for r in rows if r["found"]]
    if found:
        posed, free = np.median([r["posed_s"] for r in found]), np.median([r["fit_s"] for r in found])
        echo(f"{'median':>16} {posed:>8.2f} {free:>12.2f} {free / posed:>6.1f}x   (target: pose-free <= 5x posed)")
    echo(f"found {len(found)} of {len(rows)}")
    return rows


def bench_real(bundle, frames_dir, labels_path, count: int = 3, res: int = 128, echo=print) -> list[dict]:
    """``bench scenes``' real-frame rows: in the first ``count`` labelled frames with a chair in view, that chair
    from the depth file to its mesh in the camera frame (reading, segmentation, the pose-free fit, meshing at
    ``res``), and the LM's share of it (cProfile's cumulative time in the two LM solvers)."""
    import cProfile
    import pstats

    from core.scans.completion import fit_segment
    from core.scans.pose import model_height
    from core.scans.scan import back_project, load_scan
    from core.scans.segment import segment_scan
    from .real_frames import find_frames, in_view, read_labels

    labels = read_labels(labels_path)[0]
    frames = [f for f in find_frames(frames_dir) if in_view(labels.get(f.key))]
    height = model_height(bundle.decoder, bundle.latents.codes)
    echo(f"bench scenes, real frames ({frames_dir}): a labelled chair per frame, depth file to mesh ({res}^3); "
         f"target <= 10 s per object; {_where(bundle.decoder.device)}")
    echo(f"{'frame':>44} {'segment s':>10} {'fit s':>7} {'object s':>9} {'LM share':>9}")
    rows = []
    for frame in frames[:count]:
        box = in_view(labels[frame.key])[0][1]["box"]
        profile = cProfile.Profile()
        t0 = time.perf_counter()
        profile.enable()
        scan = load_scan(frame.path, camera=frame.intrinsics, depth_scale=frame.per_metre, depth_format=frame.depth_format)
        seg = segment_scan(scan.depth, scan.camera, source=str(frame.path))
        t1 = time.perf_counter()
        x0, y0, x1, y1 = (int(round(c)) for c in box)
        inside = [int((seg.labels[y0:y1, x0:x1] == s.label).sum()) for s in seg.segments]
        if not inside or max(inside) == 0:
            profile.disable()
            echo(f"{frame.key:>44} no object in the labelled box")
            continue
        _, normals, _ = back_project(scan.depth, scan.camera)
        fit_segment(bundle, seg, seg.segments[int(np.argmax(inside))], normals, res, height, warn=lambda m: None,
                    camera=scan.camera)
        profile.disable()
        total = time.perf_counter() - t0
        stats = pstats.Stats(profile).stats
        lm = sum(v[3] for (_, _, name), v in stats.items() if name in ("fit_lm", "fit_code_and_pose"))
        rows.append({"frame": frame.key, "segment_s": t1 - t0, "fit_s": total - (t1 - t0), "object_s": total, "lm_share": lm / total})
        echo(f"{frame.key:>44} {t1 - t0:>10.2f} {total - (t1 - t0):>7.2f} {total:>9.2f} {lm / total:>9.0%}")
    if rows:
        echo(f"{'median':>44} {np.median([r['segment_s'] for r in rows]):>10.2f} {np.median([r['fit_s'] for r in rows]):>7.2f} "
             f"{np.median([r['object_s'] for r in rows]):>9.2f} {np.median([r['lm_share'] for r in rows]):>9.0%}")
    return rows


# How resources/recipe/train_default.sh makes the default model's data; its pinned test split names the held-out chairs.
RECIPE_DATA = {"category": "chairs", "seed": 0, "samples": 250_000, "split": "recipe/chairs_test.json"}


def recipe_heldout(work: str | Path, count: int) -> tuple[Path, Path]:
    """Re-make the default model's first ``count`` held-out chairs exactly as its recipe did (same meshes,
    same samples); returns (data folder, split file). Resumable: what ``work`` holds is kept."""
    from core.model.bundle import RESOURCES
    from core.data.samples import prepare, read_split
    from core.data.shapes import synth

    work, r = Path(work), RECIPE_DATA
    chosen = work / "heldout" / r["category"]
    for *_, name in read_split(RESOURCES / r["split"])[:count]:  # synth names each shape <category>_<seed>
        synth(r["category"], 1, int(name.rsplit("_", 1)[1]), chosen, progress=False)
    # every chosen mesh is a test shape: half the samples, the wide variance, the recipe's seed
    prepare(chosen, work / "data", split_test=1.0, samples=r["samples"], seed=r["seed"], progress=False)
    return work / "data", work / "data" / "splits" / f"{r['category']}_test.json"


def bench_app(bundle, scan_path, echo=print) -> dict:
    """The app's interactive budget with a model: slider preview at 64^3, full 128^3, LM completion fit.

    Baselines from the same run: dense evaluation of the same grid (the reference pipeline's work)
    for the meshes, the official Adam-800 recipe for the fit.
    """
    from core.scans.completion import completion_samples, fit_completion
    from core.fit.latent import objective
    from core.mesh.interpolate import interpolate
    from core.scans.scan import load_scan

    codes = bundle.latents.codes
    steps = [interpolate(codes[0], codes[min(1, len(codes) - 1)], t) for t in np.linspace(0, 1, 5)]

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    preview = [timed(lambda z=z: mesh_code(bundle.decoder, z, 64))[0] for z in steps]
    preview_dense = timed(lambda: mesh_code(bundle.decoder, steps[2], 64, dense=True))[0]
    full = [timed(lambda z=z: mesh_code(bundle.decoder, z, 128))[0] for z in steps[::2]]
    full_dense = timed(lambda: mesh_code(bundle.decoder, steps[2], 128, dense=True))[0]
    scan = load_scan(scan_path)
    lm_s, lm = timed(lambda: fit_completion(bundle.decoder, scan, codes, "lm"))  # as the app fits a scan
    adam_s, adam = timed(lambda: fit_completion(bundle.decoder, scan, codes, "adam"))
    data = completion_samples(scan)  # the samples both fitted
    r = {"preview_ms": 1e3 * float(np.median(preview)), "full_s": float(np.median(full)), "fit_s": lm_s}
    echo(f"bench app: {len(bundle.arch.dims)}x{max(bundle.arch.dims)} L{bundle.arch.latent_size}, "
         f"{_where(bundle.decoder.device)}, scan {Path(scan_path).name}")
    echo(f"  slider preview 64^3: {r['preview_ms']:.0f} ms (target <= 150 ms); dense 64^3 {1e3 * preview_dense:.0f} ms -> {preview_dense / np.median(preview):.1f}x")
    echo(f"  full 128^3:          {r['full_s']:.2f} s (target <= 1.5 s); dense 128^3 {full_dense:.2f} s -> {full_dense / np.median(full):.1f}x")
    with torch.no_grad():  # the two fits' priors differ (LM's pulls towards a training code): compare the data term
        error = {k: float(objective(bundle.decoder, f.code, data, prior=0.0)) for k, f in (("lm", lm), ("adam", adam))}
    echo(f"  completion fit (LM): {lm_s:.2f} s, {lm.iterations} it, data error {error['lm']:.5f} (target <= 5 s); "
         f"Adam-800 {adam_s:.1f} s, data error {error['adam']:.5f} -> {adam_s / lm_s:.1f}x")
    return r


# The side-by-side setup of the training-quality comparison with the reference implementation.
QUALITY_SPECS = {
    "CodeLength": 64,
    "NetworkSpecs": Architecture(latent_size=64, dims=[128] * 8, dropout_prob=0.0).to_specs()["NetworkSpecs"],
    "NumEpochs": 1000,
    "SnapshotFrequency": 1000,
    "AdditionalSnapshots": [],
    "LearningRateSchedule": [{"Type": "Step", "Initial": 0.001, "Interval": 300, "Factor": 0.5},
                             {"Type": "Step", "Initial": 0.01, "Interval": 300, "Factor": 0.5}],
    "SamplesPerScene": 2048,
    "ScenesPerBatch": 4,
    "ClampingDistance": 0.1,
    "CodeRegularization": True,
    "CodeRegularizationLambda": 1e-4,
    "CodeBound": 1.0,
    "LogFrequency": 50,
}


def known_shape_chamfer(bundle, data_dir: Path, entries, res: int = 128) -> list[float]:
    """Official known-shape Chamfer: SurfaceSamples (original frame) vs 30,000 points of each code's
    mesh mapped back with its NormalizationParameters."""
    from .metrics import sample_surface

    out = []
    for i, (ds, cls, inst) in enumerate(entries):
        mesh = mesh_code(bundle.decoder, bundle.latents.codes[i], res)
        if mesh.is_empty:
            out.append(float("inf"))
            continue
        with np.load(data_dir / "NormalizationParameters" / ds / cls / f"{inst}.npz") as npz:
            offset, scale = npz["offset"], float(npz["scale"][0])
        truth = ground_truth_points(data_dir, ds, cls, inst) / scale - offset
        out.append(chamfer(sample_surface(mesh) / scale - offset, truth))
    return out


def bench_train_quality(work: str | Path, seeds=(0, 1, 2), epochs: int = 1000, init: str | None = None,
                        code_std: float | None = None, shapes: int = 16, samples: int = 100_000,
                        res: int = 128, threads: int = 1, echo=print) -> dict:
    """Training quality at a fixed budget, end to end: synth -> prepare -> train per seed -> known-shape
    Chamfer (official metric). Every step resumes from what ``work`` already holds.

    Prints per seed and over seeds: last epoch's loss, CD mean/median, seconds per epoch near the start
    (epochs 10-20 % of the run) and over the last 15 %, and their ratio (denormal slow-down).
    """
    import json

    from core.model.bundle import load_bundle

    from core.data.samples import prepare, read_split
    from core.data.shapes import synth
    from core.model.train import DEFAULTS, read_log, train

    torch.set_num_threads(threads)
    work = Path(work)
    meshes = work / "meshes" / "chairs"
    synth("chairs", shapes, 123, meshes, progress=False)  # keeps the meshes already there
    data = work / "data"
    prepare(meshes, data, split_test=0.25, samples=samples, seed=0, progress=False)
    split = data / "splits" / "chairs_train.json"
    entries = read_split(split)
    init = init or DEFAULTS["DecoderInit"]
    code_std = DEFAULTS["CodeInitStdDev"] if code_std is None else code_std
    echo(f"bench train-quality: {len(entries)} training chairs x {samples} samples, 8x128 L64, "
         f"{epochs} epochs, init {init}, code init std {code_std}, {_where(default_device())}, mesh {res}^3")
    echo(f"{'seed':>5} {'loss':>9} {'CD mean':>9} {'CD median':>10} {'s/ep start':>11} {'s/ep end':>9} {'end/start':>10}")
    rows = []
    for seed in seeds:
        exp = work / f"{init}_std{code_std:g}_seed{seed}"
        exp.mkdir(parents=True, exist_ok=True)
        specs = {**QUALITY_SPECS, "NumEpochs": epochs, "SnapshotFrequency": epochs, "Seed": seed,
                 "DecoderInit": init, "CodeInitStdDev": code_std, "DataSource": str(data.resolve()),
                 "TrainSplit": str(split.resolve())}
        (exp / "specs.json").write_text(json.dumps(specs, indent=2))
        train(exp, resume=True, progress=False)
        cds = known_shape_chamfer(load_bundle(exp / "bundle.safetensors"), data, entries, res)
        log = read_log(exp)
        sec, ep = log["seconds"], log["epoch"]
        start = sec[(ep > 0.1 * epochs) & (ep <= 0.2 * epochs)]
        end = sec[ep > 0.85 * epochs]
        row = {"seed": seed, "loss": float(log["loss"][-1]), "cd_mean": float(np.mean(cds)),
               "cd_median": float(np.median(cds)), "s_start": float(np.mean(start)), "s_end": float(np.mean(end))}
        row["slowdown"] = row["s_end"] / row["s_start"]
        rows.append(row)
        echo(f"{seed:>5} {row['loss']:>9.5f} {row['cd_mean']:>9.2e} {row['cd_median']:>10.2e} "
             f"{row['s_start']:>11.3f} {row['s_end']:>9.3f} {row['slowdown']:>9.2f}x")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "seed"}
    echo(f"{'mean':>5} {mean['loss']:>9.5f} {mean['cd_mean']:>9.2e} {mean['cd_median']:>10.2e} "
         f"{mean['s_start']:>11.3f} {mean['s_end']:>9.3f} {mean['slowdown']:>9.2f}x")
    echo("reference implementation, same setup (seed-free, measured side by side): loss 0.00365, "
         "CD mean 1.43e-03, median 2.6e-04")
    return {"rows": rows, "mean": mean}


def bench_prepare(samples: int = 500_000, sections: tuple[int, int] = (316, 158), meshes: str | Path | None = None,
                  echo=print) -> dict:
    """Seconds per mesh for ``prepare``'s robust sign (auto, an open mesh) against its exact path (a
    watertight mesh of the same size), both measured here: a ~100k-face torus, 5 % of faces removed. Then
    part soups (a synthetic chair of single-sided sheets, and every mesh of ``meshes``): the auto sign's
    time against the exact path's (distance and winding number, unchecked) on the same mesh and samples,
    and its agreement with an independent visibility check (its own rays and seed)."""
    import tempfile

    import trimesh

    from core.data.samples import PrepareJob, prepare_one

    torus = trimesh.creation.torus(1.0, 0.35, major_sections=sections[0], minor_sections=sections[1])
    keep = np.random.default_rng(0).random(len(torus.faces)) >= 0.05
    holed = trimesh.Trimesh(torus.vertices, torus.faces[keep], process=False)
    echo(f"bench prepare: {samples:,} samples per mesh, torus of {len(torus.faces):,} faces (watertight, exact sign) "
         f"vs {len(holed.faces):,} faces (5 % removed, auto sign), {torch.get_num_threads()} threads")
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, mesh, sign in (("exact", torus, "exact"), ("robust", holed, "auto")):
            path = Path(tmp) / f"{name}.ply"
            mesh.export(path)
            job = PrepareJob(name, path, Path(tmp) / "out", "bench", "torus", samples, False, 0, sign)
            t0 = time.perf_counter()
            row = prepare_one(job)
            seconds[name] = time.perf_counter() - t0
            if row["status"] != "prepared":
                raise RuntimeError(f"bench prepare: {name} mesh not prepared: {row['reason']}")
            echo(f"  {name:>8}: {seconds[name]:6.2f} s per mesh ({row['sign']}, inside {float(row['inside']):.1%})")
    ratio = seconds["robust"] / seconds["exact"]
    echo(f"  robust / exact: {ratio:.2f}x (target <= 3x); ~{seconds['robust'] * 1000 / 3600:.1f} h per 1,000 such "
         f"meshes on one core")
    return {**seconds, "ratio": ratio, "soups": _bench_soups(samples, meshes, echo)}


def _bench_soups(samples: int, meshes: str | Path | None, echo=print) -> list[dict]:
    """``bench_prepare``'s part-soup rows (see there)."""
    from core.data.samples import find_meshes, load_mesh, normalize, sample_near_surface, signed_distance
    from core.data.shapes import make_shape, sheet_soup
    from core.data.sign import soup_signed_distance, visible_outside

    soups = [("synthetic chair of sheets", lambda: sheet_soup(make_shape("chairs", 0).subdivide(), 0))]
    if meshes is not None:
        soups += [(name, lambda path=path: load_mesh(path)) for name, (_, path) in sorted(find_meshes(meshes).items())]
    echo(f"  part soups: the auto sign against the exact path (unchecked) on the same {samples:,} samples; agreement "
         f"with an independent visibility check (100 other rays) where |sdf| > 0.02")
    echo(f"    {'mesh':<34} {'faces':>7} {'sign':<19} {'inside':>6} {'agree':>7} {'auto s':>7} {'exact s':>7} {'ratio':>6}")
    rows = []
    for name, load in soups:
        normed, _, _ = normalize(load())
        points = sample_near_surface(normed, samples, np.random.default_rng(0))
        t0 = time.perf_counter()
        sdf, _, report = soup_signed_distance(normed, points, "auto")
        auto_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        signed_distance(normed, points)
        exact_s = time.perf_counter() - t0
        far = np.abs(sdf) > 0.02
        agree = float(np.mean((sdf[far] > 0) == visible_outside(normed, points[far], seed=1_000_003)))
        rows.append({"mesh": name, "sign": report.sign, "agreement": agree, "ratio": auto_s / exact_s})
        echo(f"    {name[:34]:<34} {len(normed.faces):>7,} {report.sign:<19} {report.inside:>6.1%} {agree:>7.2%} "
             f"{auto_s:>7.2f} {exact_s:>7.2f} {auto_s / exact_s:>5.1f}x")
    echo(f"  worst agreement {min(r['agreement'] for r in rows):.2%} (target >= 99.5 %), worst ratio "
         f"{max(r['ratio'] for r in rows):.1f}x (target <= 5x)")
    return rows
