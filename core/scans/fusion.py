"""One fit per object over every frame of a sequence that sees it.

A sweep's frames (``sequence``) are segmented one by one (``segment``); the floor is estimated once, from
every frame's, in the world frame the poses give; the segments are brought into that frame and associated
into objects by how much their footprints on the floor overlap. Each object is fitted first in the frame
that sees most of it (``completion.fit_segment``, the single-frame fit), then its code and Sim(3) again on
the samples of every frame that sees it, each frame's free space included. Every frame gives the same
number of rows, so a near frame's many pixels do not drown a far frame's few. Before their samples are
pooled, the other frames are aligned to that first frame around the object (``sequence.align``): a
trajectory's ~10 cm errors would otherwise put one chair's two views side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from core.fileio import DataError
from core.fit.latent import FitData, nearest_code
from core.jobs import Cancelled
from core.mesh.meshing import SurfaceMesh, mesh_code
from core.model.bundle import Bundle
from .check import check_fit
from .completion import (FoundObject, ObjectView, PROMINENT_TRIES, category, fit_detail, fit_segment, no_worse,
                         object_pose, object_view, pick_segments, prominence, segment_pixel, standing_segments)
from .pose import (POSE_ETA, ObjectFit, _upright, fit_code_and_pose, gravity_frame, model_height, observed_height,
                   stand)
from .scan import back_project, observed_samples, posed_samples, sim3_scale, sticking_out
from .segment import Plane, Segment, Segmentation, floor_axes, segment_scan
from .sequence import Sequence, align, misfit

CELL = 0.05  # m: the floor grid on which footprints are compared
SAME = 0.25  # two segments are one object when their footprints' intersection is this share of their union: a
# chair's segment merged with the table's in one frame (the share of the smaller's would join them) is not the chair
AROUND = 0.15  # m: a view keeps its segment's points within the first fit's box grown by this much
ALIGN_RADII = (3.0, 1.0)  # m: the points around an object that align two frames: the room, then the object's
# surroundings (its own, the floor's, a table's). Around the object alone, 7-Scenes kitchen frames perturbed by
# 10 cm and 3 degrees came back to 0.6-5 cm at the chair, one to 14 cm
ALIGNED = 0.01  # m: frames whose points near the object already lie this close (``sequence.misfit``) keep their
# poses. The kitchen frames near the chair: 0.36-0.45 cm with their exact poses, 1.5-5.9 cm perturbed by 10 cm and
# 3 degrees; aligning the exact ones moved the chair's views 1-2 cm and its fit's free-space violation from 0.123
# to 0.142
ALIGN_LIMIT = (0.3, np.radians(15))  # an alignment moving a frame further (m, rad) is not trusted
ROWS = 8192  # rows of the pooled fits, shared equally between the views


@dataclass
class View:
    frame: int  # index into the sequence
    segment: Segment


@dataclass
class SceneObject:
    """A segment in each of the frames that see one object, the first the one it is fitted from first."""
    views: list[View]

    @property
    def anchor(self) -> View:
        return self.views[0]


@dataclass
class FusedObject:
    views: list[View]
    found: FoundObject  # the fit over every view, in the first view's camera frame (its ``model_to_camera`` in the JSON)
    single: FoundObject  # that view's own fit, the fused fit's start
    pose: np.ndarray  # (4, 4): the object's normalised frame -> world
    mesh: SurfaceMesh  # in the world frame
    camera_poses: dict[int, np.ndarray]  # frame -> (4, 4) the object's frame -> that camera
    aligned: dict[int, np.ndarray]  # frame -> the correction its alignment made to its pose (4, 4)

    def summary(self, sequence: Sequence, segs: list[Segmentation]) -> dict:
        a = self.views[0]
        names = sequence.names()
        return {**self.found.summary(segment_pixel(segs[a.frame], a.segment)), "first_frame": names[a.frame],
                "model_to_world": self.pose.tolist(),
                "model_to_camera_per_frame": {names[f]: m.tolist() for f, m in self.camera_poses.items()},
                "views": [{"frame": names[v.frame], "segment": v.segment.label, "pixels": v.segment.pixels,
                           "pixel": list(segment_pixel(segs[v.frame], v.segment)),
                           "alignment": self.aligned[v.frame].tolist()} for v in self.views],
                "single_frame_loss": self.single.fit.loss}


def _plane_to(plane: Plane, T: np.ndarray) -> Plane:
    """A plane n.x + d = 0 moved through the rigid motion T."""
    n = T[:3, :3] @ plane.normal
    return Plane(n, float(plane.offset - n @ T[:3, 3]), plane.inliers)


def world_floor(segs: list[Segmentation], poses: list[np.ndarray]) -> Plane | None:
    """The floor in the world frame from every frame's: the mean normal and the median offset of those whose
    normal lies within 10 degrees of the median one; None if no frame found one."""
    planes = [_plane_to(s.floor, T) for s, T in zip(segs, poses) if s.floor is not None]
    if not planes:
        return None
    normals = np.array([p.normal for p in planes])
    n = np.median(normals, axis=0)
    n /= np.linalg.norm(n)
    agree = [p for p in planes if p.normal @ n > np.cos(np.radians(10))] or planes
    n = np.mean([p.normal for p in agree], axis=0)
    n /= np.linalg.norm(n)
    return Plane(n, float(np.median([p.offset for p in agree])), int(sum(p.inliers for p in agree)))


def segment_sequence(sequence: Sequence, progress: Callable[[float], None] | None = None,
                     cancelled: Callable[[], bool] | None = None) -> tuple[list[Segmentation], Plane | None]:
    """Each frame segmented; the floor found from all of them (``world_floor``) joins their objects across
    frames and is given to the frames that found none. A frame keeps its own floor: with a rough trajectory
    (10 cm, 3 degrees) the shared one, carried into a frame by its pose error, puts the objects off the floor
    they stand on (the kitchen chair's free-space violation 0.18-0.22 against 0.16 from one frame)."""
    segs = []
    for k, scan in enumerate(sequence.scans):
        if cancelled is not None and cancelled():
            raise Cancelled()
        segs.append(segment_scan(scan.depth, scan.camera, source=str(scan.source)))
        if progress:
            progress((k + 1) / len(sequence))
    floor = world_floor(segs, sequence.camera_to_world)
    if floor is not None:
        for s, T in zip(segs, sequence.camera_to_world):
            if s.floor is None:
                s.floor = _plane_to(floor, np.linalg.inv(T))
    return segs, floor


def footprint(points_world: np.ndarray, floor: Plane | None) -> set[tuple[int, int]]:
    """The floor cells (``CELL``) under an object's points."""
    up = floor.normal if floor is not None else np.array([0.0, 0, 1.0])
    cells = np.floor(points_world @ floor_axes(up) / CELL).astype(int)
    return set(map(tuple, np.unique(cells, axis=0)))


def _moved(points: np.ndarray, T: np.ndarray, rotate_only: bool = False) -> np.ndarray:
    return points @ T[:3, :3].T + (0 if rotate_only else T[:3, 3])


def find_objects(sequence: Sequence, segs: list[Segmentation], floor: Plane | None,
                 warn: Callable[[str], None] = print) -> list[SceneObject]:
    """The objects the frames see: their standing segments (``standing_segments``, cut by the border or
    not) joined across frames where their footprints overlap (``SAME``), most prominent first (their
    prominence summed over the frames). The first view of each is its largest whole one; an object the
    border cuts in every frame is named and left out."""
    views, prints = [], []
    for f, seg in enumerate(segs):
        for s in standing_segments(seg, warn=lambda m: None):
            pts = seg.points[seg.labels == s.label]
            views.append(View(f, s))
            prints.append(footprint(_moved(pts, sequence.camera_to_world[f]), floor))
    parent = list(range(len(views)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i in range(len(views)):
        for j in range(i + 1, len(views)):
            shared = len(prints[i] & prints[j])
            if shared and shared >= SAME * len(prints[i] | prints[j]):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for k in range(len(views)):
        groups.setdefault(root(k), []).append(k)
    objects, cut = [], []
    for members in groups.values():
        whole = [k for k in members if not views[k].segment.cut_off]
        if not whole:
            v = views[members[0]]
            cut.append(f"{sequence.names()[v.frame]} at pixel {segment_pixel(segs[v.frame], v.segment)}")
            continue
        first = max(whole, key=lambda k: views[k].segment.pixels)
        objects.append(SceneObject([views[first]] + [views[k] for k in members if k != first]))
    if cut:
        warn(f"{len(cut)} object(s) cut by the image border in every frame that sees them: skipped ({'; '.join(cut[:3])}"
             f"{' ...' if len(cut) > 3 else ''})")
    score = {id(o): sum(prominence(segs[v.frame], v.segment) for v in o.views) for o in objects}
    return sorted(objects, key=lambda o: -score[id(o)])


def object_at(objects: list[SceneObject], segs: list[Segmentation], frame: int, pixel: tuple[int, int]) -> SceneObject:
    """The object whose segment in ``frame`` lies under ``pixel`` (refused as ``pick_segments`` refuses it),
    that view first."""
    s = pick_segments(segs[frame], [pixel], warn=lambda m: None)[0]
    for o in objects:
        for v in o.views:
            if v.frame == frame and v.segment.label == s.label:
                return SceneObject([v] + [w for w in o.views if w is not v])
    return SceneObject([View(frame, s)])


@dataclass
class _Pooled:
    """A view's points moved into the first view's camera: what the pooled fits sample."""
    frame: int
    view: ObjectView
    to_anchor: np.ndarray  # (4, 4) its camera -> the first view's camera
    sensor: tuple[np.ndarray, np.ndarray]  # the sensor's points and normals, first view's camera
    outside: np.ndarray
    centre: np.ndarray  # its camera centre, first view's camera


def _near(points: np.ndarray, box: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.all((points >= box[0]) & (points <= box[1]), axis=1)


def _pool(sequence: Sequence, segs: list[Segmentation], obj: SceneObject, box: tuple[np.ndarray, np.ndarray],
          warn: Callable[[str], None]) -> tuple[list[_Pooled], dict[int, np.ndarray]]:
    """Each view's points within ``box`` (first view's camera), its frame aligned to the first view's around
    the object (``sequence.align``, trusted up to ``ALIGN_LIMIT``)."""
    a = obj.anchor.frame
    Ta = sequence.camera_to_world[a]
    centre = (box[0] + box[1]) / 2
    rng = np.random.default_rng(0)
    normals = {v.frame: back_project(sequence.scans[v.frame].depth, sequence.scans[v.frame].camera)[1] for v in obj.views}

    def around(f: int, T: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Up to 6000 of frame ``f``'s points (and normals) within ``radius`` of the object, moved by T."""
        ok = np.isfinite(normals[f]).all(-1) & np.isfinite(segs[f].points).all(-1)
        P, N = _moved(segs[f].points[ok], T), _moved(normals[f][ok], T, True)
        near = np.flatnonzero(np.linalg.norm(P - centre, axis=1) < radius)
        near = rng.choice(near, min(6000, len(near)), replace=False)
        return P[near], N[near]

    fixed = {r: around(a, np.eye(4), r) for r in ALIGN_RADII}
    pooled, corrections = [], {}
    # one segment a frame, the one whose footprint matches the first view's best, if it matches by SAME: an
    # object joined across frames through others' segments may hold, in one frame, a table's leg beside it, or
    # the chair merged with the table
    up = Plane(Ta[:3, :3] @ segs[a].floor.normal, 0.0, 0)

    def cells(v: View) -> set:
        return footprint(_moved(segs[v.frame].points[segs[v.frame].labels == v.segment.label],
                                sequence.camera_to_world[v.frame]), up)

    first = cells(obj.anchor)
    best: dict[int, tuple[float, View]] = {}
    for v in obj.views:
        c = cells(v)
        iou = len(c & first) / max(len(c | first), 1)
        if iou >= SAME and iou > best.get(v.frame, (0.0, None))[0]:
            best[v.frame] = (iou, v)
    for f, (_, view_of) in best.items():
        seg = segs[f]
        T = np.linalg.inv(Ta) @ sequence.camera_to_world[f]
        correction = np.eye(4)
        if f != a and all(len(fixed[r][0]) > 100 for r in ALIGN_RADII) and \
                misfit(around(f, T, ALIGN_RADII[-1])[0], *fixed[ALIGN_RADII[-1]]) > ALIGNED:
            for r in ALIGN_RADII:  # the room around first (walls, floor, furniture pin it down), then the object's surroundings
                moving = around(f, T, r)[0]
                if len(moving) > 100:
                    correction = align(moving, *fixed[r], start=correction)
            moved_by = np.linalg.norm(_moved(centre, correction) - centre)
            angle = np.arccos(np.clip((np.trace(correction[:3, :3]) - 1) / 2, -1, 1))
            if moved_by > ALIGN_LIMIT[0] or angle > ALIGN_LIMIT[1]:
                warn(f"{sequence.names()[f]}: aligning it to {sequence.names()[a]} would move it "
                     f"{100 * moved_by:.0f} cm, {np.degrees(angle):.0f} degrees at the object: its pose is kept")
                correction = np.eye(4)
        T = correction @ T
        corrections[f] = correction
        outline = seg.labels == view_of.segment.label
        inside = np.zeros_like(outline)
        inside[outline] = _near(_moved(seg.points[outline], T), box)
        if inside.sum() < 50:
            continue
        view = object_view(seg, inside, normals[f])
        pooled.append(_Pooled(f, view, T, (_moved(view.sensor[0], T), _moved(view.sensor[1], T, True)),
                              _moved(view.outside, T), T[:3, 3].copy()))
    return pooled, corrections


def _pose_samples(pooled: list[_Pooled], eta: float, rows: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Object samples (xyz, metric target, free; first view's camera) from every view, ``rows`` shared equally:
    each view's free space on its own camera's rays, and what it saw around the object's outline."""
    parts = []
    each = max(rows // len(pooled), 1)
    for p in pooled:
        xyz, target, free = observed_samples(*p.sensor, p.centre, eta, 0.3, max_points=each // 3, seed=seed,
                                             margin=3 * p.view.noise)
        out = p.outside[np.random.default_rng(seed).permutation(len(p.outside))[:each // 4]]
        parts.append((np.concatenate([xyz, out]).astype(np.float32), np.concatenate([target, np.zeros(len(out), np.float32)]),
                      np.concatenate([free, np.ones(len(out), bool)])))
    return tuple(torch.from_numpy(np.concatenate([q[i] for q in parts])) for i in range(3))


def _shape_samples(pooled: list[_Pooled], model_to_anchor: np.ndarray, rows: int, seed: int = 0) -> FitData:
    """The posed fit's samples (``scan.posed_samples``, model frame) from every view, ``rows`` shared equally."""
    datas = []
    for p in pooled:
        camera_to_model = np.linalg.inv(model_to_anchor) @ p.to_anchor
        datas.append(posed_samples(*p.view.smoothed, p.view.noise, camera_to_model, max_points=max(rows // len(pooled) // 3, 1),
                                   seed=seed))
    return FitData(torch.cat([d.xyz for d in datas]), torch.cat([d.sdf for d in datas]),
                   torch.cat([d.free for d in datas]), float(np.median([d.noise for d in datas])))


def _judge(bundle: Bundle, sequence: Sequence, segs: list[Segmentation], pooled: list[_Pooled],
           model_to_anchor: np.ndarray) -> Callable[[torch.Tensor], float]:
    """How far a code's shape sticks out of the object's outline, averaged over the views
    (``completion.outline_judge`` in each)."""
    def judge(code: torch.Tensor) -> float:
        mesh = mesh_code(bundle.decoder, code, 64)
        scores = []
        for p in pooled:
            M = np.linalg.inv(p.to_anchor) @ model_to_anchor
            margin = max(3 * p.view.noise, 2 * (2 / 64) * sim3_scale(M))
            scores.append(sticking_out(mesh.moved(M).to_trimesh(), segs[p.frame].points, p.view.outline, margin))
        return float(np.mean(scores))

    return judge


def fit_views(bundle: Bundle, sequence: Sequence, segs: list[Segmentation], obj: SceneObject, res: int = 128,
              height: float | None = None, progress: Callable[[float, ObjectFit | None], None] | None = None,
              cancelled: Callable[[], bool] | None = None, warn: Callable[[str], None] = print) -> FusedObject:
    """Pose and shape of one object from every view of it: the first view's own fit (``fit_segment``), then
    code and pose on every view's samples (joint LM, then the shape at that pose and the pose with that shape,
    twice, as the single-frame fit ends)."""
    a = obj.anchor.frame
    scan_a, seg_a = sequence.scans[a], segs[a]
    _, normals_a, _ = back_project(scan_a.depth, scan_a.camera)
    share = 0.6 if len(obj.views) > 1 else 1.0
    single = fit_segment(bundle, seg_a, obj.anchor.segment, normals_a, res, height,
                         (lambda f, fit: progress(share * f, fit)) if progress else None, cancelled, warn,
                         camera=scan_a.camera)
    Ta = sequence.camera_to_world[a]
    if len(obj.views) == 1 or single.mesh.is_empty:
        return _fused(obj.views, single, single, Ta, sequence, {a: np.eye(4)})
    lo, hi = single.mesh.vertices.min(0), single.mesh.vertices.max(0)
    pooled, corrections = _pool(sequence, segs, obj, (lo - AROUND, hi + AROUND), warn)
    if len(pooled) < 2:
        return _fused(obj.views, single, single, Ta, sequence, corrections)
    decoder, codes = bundle.decoder, bundle.latents.codes
    up, offset = seg_a.floor.normal, seg_a.floor.offset
    G = gravity_frame(up)
    sensor_points = np.concatenate([p.sensor[0] for p in pooled])
    height_seen = observed_height(sensor_points, up, offset)
    fit = single.fit
    # code and pose jointly on every view's samples, the scale held
    xyz, target, free = _pose_samples(pooled, 0.02, ROWS)
    joint = fit_code_and_pose(decoder, xyz, target, free, G, fit.code, _upright(fit, G), iterations=15,
                              scale_damping=1e4, cancelled=cancelled)
    fit = replace(fit, code=joint.code, model_to_camera=joint.model_to_camera, iterations=fit.iterations + joint.iterations,
                  seconds=fit.seconds + joint.seconds, loss=joint.loss)
    if progress:
        progress(0.7, fit)
    for step in range(2):
        if step:  # the second time in the frame the shape found defines, as ``fit_segment`` ends
            mesh = mesh_code(decoder, fit.code, 64, cancelled=cancelled)
            if not mesh.is_empty:
                fit = replace(fit, model_to_camera=object_pose(mesh, fit.model_to_camera))
        data = _shape_samples(pooled, fit.model_to_camera, 5 * ROWS)
        found = fit_detail(decoder, data, codes, fit.code, cancelled=cancelled)
        code = no_worse(_judge(bundle, sequence, segs, pooled, fit.model_to_camera), fit.code, found.code)
        fit = replace(fit, code=code, iterations=fit.iterations + found.iterations, seconds=fit.seconds + found.seconds)
        xyz, target, free = _pose_samples(pooled, POSE_ETA, 4096)
        moved = fit_code_and_pose(decoder, xyz, target, free, G, fit.code, _upright(fit, G), iterations=10,
                                  code_damping=1e3, scale_damping=1e4, cancelled=cancelled)
        fit = replace(fit, model_to_camera=moved.model_to_camera, loss=moved.loss,
                      iterations=fit.iterations + moved.iterations, seconds=fit.seconds + moved.seconds)
        fit = stand(decoder, fit, height_seen, up, offset) or fit
        if progress:
            progress(0.8 + 0.1 * step, fit)
    mesh = mesh_code(decoder, fit.code, res, cancelled=cancelled)
    placed = mesh.moved(fit.model_to_camera)
    pose = fit.model_to_camera if mesh.is_empty else object_pose(mesh, fit.model_to_camera)
    nearest = bundle.latents.names[nearest_code(codes, fit.code)[0]]
    own = object_view(seg_a, seg_a.labels == obj.anchor.segment.label, normals_a)  # judged as the single fit is
    check = check_fit(placed.vertices, placed.faces, own.sensor[0], seg_a.points, scan_a.camera, up, offset)
    fused = FoundObject(obj.anchor.segment, fit, placed, nearest, pose, check)
    if progress:
        progress(1.0, None)
    return _fused(obj.views, fused, single, Ta, sequence, corrections)


def _fused(views: list[View], found: FoundObject, single: FoundObject, Ta: np.ndarray, sequence: Sequence,
           corrections: dict[int, np.ndarray]) -> FusedObject:
    pose = Ta @ found.pose
    frames = sorted({v.frame for v in views})
    cameras = {f: np.linalg.inv(sequence.camera_to_world[f]) @ pose for f in frames}
    for f in frames:
        corrections.setdefault(f, np.eye(4))
    return FusedObject(views, found, single, pose, found.mesh.moved(Ta), cameras, corrections)


@dataclass
class SequenceScene:
    """A sequence's frames segmented, the floor found once, and the objects across frames."""
    sequence: Sequence
    segs: list[Segmentation]
    floor: Plane
    objects: list[SceneObject]


def find_scene(sequence: Sequence, progress: Callable[[float], None] | None = None,
               warn: Callable[[str], None] = print, cancelled: Callable[[], bool] | None = None) -> SequenceScene:
    """``segment_sequence`` and ``find_objects``; refused without a floor in any frame (the objects are
    placed on it)."""
    segs, floor = segment_sequence(sequence, progress, cancelled)
    if floor is None:
        raise DataError(f"{sequence.names()[0]}...: no floor found in any of the {len(sequence)} frames: a sequence's "
                        "objects are placed on the floor")
    return SequenceScene(sequence, segs, floor, find_objects(sequence, segs, floor, warn))


def fit_objects(bundle: Bundle, scene: SequenceScene, objects: list[SceneObject], res: int = 128,
                progress: Callable[[float, ObjectFit | None], None] | None = None,
                cancelled: Callable[[], bool] | None = None, warn: Callable[[str], None] = print) -> list[FusedObject]:
    """``fit_views`` for each of ``objects``; ``progress`` gets the fraction of all done. An object the model
    does not know (``check``) is named."""
    height = model_height(bundle.decoder, bundle.latents.codes)
    fitted = []
    for k, obj in enumerate(objects):
        part = (lambda f, fit, k=k: progress((k + f) / len(objects), fit)) if progress else None
        fused = fit_views(bundle, scene.sequence, scene.segs, obj, res, height, part, cancelled, warn)
        if fused.found.check is not None and not fused.found.check.known:
            a = obj.anchor
            warn(f"object seen in {len({v.frame for v in obj.views})} frame(s) (first {scene.sequence.names()[a.frame]} at pixel "
                 f"{segment_pixel(scene.segs[a.frame], a.segment)}): not a {category(bundle)} "
                 f"(score {fused.found.check.score:.2f})")
        fitted.append(fused)
    return fitted


def complete_sequence(bundle: Bundle, sequence: Sequence, which: str | tuple[int, tuple[int, int]] = "prominent",
                      res: int = 128, progress: Callable[[float, ObjectFit | None], None] | None = None,
                      cancelled: Callable[[], bool] | None = None,
                      warn: Callable[[str], None] = print) -> tuple[SequenceScene, list[FusedObject]]:
    """Segment every frame, find the objects across frames and fit the chosen ones over all their views:
    ``prominent`` (the most prominent the model knows, of the first ``PROMINENT_TRIES``), ``all``, or
    (frame index, (u, v)) for the object under that pixel of that frame."""
    scene = find_scene(sequence, (lambda f: progress(0.1 * f, None)) if progress else None, warn)
    if isinstance(which, tuple):
        chosen = [object_at(scene.objects, scene.segs, which[0], which[1])]
    elif which in ("all", "prominent"):
        chosen = scene.objects
    else:
        raise ValueError(f"unknown choice of objects {which!r} (prominent, all, or a frame's pixel)")
    if not chosen:
        warn(f"nothing to fit: no object stands whole on the floor in any of the {len(sequence)} frames")
        return scene, []
    rest = (lambda f, fit: progress(0.1 + 0.9 * f, fit)) if progress else None
    if which != "prominent":
        return scene, fit_objects(bundle, scene, chosen, res, rest, cancelled, warn)
    tries = chosen[:PROMINENT_TRIES]
    for k, obj in enumerate(tries):  # the most prominent object the model knows
        part = (lambda f, fit, k=k: rest((k + f) / len(tries), fit)) if rest else None
        fused = fit_objects(bundle, scene, [obj], res, part, cancelled, warn)[0]
        if fused.found.check is None or fused.found.check.known:
            return scene, [fused]
    warn(f"nothing to fit: the {len(tries)} most prominent objects are not what the model knows (pick one by "
         "FRAME:U,V, or --all-objects, to see its fit anyway)")
    return scene, []
