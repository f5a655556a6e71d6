"""Procedural shape categories (chairs, tables, sofas, and the seating family of ``seating``) built from
manifold3d booleans.

There is no ShapeNet here, so the project makes its own data. Every shape is watertight by
construction (a union of closed solids), in canonical pose (y up, front facing +z), and fully
determined by (category, seed). Units are arbitrary; ``samples.normalize`` maps into the unit sphere.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from tqdm import tqdm

from core.fileio import atomic_write

from . import seating
from .solids import SEGMENTS, Solid, box, curved_panel, rod, rotate_about, rounded_box, union


# --- chairs ---------------------------------------------------------------------------------------

def chair(rng: np.random.Generator) -> Solid:
    w, d = rng.uniform(0.8, 1.2), rng.uniform(0.75, 1.1)
    h = rng.uniform(0.8, 1.1)  # seat height
    t = rng.uniform(0.05, 0.12)  # seat thickness
    seat_shape = rng.choice(["rect", "rounded", "round"], p=[0.5, 0.3, 0.2])
    if seat_shape == "round":
        d = w
        seat = Solid.cylinder(t, w / 2, w / 2, 2 * SEGMENTS, center=True).rotate((90, 0, 0)).translate((0, h - t / 2, 0))
    elif seat_shape == "rounded":
        seat = rounded_box((w, t, d), (0, h - t / 2, 0), rng.uniform(0.02, t / 2))
    else:
        seat = box((w, t, d), (0, h - t / 2, 0))
    parts = [seat]
    base = rng.choice(["legs", "splayed", "pedestal", "panels"], p=[0.45, 0.25, 0.2, 0.1])
    leg_r = rng.uniform(0.025, 0.05)
    square = bool(rng.random() < 0.5)
    inset = rng.uniform(0.04, 0.12)
    if base in ("legs", "splayed"):
        splay = 0.0 if base == "legs" else rng.uniform(0.06, 0.18)
        xs, zs = w / 2 - inset, d / 2 - inset
        if seat_shape == "round":
            xs = zs = (w / 2 - inset) / np.sqrt(2)
        for sx in (-1, 1):
            for sz in (-1, 1):
                top = (sx * xs, h - t / 2, sz * zs)
                foot = (sx * (xs + splay), 0.0, sz * (zs + splay))
                parts.append(rod(foot, top, leg_r, square))
        if rng.random() < 0.4:  # stretchers between the legs
            y = rng.uniform(0.15, 0.35) * h
            k = y / h
            for sx in (-1, 1):
                a = (sx * (xs + splay * (1 - k)), y, -(zs + splay * (1 - k)))
                b = (sx * (xs + splay * (1 - k)), y, zs + splay * (1 - k))
                parts.append(rod(a, b, leg_r * 0.6))
    elif base == "pedestal":
        col_r = rng.uniform(0.04, 0.07)
        parts.append(rod((0, 0.08, 0), (0, h - t, 0), col_r))
        spokes = int(rng.choice([4, 5]))
        reach = rng.uniform(0.35, 0.55)
        for k in range(spokes):
            a = 2 * np.pi * k / spokes
            foot = (reach * np.cos(a), 0.04, reach * np.sin(a))
            parts.append(rod((0, 0.1, 0), foot, 0.035, square=True))
            parts.append(Solid.sphere(0.045, SEGMENTS).translate((foot[0], 0.045, foot[2])))
    else:  # solid side panels
        pt = rng.uniform(0.04, 0.08)
        for sx in (-1, 1):
            parts.append(box((pt, h - t, d * rng.uniform(0.8, 1.0)), (sx * (w / 2 - pt / 2), (h - t) / 2, 0)))

    # back rest, hinged at the back edge of the seat and tilted backwards
    bh = rng.uniform(0.5, 1.0)
    bt = rng.uniform(0.04, 0.09)
    tilt = rng.uniform(0.0, 20.0)
    style = rng.choice(["solid", "slats", "curved", "frame"], p=[0.35, 0.25, 0.25, 0.15])
    bw = w * (rng.uniform(0.85, 1.0) if seat_shape != "round" else 0.8)
    # hinge at the back edge; on a round seat, where the back's corners meet the rim
    zh = -d / 2 if seat_shape != "round" else -np.sqrt((w / 2) ** 2 - (bw / 2) ** 2)
    z0 = zh + bt / 2
    if style == "solid":
        back = box((bw, bh, bt), (0, h + bh / 2, z0))
    elif style == "curved":
        back = curved_panel(bw, bh, bt, rng.uniform(0.6, 1.5), h, z0 - bt / 2)
    else:
        post_r = rng.uniform(0.025, 0.04)
        rails = [box((bw, rng.uniform(0.06, 0.14), bt), (0, h + bh - 0.05, z0))]
        for sx in (-1, 1):
            rails.append(box((2 * post_r, bh, bt), (sx * (bw / 2 - post_r), h + bh / 2, z0)))
        if style == "slats":
            n = int(rng.integers(2, 6))
            for k in range(n):
                x = -bw / 2 + bw * (k + 1) / (n + 1)
                rails.append(box((rng.uniform(0.03, 0.06), bh, bt * 0.8), (x, h + bh / 2, z0)))
        else:
            rails.append(box((bw, 0.06, bt), (0, h + bh * rng.uniform(0.3, 0.6), z0)))
        back = union(rails)
    parts.append(rotate_about(back, (-tilt, 0, 0), (0, h, zh)))

    if rng.random() < 0.35:  # arms
        ah = rng.uniform(0.2, 0.3)
        ar = rng.uniform(0.025, 0.045)
        for sx in (-1, 1):
            x = sx * (w / 2 - ar)
            parts.append(box((2 * ar, 2 * ar, d * 0.9), (x, h + ah, -0.05 * d)))
            parts.append(rod((x, h - t / 2, d * 0.3), (x, h + ah, d * 0.3), ar * 0.8))
    return union(parts)


# --- tables ---------------------------------------------------------------------------------------

def table(rng: np.random.Generator) -> Solid:
    w, d = rng.uniform(1.0, 2.0), rng.uniform(0.7, 1.2)
    h = rng.uniform(0.6, 1.0)
    t = rng.uniform(0.04, 0.1)
    round_top = rng.random() < 0.3
    if round_top:
        d = w = rng.uniform(0.9, 1.4)
        parts = [Solid.cylinder(t, w / 2, w / 2, 3 * SEGMENTS).rotate((90, 0, 0)).translate((0, h, 0))]
    else:
        parts = [box((w, t, d), (0, h - t / 2, 0))]
    base = rng.choice(["legs", "pedestal", "trestle"], p=[0.6, 0.25, 0.15])
    r = rng.uniform(0.03, 0.06)
    if base == "legs":
        inset = rng.uniform(0.05, 0.15)
        xs, zs = (w / 2 - inset, d / 2 - inset) if not round_top else ((w / 2 - inset) / np.sqrt(2),) * 2
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(rod((sx * xs, 0, sz * zs), (sx * xs, h - t / 2, sz * zs), r, bool(rng.random() < 0.5)))
        if rng.random() < 0.5:  # apron
            parts.append(box((2 * xs, 0.08, 2 * zs), (0, h - t - 0.04, 0)) - box((2 * xs - 0.06, 0.2, 2 * zs - 0.06), (0, h - t - 0.04, 0)))
    elif base == "pedestal":
        parts.append(rod((0, 0, 0), (0, h - t / 2, 0), rng.uniform(0.05, 0.1)))
        foot = rng.uniform(0.25, 0.45)
        parts.append(Solid.cylinder(0.05, foot, foot * 0.8, 2 * SEGMENTS).rotate((-90, 0, 0)))
    else:
        for sx in (-1, 1):
            x = sx * (w / 2 - 0.15)
            parts.append(box((0.06, h - t, 0.08), (x, (h - t) / 2, 0)))
            parts.append(box((0.1, 0.06, d * 0.8), (x, 0.03, 0)))
        parts.append(box((w - 0.3, 0.06, 0.05), (0, h * 0.35, 0)))
    return union(parts)


# --- sofas ----------------------------------------------------------------------------------------

def sofa(rng: np.random.Generator) -> Solid:
    w = rng.uniform(1.6, 2.6)
    d = rng.uniform(0.8, 1.1)
    base_h = rng.uniform(0.25, 0.45)
    leg = rng.uniform(0.0, 0.15)
    cr = rng.uniform(0.02, 0.08)
    parts = [rounded_box((w, base_h, d), (0, leg + base_h / 2, 0), cr)]
    back_h = rng.uniform(0.4, 0.7)
    back_t = rng.uniform(0.15, 0.3)
    parts.append(rounded_box((w, back_h + base_h, back_t), (0, leg + (back_h + base_h) / 2, -d / 2 + back_t / 2), cr))
    arms = rng.choice([0, 1, 2], p=[0.15, 0.15, 0.7])
    arm_w = rng.uniform(0.12, 0.25)
    arm_h = rng.uniform(0.15, 0.35)
    for sx in {0: (), 1: (1,), 2: (-1, 1)}[int(arms)]:
        parts.append(rounded_box((arm_w, base_h + arm_h, d), (sx * (w / 2 - arm_w / 2), leg + (base_h + arm_h) / 2, 0), cr))
    n = int(rng.integers(1, 4))
    inner = w - 2 * arm_w * (arms > 0)
    ch = rng.uniform(0.08, 0.16)
    for k in range(n):
        cw = inner / n
        parts.append(rounded_box((cw - 0.02, ch, d - back_t), (-inner / 2 + cw * (k + 0.5), leg + base_h + ch / 2 - 0.01, back_t / 2), 0.04))
    if leg > 0.02:
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(rod((sx * (w / 2 - 0.1), 0, sz * (d / 2 - 0.1)), (sx * (w / 2 - 0.1), leg + 0.01, sz * (d / 2 - 0.1)), 0.03))
    return union(parts)


CATEGORIES: dict[str, Callable[[np.random.Generator], Solid]] = {"chairs": chair, "tables": table, "sofas": sofa,
                                                                  "seating": seating.seating}


NOUNS = {"seating": "seat"}  # categories whose one shape is not the category's name less its s


def singular(category: str) -> str:
    """What one shape of ``category`` is called: chairs -> chair, seating -> seat."""
    return NOUNS.get(category, category.removesuffix("s"))


def shape_kind(category: str, seed: int) -> str:
    """What shape ``(category, seed)`` is: a seating kind (``seating.kind``, from the seed alone), else the
    category's own name in the singular."""
    if category == "seating":
        return seating.kind(_rng(category, seed))
    return singular(category)


def _named(name: str) -> tuple[str, int] | None:
    """(category, seed) of a shape named as ``synth`` names them (<category>_<seed>); None for other names."""
    category, _, seed = name.rpartition("_")
    return (category, int(seed)) if category in CATEGORIES and seed.isdigit() else None


def name_kind(name: str) -> str | None:
    """The kind of a shape named as ``synth`` names them (<category>_<seed>: seating_00012 -> sofa); None for
    other names (a ShapeNet id, a fitted code)."""
    named = _named(name)
    return shape_kind(*named) if named else None


def named_shape(name: str) -> trimesh.Trimesh:
    """The mesh ``synth`` made for the shape named <category>_<seed>: a model's training shape, by its name."""
    named = _named(name)
    if named is None:
        raise ValueError(f"{name!r} is not a synthetic shape's name (<category>_<seed>; {', '.join(CATEGORIES)})")
    return make_shape(*named)


def kinds(names: list[str]) -> dict[str, list[str]]:
    """The names of each kind (``name_kind``), in their order; names without a kind are left out."""
    found: dict[str, list[str]] = {}
    for name in names:
        kind = name_kind(name)
        if kind is not None:
            found.setdefault(kind, []).append(name)
    return found


def _rng(category: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([hash_category(category), seed])


def make_shape(category: str, seed: int) -> trimesh.Trimesh:
    """One watertight mesh of ``category``, normalised into the unit sphere; same seed, same mesh."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    from .samples import normalize  # late import: samples imports heavy geometry code

    solid = CATEGORIES[category](_rng(category, seed))
    m = solid.to_mesh()
    verts, tris = np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts)
    mesh = trimesh.Trimesh(verts, tris, process=True)
    if not mesh.is_watertight:  # parts touching along an edge: merging their vertices makes it non-manifold
        mesh = trimesh.Trimesh(verts, tris, process=False)  # manifold3d's own indexing is manifold
    if not mesh.is_watertight or not mesh.is_winding_consistent or mesh.volume <= 0:
        raise RuntimeError(f"{category} seed {seed}: generated mesh is not a closed, outward-facing solid")
    return normalize(mesh)[0]


def sheet_soup(mesh: trimesh.Trimesh, seed: int) -> trimesh.Trimesh:
    """A closed mesh taken apart as real part soups are: every face its own single-sided sheet (no shared
    vertices), half of them flipped, in random order. Its inside is the closed mesh's; the winding
    number, where sheets do not vote, sees none of it."""
    rng = np.random.default_rng(seed)
    tri = mesh.vertices[mesh.faces][rng.permutation(len(mesh.faces))]
    flip = rng.random(len(tri)) < 0.5
    tri[flip] = tri[flip][:, ::-1]
    return trimesh.Trimesh(tri.reshape(-1, 3), np.arange(3 * len(tri)).reshape(-1, 3), process=False)


def hash_category(category: str) -> int:
    return sum(ord(c) * 31 ** i for i, c in enumerate(category)) % (2**31)


def synth(category: str, count: int, seed: int, out_dir: str | Path, progress: bool = True) -> list[Path]:
    """Write ``count`` meshes ``<category>_<seed+i>.ply`` into ``out_dir``; existing files are kept."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(count), desc=f"synth {category}", disable=not progress):
        path = out_dir / f"{category}_{seed + i:05d}.ply"
        if not path.exists():
            mesh = make_shape(category, seed + i)
            atomic_write(path, lambda tmp: mesh.export(tmp))
        paths.append(path)
    return paths
