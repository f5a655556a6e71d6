"""What real sensor frames broke, rebuilt from the synthetic renderer with the same defects: a camera whose
cx is a whole number (its centre column at x = 0 exactly) under flushed denormals, and an object that does
not stand on the plane taken for the floor. No real data here (``evaluate --experiments real`` has it)."""
import subprocess
import sys
import textwrap

import numpy as np

from core.scans.completion import pick_segments
from core.scans.segment import Plane, Segment, Segmentation


def test_kd_trees_over_a_centre_column_at_x_zero_survive_flushed_denormals():
    """7-Scenes' cx is 320: its centre column back-projects to x = 0 exactly, and scipy's kd-tree build
    then recursed until the stack overflowed (a segfault) while denormals were flushed, as the CLI and the
    app flush them. Run in a child process: a regression kills the child, not the test run."""
    code = textwrap.dedent("""
        import numpy as np
        from core.fileio import flush_denormals
        from core.data.shapes import make_shape
        from core.scans.scan import Camera, back_project, drop_flying_pixels, smooth_surface
        from core.scans.scene import render_scene
        from core.scans.segment import segment_scan

        flush_denormals()
        rng = np.random.default_rng(0)
        p = rng.uniform(-1, 1, (2000, 3)); p[:200, 0] = 0.0  # more points at x = 0 than a leaf holds
        drop_flying_pixels(p, p); smooth_surface(p, p)
        camera = Camera(525.0, 525.0, 320.0, 240.0, 640, 480)  # a whole-number cx, as 7-Scenes'
        render = render_scene([make_shape("chairs", 3), make_shape("chairs", 9)], ["a", "b"], seed=5, camera=camera)
        pts = back_project(render.depth, camera)[0]
        assert (pts[..., 0] == 0).sum() > 100
        seg = segment_scan(render.depth, camera)
        print("segments", len(seg.segments))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "segments" in out.stdout


def _behind_a_wall():
    """An object whose points lie behind the plane taken for the floor (a wall, on a frame with no floor)."""
    H, W = 40, 60
    pts = np.full((H, W, 3), np.nan)
    labels = np.zeros((H, W), int)
    labels[10:30, 20:40] = 1
    v, u = np.nonzero(labels == 1)
    pts[v, u] = np.column_stack([0.8 + 0.01 * (u - 20), 0.01 * (v - 20), np.full(len(u), 2.0)])
    wall = Plane(np.array([-1.0, 0.0, 0.0]), 0.5, 5000)  # x = 0.5 facing -x: the object lies on its far side
    return Segmentation(labels, pts, wall, [wall], [Segment(1, int(labels.sum()), pts[v, u].mean(0), False)])


def test_an_object_that_does_not_stand_on_the_floor_found_is_skipped_or_refused():
    """Kitchen frame 680 took a wall for the floor; the objects lay behind it (height -0.21 m), and a fit
    scaled to a negative height was NaN, then an OverflowError drawing its free-space samples."""
    import pytest

    from core.fileio import DataError

    seg = _behind_a_wall()
    said = []
    assert pick_segments(seg, "all", said.append) == []
    assert "does not stand on the floor found" in said[0] and "nothing to fit" in said[-1]
    with pytest.raises(DataError, match="does not stand on the floor found"):
        pick_segments(seg, [(30, 20)], said.append)


def test_the_pose_fit_refuses_a_floor_above_its_object():
    import pytest

    import torch
    from core.fileio import DataError
    from core.model.decoder import Architecture, Decoder
    from core.scans.pose import fit_object

    decoder = Decoder(Architecture(latent_size=4, dims=[16, 16], latent_in=[], dropout_prob=0.0))
    points = np.random.default_rng(0).uniform(-0.2, 0.2, (500, 3)) + [0, 0, 2]
    normals = np.tile([0.0, 0.0, -1.0], (500, 1))
    with pytest.raises(DataError, match="does not stand on the floor"):
        fit_object(decoder, points, normals, np.array([0.0, -1.0, 0.0]), -1.0, torch.zeros(3, 4), height=0.8)


def _room():
    """A synthetic sensor scene (metres, NaN where nothing was hit) and its camera."""
    from core.data.shapes import make_shape
    from core.scans.scene import render_scene, sensor_camera

    render = render_scene([make_shape("chairs", 3)], ["chairs_00003"], seed=1, camera=sensor_camera(160, 120))
    return render.depth, render.camera


def test_nyu_raw_disparity_and_sun3d_bit_rotated_depth_are_decoded(tmp_path):
    """NYU Depth v2's raw .pgm holds the Kinect's disparity, little-endian under a big-endian header, 2047 where
    nothing came back; SUN3D's PNG holds millimetres rotated by three bits. Written here from a render as the
    sensors' tools write them, both read back as the render's metres."""
    from core.fileio import DataError
    from core.scans.scan import load_depth
    import imageio.v3 as iio
    import pytest

    depth, camera = _room()
    seen = np.isfinite(depth)
    raw = np.full(depth.shape, 2047, np.uint16)
    raw[seen] = np.round(1092.5 - 351.3 / depth[seen]).astype(np.uint16)
    pgm = tmp_path / "nyu.pgm"
    pgm.write_bytes(b"P5 %d %d 65535\n" % (depth.shape[1], depth.shape[0]) + raw.astype("<u2").tobytes())
    nyu = load_depth(pgm)
    assert np.array_equal(np.isfinite(nyu), seen)
    step = 351.3 / (1092.5 - raw[seen] - 0.5) - 351.3 / (1092.5 - raw[seen] + 0.5)  # one disparity step, in metres
    assert (np.abs(nyu[seen] - depth[seen]) <= step).all()

    mm = np.where(seen, np.round(1000 * np.nan_to_num(depth)), 0).astype(np.uint16)
    iio.imwrite(tmp_path / "sun.png", ((mm << 3) | (mm >> 13)).astype(np.uint16))
    sun = load_depth(tmp_path / "sun.png", depth_format="sun3d")
    assert np.array_equal(np.isfinite(sun), seen) and np.abs(sun[seen] - depth[seen]).max() <= 5e-4
    plain = load_depth(tmp_path / "sun.png")  # read as plain millimetres it is not the room
    assert not np.allclose(np.nan_to_num(plain), np.nan_to_num(sun))
    with pytest.raises(DataError, match="not NYU raw disparity"):
        load_depth(tmp_path / "sun.png", depth_format="nyu-disparity")
    with pytest.raises(DataError, match="unknown depth format 'kinect'"):
        load_depth(pgm, depth_format="kinect")


def test_no_reading_codes_nan_and_inf_never_reach_the_pipeline(tmp_path, capsys):
    """0 and 65535 in a 16-bit PNG, NaN and +-inf in a float image: all missing pixels; and the CLI reads a
    SUN3D frame through --depth-format (its objects found: the floor pixel is named, not the units)."""
    from core.cli import main
    from core.scans.scan import load_depth
    import imageio.v3 as iio

    depth, camera = _room()
    seen = np.isfinite(depth)
    floating = depth.copy()
    floating[0, :4] = [np.inf, -np.inf, np.nan, 0.0]
    np.save(tmp_path / "f.npy", floating)
    out = load_depth(tmp_path / "f.npy")
    assert np.isnan(out[0, :4]).all() and np.isfinite(out[np.isfinite(out)]).all()
    mm = np.where(seen, np.round(1000 * np.nan_to_num(depth)), 0).astype(np.uint16)
    mm[1, :3] = 65535
    iio.imwrite(tmp_path / "k.png", mm)
    assert np.isnan(load_depth(tmp_path / "k.png")[1, :3]).all()

    iio.imwrite(tmp_path / "sun.png", ((mm << 3) | (mm >> 13)).astype(np.uint16))
    floor = f"2,{depth.shape[0] - 2}"
    intrinsics = f"{camera.fx},{camera.fy},{camera.cx},{camera.cy}"
    args = ["complete", "default", str(tmp_path / "sun.png"), "--intrinsics", intrinsics, "--object", floor,
            "-o", str(tmp_path / "x.ply")]
    assert main(args) == 1 and "are the depth's units right?" in capsys.readouterr().out  # undecoded: 8x the depth
    assert main(args + ["--depth-format", "sun3d"]) == 1
    said = capsys.readouterr()
    assert "not on an object" in said.err and "units" not in said.out
