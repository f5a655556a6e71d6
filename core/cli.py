"""The ``deepsdf`` command: argument parsing only; every subcommand calls one core function."""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .fileio import DataError, flush_denormals
from .jobs import describe
from .scans.scan import DEPTH_FORMATS
from .scans.sequence import POSE_FORMATS


def cmd_synth(a) -> None:
    from .data.shapes import synth

    paths = synth(a.category, a.count, a.seed, a.out_dir)
    print(f"wrote {len(paths)} {a.category} meshes to {a.out_dir}")


def cmd_prepare(a) -> None:
    from .data.samples import REPORT, prepare

    r = prepare(a.mesh_dir, a.out_dir, split_test=a.split_test, samples=a.samples, dataset=a.dataset,
                category=a.category, seed=a.seed, workers=a.workers, split=a.split, test=a.test, sign=a.sign)
    rows = [x for x in r["report"] if x["status"] == "prepared"]
    from collections import Counter

    by_sign = Counter(x.get("sign") for x in rows)
    print(f"train {len(r['train'])}, test {len(r['test'])}, skipped {len(r['skipped'])}; newly prepared "
          f"{len(rows)} (" + ", ".join(f"{n} {m}" for m, n in sorted(by_sign.items())) + f"); "
          f"per-mesh report: {Path(a.out_dir) / REPORT}")
    unsure = [x for x in rows if float(x.get("ambiguous", 0)) > 0.05]
    if unsure:
        print(f"  sign less certain (over 5 % of samples with a winding number near 0.5) for {len(unsure)}: "
              + ", ".join(x["instance"] for x in unsure[:10]) + (" ..." if len(unsure) > 10 else ""))
    split = [x for x in rows if x.get("agreement") not in ("", None) and float(x["agreement"]) < 0.99]
    if split:
        print(f"  winding number and visibility disagree on over 1 % of samples for {len(split)} (visibility "
              f"decides): " + ", ".join(f"{x['instance']} {float(x['agreement']):.1%}" for x in split[:10]))
    for name, why in r["skipped"].items():
        print(f"  skipped {name}: {why}")


def cmd_train(a) -> None:
    from .model.train import init_experiment, train

    exp = Path(a.experiment)
    if a.data:
        init_experiment(exp, a.data, a.split, a.preset)
    path = train(exp, resume=a.resume, device=a.device, epochs=a.epochs)
    print(f"bundle: {path}")


def cmd_import(a) -> None:
    from .model.bundle import import_experiment

    bundle = import_experiment(a.experiment, epoch=a.epoch, split=a.split, data_dir=a.data)
    bundle.save(a.output)
    print(f"wrote {a.output}: {len(bundle.latents)} shapes, code length {bundle.arch.latent_size}")


def cmd_info(a) -> None:
    from .model.bundle import open_model

    from .data.shapes import kinds

    b = open_model(a.model)
    n_params = sum(p.numel() for p in b.decoder.parameters())
    print(json.dumps({"architecture": b.arch.to_dict(), "parameters": n_params, "shapes": len(b.latents),
                      "names": b.latents.names[:10] + (["…"] if len(b.latents) > 10 else []),
                      "kinds": {k: len(v) for k, v in kinds(b.latents.names).items()},
                      "epoch": b.info.get("epoch")}, indent=2))


def _pick_code(bundle, a):
    from .model.bundle import read_code_file

    if a.latent:
        return read_code_file(a.latent, bundle.arch.latent_size), Path(a.latent).stem, None
    i = bundle.latents.index(a.shape) if a.shape is not None else (a.index or 0)
    z = bundle.code(i)
    return z, bundle.latents.names[i], i


def _shape_key(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def cmd_mesh(a) -> None:
    from .model.bundle import open_model
    from .mesh.meshing import export_mesh, mesh_code

    bundle = open_model(a.model)
    z, name, i = _pick_code(bundle, a)
    mesh = mesh_code(bundle.decoder, z, a.res, dense=a.dense)
    if mesh.is_empty:
        raise ValueError(f"no surface for {name}: {mesh.stats['empty_reason']}")
    if a.original_frame:
        if i is None:
            raise ValueError("--original-frame needs --shape or --index (a latent file has no normalisation)")
        mesh = mesh.transformed(bundle.latents.offsets[i].numpy(), float(bundle.latents.scales[i]))
    export_mesh(mesh, a.output)
    if a.turntable:
        from .mesh.render import render_images, save_animation, turntable_azimuths

        save_animation(render_images([mesh], azimuths=turntable_azimuths()), a.turntable)
    s = mesh.stats
    print(f"{name}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces at {a.res}^3; evaluated "
          f"{s['fraction']:.1%} of the grid in {s['eval_ms']:.0f} ms, marching cubes {s['mc_ms']:.0f} ms -> {a.output}")


def cmd_interpolate(a) -> None:
    from tqdm import tqdm

    from .model.bundle import open_model
    from .mesh.interpolate import export_sequence

    bundle = open_model(a.model)
    za, zb = bundle.code(_shape_key(a.a)), bundle.code(_shape_key(a.b))
    with tqdm(total=a.steps, desc="interpolate") as bar:
        meshes = export_sequence(bundle.decoder, za, zb, a.output, a.steps, a.res, a.slerp, a.format,
                                 progress=lambda done, _: bar.update(done - bar.n))
    print(f"wrote {sum(not m.is_empty for m in meshes)} meshes to {a.output}")
    if a.animation:
        from .mesh.render import render_images, save_animation

        save_animation(render_images(meshes), a.animation)
        print(f"animation: {a.animation}")


def cmd_reconstruct(a) -> None:
    from .model.bundle import open_model
    from .fit.reconstruct import reconstruct

    bundle = open_model(a.model)
    split = a.split or bundle.info.get("test_split")
    if not split:
        raise ValueError("no split given and the model records no test split: pass --split")
    data = a.data or bundle.info.get("data_source")
    if not data and not set(a.experiments) <= {"real-shapes", "real", "real-sequence"}:  # real data brings its own
        raise ValueError("no data folder given and the model records none: pass --data")
    out = a.output or (Path(a.model).parent if Path(a.model).is_file() else Path(a.model))
    records = reconstruct(bundle, data, split, out, a.method, a.res)
    done = [r for r in records if not r.get("skipped")]
    print(f"reconstructed {len(done)} shapes ({len(records) - len(done)} already done) into {out}/Reconstructions")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--res is WxH pixels (got {text!r})") from None
    return w, h


def cmd_render_depth(a) -> None:
    import trimesh

    from .scans.scan import Camera, Scan, look_at_pose, render_depth, save_scan

    if a.scene:
        from .data.samples import load_mesh, normalize
        from .scans.scene import render_scene, save_scene, sensor_camera

        meshes = [normalize(load_mesh(m))[0] for m in a.source]
        camera = sensor_camera(*_size(a.res or "640x480"))
        render = render_scene(meshes, [Path(m).stem for m in a.source], a.seed, camera, noise=not a.no_noise)
        save_scene(render, a.output)
        seen = [int((render.labels == o.label).sum()) for o in render.objects]
        print(f"wrote {a.output} ({camera.width}x{camera.height}, depth in mm, intrinsics only) and its ground truth: "
              + ", ".join(f"{o.name} {n} px" for o, n in zip(render.objects, seen)))
        return
    if len(a.source) != 1:
        raise ValueError("render-depth takes one mesh or model (several only with --scene)")
    src = Path(a.source[0])
    if src.suffix.lower() in (".obj", ".ply", ".stl", ".off", ".glb"):
        from .data.samples import load_mesh, normalize

        mesh = load_mesh(src)
        if not a.no_normalize:
            mesh = normalize(mesh)[0]
        truth = src.stem
    else:
        from .model.bundle import open_model
        from .mesh.meshing import mesh_code

        bundle = open_model(a.source[0])
        z, truth, _ = _pick_code(bundle, a)
        surface = mesh_code(bundle.decoder, z, 128)
        mesh = trimesh.Trimesh(surface.vertices, surface.faces, process=False)
    try:
        az, el = (float(x) for x in a.view.split(","))
    except ValueError:
        raise ValueError(f"--view is AZ,EL in degrees (got {a.view!r})") from None
    w, h = _size(a.res or "320x240")
    camera = Camera.from_fov(w, h, a.fov)
    pose = look_at_pose(az, el, a.distance)
    depth = render_depth(mesh, camera, pose)
    if a.sensor_noise:
        from .scans.scan import add_sensor_noise

        depth = add_sensor_noise(depth, a.seed)
    save_scan(Scan(depth, camera, pose, truth, extra={"view": [az, el]}), a.output)
    # ground-truth surface points beside the scan, so completions can be scored (the app shows it)
    from .fileio import atomic_write

    gt = Path(a.output).with_name(Path(a.output).stem + "_gt.npy")
    points = trimesh.sample.sample_surface(mesh, 5000, seed=a.seed)[0].astype(np.float32)
    atomic_write(gt, lambda tmp: np.save(tmp, points))
    print(f"{a.output}: {np.isfinite(depth).sum()} of {w * h} pixels hit {truth} (sidecar {Path(a.output).with_suffix('.json').name})")


def cmd_complete(a) -> None:
    from .model.bundle import open_model, write_code_file
    from .scans.completion import complete, noisy
    from .mesh.meshing import export_mesh
    from .scans.scan import load_scan

    bundle = open_model(a.model)
    if len(a.scans) > 1 or Path(a.scans[0]).is_dir() or a.poses:
        return _complete_sequence(a, bundle)
    a.scan = a.scans[0]
    scan = load_scan(a.scan, camera=a.intrinsics, depth_scale=a.depth_scale, depth_format=a.depth_format)
    scene = scan.camera_to_model is None or a.all_objects or a.object
    _check_output(Path(a.output), Path(a.scan) if scene else None)  # before minutes of fitting
    if scene:
        return _complete_scene(a, bundle, noisy(scan, a.noise, a.noise_kind, a.seed))
    c = complete(bundle, scan, a.method, a.res, a.noise, a.noise_kind, a.seed)
    if c.mesh.is_empty:
        raise ValueError(f"the fitted code has no surface: {c.mesh.stats['empty_reason']}")
    export_mesh(c.mesh, a.output)
    if a.code:
        write_code_file(c.result.code, a.code)
    print(f"{a.scan}: {a.method} fit in {c.result.seconds:.2f} s, {c.result.iterations} iterations, "
          f"loss {c.result.losses[-1]:.5f} -> {a.output}")


def _frame_pixel(text: str) -> tuple[str, tuple[int, int]]:
    frame, sep, pixel = text.rpartition(":")
    if not sep:
        raise ValueError(f"--object of a sequence is FRAME:U,V, a frame's file name and a pixel in it (got {text!r})")
    return frame, _pixel(pixel)


def _complete_sequence(a, bundle) -> None:
    """Several frames with camera poses: objects found across the frames, one fit each over every frame that
    sees it; meshes in the world frame, a JSON with each object's pose in the world and in every camera."""
    from tqdm import tqdm

    from .scans.fusion import complete_sequence
    from .scans.sequence import BYTES_PER_PIXEL, load_sequence

    out = Path(a.output)
    _check_output(out, None)
    seq = load_sequence(a.scans, a.poses, a.intrinsics, a.depth_scale, a.depth_format, a.stride, a.max_frames,
                        a.invert_poses, warn=tqdm.write)
    cam = seq.scans[0].camera
    print(f"{len(seq)} keyframes ({BYTES_PER_PIXEL * cam.width * cam.height * len(seq) / 2**20:.0f} MB held), "
          f"poses checked: the frames agree")
    which = "all" if a.all_objects else "prominent"
    if a.object:
        if len(a.object) > 1:
            raise ValueError("a sequence takes one --object FRAME:U,V")
        name, pixel = _frame_pixel(a.object[0])
        names = seq.names()
        matches = [k for k, n in enumerate(names) if n.split(".")[0] == Path(name).name.split(".")[0]]  # with or without .depth.png
        if not matches:
            raise ValueError(f"--object {a.object[0]}: no keyframe {name!r} (keyframes: {', '.join(names[:6])}...)")
        which = (matches[0], pixel)
    with _percent("frames, pose and shape") as progress:
        scene, fused = complete_sequence(bundle, seq, which, a.res, progress=progress, warn=tqdm.write)
    meta = {"frames": [str(s.source) for s in seq.scans], "camera_to_world": [t.tolist() for t in seq.camera_to_world],
            "frame": "world (the poses' frame), in metres",
            "floor": {"normal": scene.floor.normal.tolist(), "offset": scene.floor.offset}}
    _write_objects(out, a.all_objects or len(fused) > 1, meta, "nothing to fit (the reasons above)",
                   [(o.mesh, o.summary(seq, scene.segs), f"object seen in {len({v.frame for v in o.views})} frame(s): "
                     f"scale {o.found.scale:.3f}, loss {o.found.fit.loss:.4f}, {o.found.fit.seconds:.1f} s, nearest "
                     f"{o.found.nearest}{_verdict(bundle, o.found.check)}") for o in fused])


@contextmanager
def _percent(desc: str):
    """A tqdm bar of percent done, giving the ``progress(fraction, fit)`` callback of the fits."""
    from tqdm import tqdm

    with tqdm(total=100, desc=desc, unit="%", disable=None) as bar:
        yield lambda f, _fit: bar.update(round(100 * f) - bar.n)


def _verdict(bundle, check) -> str:
    """" NOT a chair (score ...)" for a fit its check rejects, else nothing."""
    from .scans.completion import category

    return "" if check is None or check.known else f" NOT a {category(bundle)} (score {check.score:.2f})"


def _write_objects(out: Path, several: bool, meta: dict, nothing: str, objects: list[tuple]) -> None:
    """A completion's objects, each (mesh, summary, line): the meshes (``out``, or out_0, out_1, ... when
    ``several``), the JSON beside them (``meta`` and each object's summary with its mesh's file name), a line
    per object naming its file; ``nothing`` said when there is none."""
    import json

    from .fileio import atomic_write
    from .mesh.meshing import export_mesh

    paths = [out.with_name(f"{out.stem}_{k}{out.suffix}") if several else out for k in range(len(objects))]
    for (mesh, _, _), path in zip(objects, paths):
        if mesh.is_empty:
            raise ValueError(f"{path.name}: the object's fitted code has no surface")
    for (mesh, _, _), path in zip(objects, paths):
        export_mesh(mesh, path)
    meta = {**meta, "objects": [{"mesh": p.name, **summary} for (_, summary, _), p in zip(objects, paths)]}
    atomic_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    for (_, _, line), path in zip(objects, paths):
        print(f"{line} -> {path}")
    if not objects:
        print(nothing)
    print(f"poses, codes and losses: {out.with_suffix('.json')}")


def _check_output(out: Path, scan: Path | None) -> None:
    """``meshing.check_export``; with ``scan``, also that the JSON written beside the mesh (a scan without a
    pose) is not the scan's own sidecar: ``complete room.png -o room.ply`` would overwrite room.json."""
    from .mesh.meshing import check_export
    from .scans.scan import sidecar_path

    check_export(out)
    if scan is not None and out.with_suffix(".json").resolve() == sidecar_path(scan).resolve():
        raise ValueError(f"{out}: the JSON written beside it would overwrite the scan's sidecar {sidecar_path(scan)}; "
                         f"name the output otherwise, e.g. -o {out.with_name(out.stem + '_fit' + out.suffix)}")


def _pixel(text: str) -> tuple[int, int]:
    try:
        u, v = (int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--object is U,V in pixels (got {text!r})") from None
    return u, v


def _complete_scene(a, bundle, scan) -> None:
    """No pose: find the objects, fit pose and shape, write meshes in the camera frame and a JSON."""
    from tqdm import tqdm

    from .scans.completion import complete_scene, segment_pixel

    which = [_pixel(p) for p in a.object] if a.object else ("all" if a.all_objects else "prominent")
    with _percent("pose and shape") as progress:
        seg, found = complete_scene(bundle, scan, which, a.res, progress=progress, warn=tqdm.write)
    meta = {"scan": str(a.scan), "frame": "camera (OpenCV: x right, y down, z forward), in the depth's units after "
                                          "depth_scale (metres for a millimetre PNG)",
            "floor": None if seg.floor is None else {"normal": seg.floor.normal.tolist(), "offset": seg.floor.offset},
            "supports": [{"normal": t.normal.tolist(), "offset": t.offset, "height_above_floor": float(seg.floor.distance(
                -t.offset * t.normal)) if seg.floor is not None else None} for t in seg.supports]}
    _write_objects(Path(a.output), a.all_objects or len(found) > 1, meta, f"{a.scan}: nothing to fit (the reasons above)",
                   [(o.mesh, o.summary(segment_pixel(seg, o.segment)), f"object {o.segment.label} ({o.segment.pixels} px): "
                     f"scale {o.scale:.3f}, loss {o.fit.loss:.4f}, {o.fit.seconds:.1f} s, nearest {o.nearest}"
                     f"{_verdict(bundle, o.check)}") for o in found])


def cmd_evaluate(a) -> None:
    from .model.bundle import open_model
    from .evaluation.experiments import evaluate

    bundle = open_model(a.model)
    data = a.data or bundle.info.get("data_source")
    if not data and not set(a.experiments) <= {"real-shapes", "real", "real-sequence"}:  # real data brings its own
        raise ValueError("no data folder given and the model records none: pass --data")
    out = a.output or (Path(a.model).parent / "evaluation" if Path(a.model).is_file() else Path("evaluation"))
    up = dict(item.split("=", 1) for item in a.up or [] if "=" in item)
    if len(up) != len(a.up or []):
        raise ValueError(f"--up {' '.join(a.up)}: give NAME=AXIS pairs, e.g. chair_0001=z")
    for path in evaluate(bundle, data or ".", out, a.experiments, a.res, a.method, a.count, a.scene_seed, a.meshes, up,
                         a.frames, a.labels):
        print(path.read_text())


def cmd_bench(a) -> None:
    from .evaluation.bench import bench_mesh, bench_train

    if a.what == "mesh":
        from .model.bundle import open_model

        bench_mesh(tuple(a.res or (64, 128, 256)), bundle=open_model(a.model) if a.model else None)
    elif a.what == "train":
        bench_train()
    elif a.what == "app":
        from .evaluation.bench import bench_app
        from .model.bundle import RESOURCES, open_model

        bench_app(open_model(a.model or "default"), a.scan or RESOURCES / "scans" / "chair_00000_front_left.png")
    elif a.what in ("fit", "scenes"):
        from .evaluation.bench import bench_fit, bench_scenes
        from .model.bundle import open_model

        bundle = open_model(a.model or "default")
        if a.frames and not a.labels:
            raise DataError("bench scenes --frames needs --labels (the frames' chair boxes)")
        data, split = _held_out_data(a, bundle)
        (bench_fit if a.what == "fit" else bench_scenes)(bundle, data, split, count=a.count, res=a.res[0] if a.res else 128)
        if a.what == "scenes" and a.frames:  # and the real frames' rows
            from .evaluation.bench import bench_real

            bench_real(bundle, a.frames, a.labels, count=a.count, res=a.res[0] if a.res else 128)
    elif a.what == "prepare":
        from .evaluation.bench import bench_prepare

        bench_prepare(samples=a.samples or 500_000, meshes=a.meshes)
    elif a.what == "train-quality":
        from .evaluation.bench import bench_train_quality

        bench_train_quality(Path(a.work) / "train-quality", seeds=a.seeds, epochs=a.epochs or 1000, init=a.init, code_std=a.code_std,
                            shapes=a.shapes, samples=a.samples or 100_000, res=a.res[0] if a.res else 128, threads=a.threads)


def _held_out_data(a, bundle) -> tuple[Path, Path]:
    """bench fit's held-out shapes: --data/--split, else the model's own test split where it still
    exists, else (for the default model) the recipe's held-out chairs re-made under --work."""
    data = Path(a.data) if a.data else None
    if data is not None and not data.is_dir():
        raise FileNotFoundError(f"--data {data}: no such folder (a 'deepsdf prepare' output)")
    if data is None and bundle.info.get("data_source") and Path(bundle.info["data_source"]).is_dir():
        data = Path(bundle.info["data_source"])
    split = Path(a.split) if a.split else None
    recorded = bundle.info.get("test_split")
    if split is None and recorded and Path(recorded).is_file():
        split = Path(recorded)
    if data is not None and split is None:
        found = sorted((data / "splits").glob("*_test.json"))
        split = found[0] if found else None
    if data is not None and split is not None:
        return data, split
    if a.model not in (None, "default"):
        raise FileNotFoundError(f"{a.model}: its held-out shapes are not on this machine; pass --data "
                                f"(a 'deepsdf prepare' folder) and --split")
    from .evaluation.bench import recipe_heldout

    print(f"bench {a.what}: the default model's held-out chairs are not here; re-making {a.count} from its "
          f"recipe in {a.work}/ (what it holds from an earlier run is kept and reused)")
    return recipe_heldout(a.work, a.count)


def _add_code_choice(s: argparse.ArgumentParser) -> None:
    """--shape / --index / --latent: which code of a model (see _pick_code)."""
    g = s.add_mutually_exclusive_group()
    g.add_argument("--shape", help="shape name in the latent table")
    g.add_argument("--index", type=int, help="row of the latent table (default 0)")
    g.add_argument("--latent", help="code file (.npy or official .pth)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepsdf", description="DeepSDF Explorer command-line tools")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate a synthetic shape category (watertight meshes)")
    s.add_argument("out_dir")
    s.add_argument("--category", default="chairs", help="chairs, tables, sofas, or seating (the family of chairs, armchairs, sofas, stools and benches of core/data/seating.py)")
    s.add_argument("--count", type=int, default=100, help="how many shapes")
    s.add_argument("--seed", type=int, default=0,
                   help="number of the first shape: shape N is the same mesh in every run (<category>_N.ply), so "
                        "overlapping ranges repeat shapes; the default model's chairs are 0-239 (191 trained on, "
                        "48 held out), so --seed 240 or more gives chairs it has never seen")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("prepare", help="sample SDF values from meshes (any soup, ShapeNet layouts) into the official data layout")
    s.add_argument("mesh_dir")
    s.add_argument("out_dir")
    s.add_argument("--split-test", type=float, default=0.2, help="share of shapes held out for testing")
    s.add_argument("--samples", type=int, default=500_000, help="SDF samples per training shape (test: half)")
    s.add_argument("--dataset", default="synthetic", help="dataset name in the official layout")
    s.add_argument("--category", default=None, help="class name (default: the mesh folder's name)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--split", help="official split JSON: prepare exactly its instances (dataset, class names from it)")
    s.add_argument("--test", action="store_true", help="with --split: test shapes (half the samples, wider noise)")
    s.add_argument("--sign", default="auto", choices=["auto", "exact", "winding", "visibility"],
                   help="inside/outside: exact (watertight only), winding (repaired winding number), visibility (outside "
                        "when one of 100 rays escapes, as the reference preprocessor), auto (exact when watertight, "
                        "else both, chosen per mesh)")
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("train", help="train an auto-decoder from an experiment folder's specs.json")
    s.add_argument("experiment")
    s.add_argument("--data", help="data folder from 'prepare': writes specs.json if the experiment has none")
    s.add_argument("--split", help="training split JSON (with --data; default: the data folder's *_train.json)")
    s.add_argument("--preset", default="cpu", choices=["cpu", "paper"], help="specs for a new experiment")
    s.add_argument("--resume", action="store_true", help="continue from the latest snapshot")
    s.add_argument("--epochs", type=int, help="override NumEpochs")
    s.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("import", help="convert an official DeepSDF experiment folder into a bundle")
    s.add_argument("experiment")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--epoch", default="latest")
    s.add_argument("--split", help="training split JSON (default: specs.json TrainSplit)")
    s.add_argument("--data", help="data folder with NormalizationParameters/")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("info", help="describe a model (bundle, experiment folder or 'default')")
    s.add_argument("model")
    s.set_defaults(func=cmd_info)
    s = sub.add_parser("mesh", help="mesh one latent code of a model")
    s.add_argument("model", help="bundle, official experiment folder, or 'default'")
    _add_code_choice(s)
    s.add_argument("--res", type=int, default=256, help="cells per axis over [-1, 1]")
    s.add_argument("--dense", action="store_true", help="evaluate every node (the exact reference)")
    s.add_argument("--original-frame", action="store_true", help="undo the shape's normalisation")
    s.add_argument("--turntable", help="also write a turning .gif or .mp4 of the mesh")
    s.add_argument("-o", "--output", required=True, help=".ply, .obj, .stl, .glb or .off")
    s.set_defaults(func=cmd_mesh)

    s = sub.add_parser("interpolate", help="mesh the path between two shapes")
    s.add_argument("model")
    s.add_argument("a", help="shape name, index, or kind (its first shape: 'four-legged chair', armchair, sofa, ...; "
                   "deepsdf info lists a model's kinds)")
    s.add_argument("b", help="shape name, index, or kind")
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--slerp", action="store_true", help="spherical instead of linear")
    s.add_argument("--res", type=int, default=128)
    s.add_argument("--format", default="ply", choices=["ply", "obj", "stl", "glb", "off"])
    s.add_argument("--animation", help="also write a .gif or .mp4 of the sequence")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.set_defaults(func=cmd_interpolate)

    s = sub.add_parser("reconstruct", help="fit codes to a split's SDF samples and mesh them (official layout)")
    s.add_argument("model")
    s.add_argument("--data", help="data folder (default: the model's training data source)")
    s.add_argument("--split", help="split JSON (default: the model's TestSplit)")
    s.add_argument("--method", default="lm", choices=["lm", "adam"])
    s.add_argument("--res", type=int, default=256)
    s.add_argument("-o", "--output", help="folder to hold Reconstructions/ (default: the model's folder)")
    s.set_defaults(func=cmd_reconstruct)

    s = sub.add_parser("render-depth", help="render a depth scan (16-bit PNG + sidecar JSON) of a mesh or a model's shape")
    s.add_argument("source", nargs="+", help="mesh file, or a model (bundle, experiment, 'default'); with --scene, meshes")
    s.add_argument("--scene", action="store_true", help="place the meshes (metric size, random pose) on a floor in a room "
                   "with walls and a box; sensor noise; sidecar with intrinsics only, ground truth apart")
    s.add_argument("--no-noise", action="store_true", help="--scene: no sensor noise")
    _add_code_choice(s)
    s.add_argument("--view", default="30,20", help="AZ,EL in degrees (azimuth about +y from the front)")
    s.add_argument("--res", help="WxH pixels (default 320x240; --scene 640x480)")
    s.add_argument("--fov", type=float, default=50.0, help="horizontal field of view, degrees")
    s.add_argument("--distance", type=float, default=2.5, help="camera distance from the origin")
    s.add_argument("--no-normalize", action="store_true", help="mesh is already in the model frame")
    s.add_argument("--sensor-noise", action="store_true", help="add Kinect-like depth noise and silhouette dropouts")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--output", required=True, help="scan .png (the sidecar .json goes beside it)")
    s.set_defaults(func=cmd_render_depth)

    s = sub.add_parser("complete", help="complete a shape from one depth scan: posed, or the objects of a sensor's scan without a pose")
    s.add_argument("model")
    s.add_argument("scans", nargs="+", metavar="SCAN",
                   help="depth image (PNG16/TIFF/EXR/NPY/NPZ) with its sidecar JSON, or with --intrinsics; several "
                        "frames of one scene with --poses, or a sequence's folder (its depth images, poses and "
                        "intrinsics found: 7-Scenes/BundleFusion frame-*.depth.png + frame-*.pose.txt, ScanNet depth/ + "
                        "pose/, TUM depth.txt + groundtruth.txt, Redwood/ICL depth/ + .log, a sensor.json)")
    s.add_argument("--intrinsics", metavar="FX,FY,CX,CY",
                   help="the depth camera's intrinsics in pixels, or a file holding them (JSON as in a sidecar or "
                        "Open3D, or a 3x3 K matrix): for an image without a sidecar; wins over the sidecar's")
    s.add_argument("--noise", type=float, default=0.0, help="Gaussian noise sigma injected before fitting")
    s.add_argument("--noise-kind", default="depth", choices=["depth", "inverse"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--method", default="lm", choices=["lm", "adam"])
    s.add_argument("--depth-scale", type=float,
                   help="stored depth values per unit: overrides the sidecar's (default 1000 for a 16-bit PNG, i.e. "
                        "millimetres; TUM RGB-D uses 5000)")
    s.add_argument("--depth-format", choices=sorted(DEPTH_FORMATS),
                   help="a sensor's raw encoding, decoded before --depth-scale: " +
                        "; ".join(f"{k}: {v}" for k, v in DEPTH_FORMATS.items()))
    s.add_argument("--res", type=int, default=128)
    s.add_argument("--code", help="also write the fitted code (.npy or .pth)")
    s.add_argument("--all-objects", action="store_true",
                   help="no pose: fit every object found (OUT_0.ply, OUT_1.ply, ...; default: the most prominent: large and near the image centre)")
    s.add_argument("--object", action="append", metavar="U,V",
                   help="no pose: fit the object under this pixel (repeatable); of a sequence FRAME:U,V, the pixel of "
                        "one frame (its file name)")
    s.add_argument("--poses", help="the frames' camera poses, camera-to-world (x_world = T x_camera, OpenCV axes, "
                                   "metres): " + "; ".join(f"{k}: {v}" for k, v in POSE_FORMATS.items()) +
                                   "; frames whose depths disagree by a median of more than 10 cm once the poses "
                                   "are applied are refused")
    s.add_argument("--invert-poses", action="store_true", help="the pose file holds world-to-camera transforms")
    s.add_argument("--stride", type=int, default=1, help="of a sequence, every N-th frame")
    s.add_argument("--max-frames", type=int, default=30,
                   help="of a sequence, at most M keyframes spread over it (each holds ~11 MB at 640x480)")
    s.add_argument("-o", "--output", required=True,
                   help="mesh file; without a camera pose the mesh is in the camera frame and a JSON beside it holds "
                        "each object's pose, scale, code, loss and nearest training shape")
    s.set_defaults(func=cmd_complete)

    s = sub.add_parser("evaluate", help="the paper's experiments: tables (Markdown, CSV) and plots")
    s.add_argument("model")
    s.add_argument("--data", help="data folder (default: the model's training data source)")
    s.add_argument("--experiments", nargs="+", default=["known", "unknown", "completion", "noise", "interpolation"],
                   choices=["known", "unknown", "completion", "noise", "interpolation", "scenes", "real-shapes", "real",
                            "real-sequence"],
                   help="scenes (not run by default, ~30 min): pose-free completion in rendered sensor scenes; "
                        "real-shapes: raw meshes of --meshes, prepared and fitted here; real: real sensor frames of --frames; "
                        "real-sequence: real's sequence mode, a chair fitted from 1, 3, 5 posed frames, scored in others")
    s.add_argument("--meshes", help="real-shapes: folder of raw meshes (any soup; ShapeNet layouts too)")
    s.add_argument("--frames", help="real: folder with a sub-folder per sensor, each with a sensor.json (intrinsics, depth files)")
    s.add_argument("--labels", nargs="+", help="real: JSON of chair boxes per frame ({'frames': {'FOLDER/FILE': {'chairs': [{'box': [x0, y0, x1, y1]}]}}}, "
                   "optional 'world_boxes': {FOLDER: [{'centre', 'axes', 'half_extents', 'chair'}]}); several files are merged in order")
    s.add_argument("--up", nargs="+", metavar="NAME=AXIS",
                   help="real-shapes: up axis per mesh (x, y, z, -x, -y, -z); default z for ModelNet .off, else y")
    s.add_argument("--count", type=int, help="shapes per experiment (default: all); interpolation: pairs (default 20)")
    s.add_argument("--scene-seed", type=int, default=0,
                   help="scenes: draw them with this seed (0: the set the pose-free fit was tuned on; any other: new scenes)")
    s.add_argument("--res", type=int, default=128)
    s.add_argument("--method", default="lm", choices=["lm", "adam"])
    s.add_argument("-o", "--output", help="output folder (default: evaluation/ beside the model)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("bench", help="benchmarks with ratios against a baseline measured in the same run")
    s.add_argument("what", choices=["mesh", "train", "train-quality", "fit", "scenes", "app", "prepare"])
    s.add_argument("--scan", help="app: depth scan for the completion fit (default: a shipped sample)")
    s.add_argument("--model", help="mesh: a bundle instead of the wrapped paper-size decoder; fit, scenes: the model (default 'default')")
    s.add_argument("--data", help="fit, scenes: data folder (default: the model's data source)")
    s.add_argument("--split", help="fit, scenes: split of held-out shapes (default: the model's TestSplit)")
    s.add_argument("--count", type=int, default=3, help="fit, scenes: number of held-out shapes")
    s.add_argument("--res", type=int, nargs="+", help="mesh: resolutions (default 64 128 256); others: one (128)")
    s.add_argument("--work", default="deepsdf-bench", help="train-quality, fit, scenes: folder for made data and runs (resumable)")
    s.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="train-quality: training seeds")
    s.add_argument("--epochs", type=int, help="train-quality: epochs (default 1000)")
    s.add_argument("--init", choices=["default", "small", "geometric"], help="train-quality: decoder init")
    s.add_argument("--code-std", type=float, help="train-quality: CodeInitStdDev (x 1/sqrt(L))")
    s.add_argument("--shapes", type=int, default=16, help="train-quality: synthetic chairs (a quarter held out)")
    s.add_argument("--samples", type=int, help="train-quality: SDF samples per shape (100,000); prepare: per mesh (500,000)")
    s.add_argument("--threads", type=int, default=1, help="train-quality: torch threads")
    s.add_argument("--meshes", help="prepare: a folder of real meshes (part soups) to time and check the sign on")
    s.add_argument("--frames", help="scenes: real sensor frames laid out as evaluate --experiments real reads them: "
                   "their labelled chairs timed too, after the rendered scenes (needs --labels)")
    s.add_argument("--labels", nargs="+", help="scenes --frames: the frames' labels JSON (chair boxes; several are merged)")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # long benchmarks print row by row, also into a log
    flush_denormals()  # before torch starts its worker threads: they inherit the setting
    try:
        args.func(args)
    except (DataError, FileNotFoundError, ValueError, KeyError, IndexError, OSError, RuntimeError) as e:
        print(f"deepsdf {args.command}: error: {describe(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
