"""Is a fit what the model knows (scans.check): unexplained points, seen-through space, size."""
from pathlib import Path

import numpy as np
import pytest
import trimesh

from core.scans.check import HEIGHT, LIMITS, FitCheck, check_fit, seen_through
from core.scans.scan import Camera, back_project

CAM = Camera(200.0, 200.0, 80.0, 60.0, 160, 120)


def _scene(box_depth: float = 2.0):
    """A wall 3 m away and a 0.8 m box standing 2 m away on a floor 1.2 m below the camera."""
    depth = np.full((120, 160), 3.0, np.float32)
    box = trimesh.creation.box(extents=(0.5, 0.8, 0.4)).apply_translation([0.0, 1.2 - 0.4, box_depth + 0.2])
    v, u = np.mgrid[0:120, 0:160]
    rays = np.column_stack([(u.ravel() - CAM.cx) / CAM.fx, (v.ravel() - CAM.cy) / CAM.fy, np.ones(u.size)])
    loc, ray, _ = box.ray.intersects_location(np.zeros_like(rays), rays, multiple_hits=False)
    depth.reshape(-1)[ray] = loc[:, 2]
    pts = back_project(depth, CAM)[0]
    mask = np.zeros(depth.shape, bool)
    mask.reshape(-1)[ray] = True
    up, offset = np.array([0.0, -1.0, 0.0]), 1.2  # floor: y = 1.2 (y down), its normal towards the camera
    return box, pts, mask, up, offset


def test_a_fit_that_explains_its_points_inside_the_seen_space_is_known():
    box, pts, mask, up, offset = _scene()
    check = check_fit(box.vertices, box.faces, pts[mask], pts, CAM, up, offset)
    assert check.unexplained < 0.01 and check.free_space < 0.01 and check.height == pytest.approx(0.8)
    assert check.known and check.score == pytest.approx(max(HEIGHT[0] / 0.8, 0.8 / HEIGHT[1]), rel=0.05)


def test_unexplained_points_seen_through_space_and_size_each_reject():
    box, pts, mask, up, offset = _scene()
    small = box.copy().apply_scale(0.5)  # explains a quarter of the points: the rest unexplained
    small.apply_translation(box.centroid - small.centroid)
    assert check_fit(small.vertices, small.faces, pts[mask], pts, CAM, up, offset).unexplained > 0.5
    ahead = box.copy().apply_translation([0.6, 0.0, -0.5])  # where the sensor saw the wall through empty space
    assert check_fit(ahead.vertices, ahead.faces, pts[mask], pts, CAM, up, offset).free_space > LIMITS["free_space"]
    tall = box.copy().apply_scale([1.0, 2.5, 1.0])  # 2 m tall: no chair
    tall.apply_translation([0, 1.2 - tall.bounds[1][1], 0])
    check = check_fit(tall.vertices, tall.faces, pts[mask], pts, CAM, up, offset)
    assert check.height == pytest.approx(2.0) and not check.known
    assert seen_through(np.zeros((0, 3)), pts, CAM) == 0.0
    assert not FitCheck(0.0, 0.0, float("nan"), 1.5).known and FitCheck(0.0, 0.0, float("nan"), 1.0).known


def test_an_unknown_prominent_object_gives_way_to_the_next(tiny_experiment, monkeypatch):
    """The most prominent object, if not what the model knows, is never the pick: the next is fitted."""
    import core.scans.completion as C
    from core.model.bundle import load_bundle
    from core.scans.scan import load_scan

    scan = load_scan(Path(__file__).parents[1] / "resources" / "scans" / "room_two_chairs.png")
    scores = iter([3.0, 0.5])
    monkeypatch.setattr(C, "check_fit", lambda *a, **k: FitCheck(0.5, 0.0, 0.9, next(scores)))
    notes = []
    seg, found = C.complete_scene(load_bundle(tiny_experiment / "bundle.safetensors"), scan, "prominent", 24,
                                  warn=notes.append)
    first = C.pick_segments(seg, "prominent", warn=lambda m: None)[0]
    assert len(found) == 1 and found[0].segment is not first and found[0].check.known
    assert any("not a chair (score 3.00" in n for n in notes)


def test_objects_too_small_for_a_chair_are_skipped_unless_picked():
    from core.scans.completion import TOO_SMALL, extent, pick_segments
    from core.scans.segment import Segment, Segmentation

    labels = np.zeros((40, 60), int)
    labels[5:35, 5:25], labels[10:20, 40:50] = 1, 2
    pts = np.zeros((40, 60, 3))
    v, u = np.mgrid[0:40, 0:60]
    pts[..., 0], pts[..., 1], pts[..., 2] = u * 0.03, v * 0.03, 2.0  # 3 cm pixels: 0.6 m and 0.3 m wide objects
    pts[labels == 2, :2] *= 0.3  # object 2 squeezed to ~0.1 m across
    seg = Segmentation(labels, pts, None, [], [Segment(1, 600, pts[labels == 1].mean(0), False),
                                               Segment(2, 100, pts[labels == 2].mean(0), False)])
    assert extent(seg, seg.segments[0]) > TOO_SMALL > extent(seg, seg.segments[1])
    notes = []
    assert [s.label for s in pick_segments(seg, "all", warn=notes.append)] == [1]
    assert any("too small" in n for n in notes)
    assert [s.label for s in pick_segments(seg, [(45, 15)], warn=notes.append)] == [2]  # picked: fitted anyway


def test_objects_taller_than_the_model_holds_are_skipped_unless_picked():
    """A cupboard or a fridge reaching 2 m above the floor would fail the height check after a minute's fit:
    it is skipped before (a chair's 0.8 m is fitted), and fitted when picked by its pixel."""
    from core.scans.completion import TOO_TALL, floor_height, pick_segments
    from core.scans.segment import Plane, Segment, Segmentation

    labels = np.zeros((40, 60), int)
    labels[5:35, 5:25], labels[5:35, 35:55] = 1, 2
    pts = np.zeros((40, 60, 3))
    v, u = np.mgrid[0:40, 0:60]
    pts[..., 0], pts[..., 2] = u * 0.03, 3.0
    pts[..., 1] = 1.5 - (34 - v) / 29 * 0.8  # object 1 from the floor (1.5 m below the camera) up 0.8 m
    pts[labels == 2, 1] = 1.5 - (34 - v[labels == 2]) / 29 * 2.0  # object 2 up 2 m
    floor = Plane(np.array([0.0, -1.0, 0.0]), 1.5, 1000)
    seg = Segmentation(labels, pts, floor, [floor], [Segment(k, 600, pts[labels == k].mean(0), False) for k in (1, 2)])
    assert floor_height(seg, seg.segments[0]) < TOO_TALL < floor_height(seg, seg.segments[1])
    notes = []
    assert [s.label for s in pick_segments(seg, "all", warn=notes.append)] == [1]
    assert any("taller than what the model holds" in n for n in notes)
    assert [s.label for s in pick_segments(seg, [(45, 15)], warn=notes.append)] == [2]  # picked: fitted anyway


def test_what_one_shape_of_a_model_is_called():
    """'not a chair' for a model of chairs, 'not a seat' for the seating family's."""
    from types import SimpleNamespace

    from core.scans.completion import category

    class Table(list):  # a LatentTable's len() and names
        names = property(lambda self: list(self))

    assert category(SimpleNamespace(info={}, latents=Table(["chairs_00001"]))) == "chair"
    assert category(SimpleNamespace(info={}, latents=Table(["seating_00007"]))) == "seat"
    assert category(SimpleNamespace(info={"category": "sofas"}, latents=Table([]))) == "sofa"
    assert category(SimpleNamespace(info={}, latents=Table([]))) == "shape"
