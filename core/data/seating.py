"""Seating: one family of chairs, armchairs, sofas, stools and benches with continuous parameters, for a
model that knows real seating (real chairs are upholstered, curved, cantilevered, slatted, on castors).

Each kind is a function of a random generator, in metres, y up, front +z, standing on y = 0; ``seating``
draws the kind first, so ``kind`` names a shape's kind from its seed without building it. The kinds were
drawn after real chairs (ModelNet, PartNet) rendered side by side with them: a folding chair, office
chairs on five castors, slat, spindle, ladder and T backs, a club armchair, a reclining armchair on a
sled, an S-shaped cantilever, a bent-wood armchair, a Windsor chair, a chaise.
"""
from __future__ import annotations

import numpy as np

from .solids import SEGMENTS, Solid, board, box, curved_panel, rod, rotate_about, rounded_box, tube, union

Rng = np.random.Generator


def _seat(rng: Rng, w: float, d: float, h: float, soft: bool, round_ok: bool = True) -> tuple[Solid, float, bool]:
    """A seat (flat or upholstered; round only where ``round_ok``) whose top lies at height ``h``; returns
    it, its thickness, and whether it is round (legs then stand within its circle)."""
    t = rng.uniform(0.06, 0.14) if soft else rng.uniform(0.02, 0.05)
    if soft:
        return rounded_box((w, t, d), (0, h - t / 2, 0), rng.uniform(0.015, t / 2)), t, False
    shape = rng.choice(["rect", "rounded", "round"], p=[0.5, 0.35, 0.15] if round_ok else [0.55, 0.45, 0.0])
    if shape == "round":
        return Solid.cylinder(t, w / 2, w / 2, 2 * SEGMENTS, center=True).rotate((90, 0, 0)).translate((0, h - t / 2, 0)), t, True
    return (rounded_box((w, t, d), (0, h - t / 2, 0), rng.uniform(0.005, t / 2)) if shape == "rounded"
            else box((w, t, d), (0, h - t / 2, 0))), t, False


def _back(rng: Rng, style: str, w: float, h0: float, bh: float, z: float, post: float) -> Solid:
    """A chair's back, ``bh`` tall above height ``h0``, its back face at depth ``z``, between two posts of
    half-width ``post`` (0: no posts)."""
    t = rng.uniform(0.02, 0.05)
    posts = [box((2 * post, bh, max(t, 2 * post)), (sx * (w / 2 - post), h0 + bh / 2, z + max(t, 2 * post) / 2))
             for sx in (-1, 1)] if post else []
    top = rng.uniform(0.05, 0.15)
    rail = box((w, top, t), (0, h0 + bh - top / 2, z + t / 2))
    if style == "solid":
        return union(posts + [rounded_box((w, bh, t), (0, h0 + bh / 2, z + t / 2), t / 2 * rng.uniform(0.2, 1.0))])
    if style == "curved":
        return union(posts + [curved_panel(w, bh * rng.uniform(0.4, 1.0), t, rng.uniform(0.35, 1.2), h0 + bh * rng.uniform(0.0, 0.5), z)])
    if style == "slats":  # upright slats under a top rail
        n = int(rng.integers(2, 7))
        width = rng.uniform(0.2, 0.8) * (w - 2 * post) / n
        return union(posts + [rail] + [box((width, bh, t * 0.7), (-w / 2 + w * (k + 1) / (n + 1), h0 + bh / 2, z + t / 2)) for k in range(n)])
    if style == "spindles":  # thin round spindles under a curved top rail (Windsor)
        n = int(rng.integers(4, 10))
        rail = curved_panel(w, top, t * 1.5, rng.uniform(0.3, 0.8), h0 + bh - top, z)
        r = rng.uniform(0.006, 0.012)
        return union(posts + [rail] + [rod((x, h0 - 0.01, z + t), (x * rng.uniform(1.0, 1.3), h0 + bh - top / 2, z + t), r)
                                       for x in np.linspace(-w / 2 + 0.05, w / 2 - 0.05, n)])
    if style == "ladder":  # horizontal rails between the posts
        n = int(rng.integers(2, 5))
        return union(posts + [box((w, rng.uniform(0.03, 0.08), t), (0, h0 + bh * (k + 1) / n - 0.04, z + t / 2)) for k in range(n)])
    # "t": one centre post under a wide top panel
    panel = rng.uniform(0.15, 0.3) * bh
    return union([box((rng.uniform(0.05, 0.12), bh, t), (0, h0 + bh / 2, z + t / 2)),
                  rounded_box((w * rng.uniform(0.9, 1.3), panel, t), (0, h0 + bh - panel / 2, z + t / 2), t / 2)])


def four_legs(rng: Rng) -> Solid:
    """Four straight, splayed or tapered legs (wood or tube), optional stretchers, a slat, spindle, ladder,
    solid, curved or T back on the back legs; sometimes arms."""
    w, d, h = rng.uniform(0.4, 0.55), rng.uniform(0.38, 0.5), rng.uniform(0.42, 0.5)
    seat, t, round_seat = _seat(rng, w, d, h, soft=rng.random() < 0.25)
    parts = [seat]
    r = rng.uniform(0.008, 0.014) if rng.random() < 0.3 else rng.uniform(0.015, 0.028)  # tube or wood
    square = bool(rng.random() < 0.4)
    splay = rng.uniform(0.0, 0.08) if rng.random() < 0.5 else 0.0
    inset = rng.uniform(0.015, 0.05)
    xs, zs = (w / 2 - inset, d / 2 - inset) if not round_seat else ((w / 2 - inset) / np.sqrt(2),) * 2
    taper = rng.uniform(0.5, 1.0)
    for sx in (-1, 1):
        for sz in (-1, 1):
            foot = np.array([sx * (xs + splay), 0.0, sz * (zs + splay)])
            top = np.array([sx * xs, h - t / 2, sz * zs])
            parts.append(rod(foot, top, r, square, start_radius=None if square else r * taper))
    stretch = rng.choice(["none", "h", "box", "front"], p=[0.35, 0.25, 0.25, 0.15])
    if stretch != "none":
        y = rng.uniform(0.12, 0.25)
        k = 1 - y / h
        xa, za, sr = xs + splay * k, zs + splay * k, r * 0.55
        sides = [((sx * xa, y, -za), (sx * xa, y, za)) for sx in (-1, 1)]
        ends = [((-xa, y, sz * za), (xa, y, sz * za)) for sz in (-1, 1)]
        bars = {"h": sides + [((-xa, y, 0.0), (xa, y, 0.0))], "box": sides + ends, "front": ends[1:]}[stretch]
        parts += [rod(a, b, sr) for a, b in bars]
    bh = rng.uniform(0.3, 0.55)
    style = rng.choice(["slats", "spindles", "ladder", "solid", "curved", "t"], p=[0.22, 0.14, 0.16, 0.2, 0.18, 0.1])
    back_z = -zs - r if round_seat else -d / 2  # on a round seat, the back stands on the back legs
    bw = 2 * (xs + r) if round_seat else w * rng.uniform(0.85, 1.0)
    back = _back(rng, style, bw, h - t, bh, back_z, r if style in ("slats", "ladder", "spindles") else 0.0)
    parts.append(rotate_about(back, (-rng.uniform(0.0, 15.0), 0, 0), (0, h, back_z)))
    if rng.random() < 0.25 and not round_seat:
        parts += _arms(rng, w, d, h, r)
    return union(parts)


def _arms(rng: Rng, w: float, d: float, h: float, r: float) -> list[Solid]:
    """Two armrests on posts at the seat's sides, ``ah`` above it."""
    ah, ar = rng.uniform(0.18, 0.26), max(r, rng.uniform(0.015, 0.03))
    parts = []
    for sx in (-1, 1):
        x = sx * (w / 2 - ar)
        parts.append(rounded_box((2.2 * ar, 1.6 * ar, d * rng.uniform(0.7, 1.0)), (x, h + ah, -0.05 * d), 0.6 * ar))
        parts.append(rod((x, h - 0.03, d * 0.3), (x, h + ah, d * 0.3), ar * 0.7))
    return parts


def office(rng: Rng) -> Solid:
    """A swivel chair: five castors on a star base, a gas column, an upholstered seat, a tilted back
    shell on a spine, often arms."""
    w, d, h = rng.uniform(0.45, 0.55), rng.uniform(0.42, 0.52), rng.uniform(0.44, 0.52)
    seat, t, _ = _seat(rng, w, d, h, soft=True)
    parts = [seat, rod((0, 0.1, 0), (0, h - t + 0.01, 0), rng.uniform(0.02, 0.035)),
             box((0.18, 0.05, 0.2), (0, h - t - 0.02, 0))]
    reach, legs = rng.uniform(0.27, 0.34), int(rng.choice([4, 5], p=[0.15, 0.85]))
    for k in range(legs):
        a = 2 * np.pi * k / legs + rng.uniform(-0.1, 0.1)
        foot = (reach * np.cos(a), 0.07, reach * np.sin(a))
        parts.append(rod((0, 0.1, 0), foot, rng.uniform(0.015, 0.025), square=True))
        parts.append(Solid.cylinder(0.04, 0.03, 0.03, SEGMENTS, center=True).rotate((0, 90, 0)).translate((foot[0], 0.03, foot[2])))
    bh, bw = rng.uniform(0.4, 0.7), w * rng.uniform(0.8, 1.0)
    gap, tilt = rng.uniform(0.03, 0.15), rng.uniform(5.0, 20.0)
    back = curved_panel(bw, bh, rng.uniform(0.03, 0.08), rng.uniform(0.4, 1.2), h + gap, -d / 2 - 0.02)
    spine = box((0.06, gap + 0.15, 0.03), (0, h + gap / 2 - 0.05, -d / 2 - 0.01))
    parts.append(rotate_about(union([back, spine]), (-tilt, 0, 0), (0, h, -d / 2)))
    if rng.random() < 0.7:
        parts += _arms(rng, w + 0.02, d * 0.8, h, 0.015)
    return union(parts)


def armchair(rng: Rng) -> Solid:
    """A club or wingback armchair (``upholstered``, one seat)."""
    return upholstered(rng, 1)


def sofa(rng: Rng) -> Solid:
    """A two- or three-seat sofa (``upholstered``)."""
    return upholstered(rng, int(rng.choice([2, 3])))


def upholstered(rng: Rng, seats: int) -> Solid:
    """Club and wingback armchairs and sofas: a thick body, thick arms (or none), a back, a cushion per
    seat, on short legs or a plinth."""
    arm_w = rng.uniform(0.08, 0.25)
    w = seats * rng.uniform(0.5, 0.65) + 2 * arm_w
    d, leg = rng.uniform(0.7, 0.95), rng.choice([0.0, rng.uniform(0.04, 0.15)])
    body = rng.uniform(0.2, 0.35)
    r = rng.uniform(0.02, 0.08)
    # the arms stand 1 cm proud of the body and end 5-15 % short of its front: nearly coincident rounded
    # faces leave slivers in the union
    parts = [rounded_box((w - 0.02, body, d), (0, leg + body / 2, 0), r)]
    back_t, top = rng.uniform(0.12, 0.28), rng.uniform(0.7, 1.15)
    parts.append(rounded_box((w, top - leg, back_t), (0, (top + leg) / 2, -d / 2 + back_t / 2), r))
    arm_top = leg + body + rng.uniform(0.15, 0.32)
    for sx in (-1, 1):
        parts.append(rounded_box((arm_w, arm_top - leg, d * rng.uniform(0.85, 0.95)), (sx * (w / 2 - arm_w / 2), (arm_top + leg) / 2, 0.0), r))
        if seats == 1 and top > 0.95 and rng.random() < 0.7:  # wings
            depth, low = rng.uniform(0.15, 0.3), arm_top - 0.05  # reaching into the arm and half into the back
            parts.append(rounded_box((arm_w * 0.6, top - low, depth + back_t / 2), (sx * (w / 2 - arm_w * 0.3), (top + low) / 2,
                                                                               -d / 2 + back_t / 2 + (depth + back_t / 2) / 2), r))
    ch = rng.uniform(0.06, 0.15)
    inner = w - 2 * arm_w
    for k in range(seats):
        parts.append(rounded_box((inner / seats - 0.01, ch, d - back_t), (-inner / 2 + inner / seats * (k + 0.5), leg + body + ch / 2 - 0.01, back_t / 2), 0.03))
    if leg > 0:
        inset = r + 0.04  # clear of the body's rounded edges, which would cut a sliver off a leg's top
        parts += [rod((sx * (w / 2 - inset), 0, sz * (d / 2 - inset)), (sx * (w / 2 - inset), leg + 0.03, sz * (d / 2 - inset)), 0.025)
                  for sx in (-1, 1) for sz in (-1, 1)]
    return union(parts)


def cantilever(rng: Rng) -> Solid:
    """A chair with no back legs: a steel tube or bent-wood frame runs along the floor, up the front and
    back under the seat (Breuer, Poaeng), with a thin or cushioned seat and back, sometimes arms."""
    w, d, h = rng.uniform(0.42, 0.55), rng.uniform(0.4, 0.55), rng.uniform(0.38, 0.47)
    wood = rng.random() < 0.4
    r = rng.uniform(0.01, 0.016)
    thick = rng.uniform(0.02, 0.04)
    front, rear = d / 2 + rng.uniform(0.0, 0.1), -d / 2 - rng.uniform(0.0, 0.1)
    recline = rng.uniform(5.0, 30.0)
    bh = rng.uniform(0.35, 0.65)
    t = rng.uniform(0.02, 0.1)
    dip = d * np.tan(np.radians(rng.uniform(0.0, 10.0)))  # the seat dips to the back
    seat = [(d / 2, h + t / 2), (-d / 2, h + t / 2 - dip)]
    into = (thick if wood else 2 * r) / 2 - 0.005  # the frame's top reaches 5 mm into the seat from below
    zb = -d / 2 + 0.05
    profile = [(rear, 0.0), (front, 0.0), (d / 2 - rng.uniform(0.0, 0.08), h - into), (zb, h - dip * (d / 2 - zb) / d - into)]
    side = w / 2 + (0.015 if wood else r / 2)  # the frame's inner side under the seat's edge
    parts = []
    for sx in (-1, 1):
        parts.append(board(profile, 0.045, thick, sx * side) if wood else tube([(sx * side, y, z) for z, y in profile], r))
    parts.append(rod((-side, r, rear + 0.03), (side, r, rear + 0.03), r))  # the runners' cross bar
    back_top = (seat[-1][0] - bh * np.sin(np.radians(recline)), seat[-1][1] + bh * np.cos(np.radians(recline)))
    parts.append(board(seat + [back_top], w, t))  # seat and back as one shell (the frame's back goes up under it)
    if wood or rng.random() < 0.3:  # arms: the frame rises at the front and runs back at arm height
        ah = h + rng.uniform(0.18, 0.25)
        for sx in (-1, 1):
            x = sx * side
            arm = [(front - 0.02, 0.0), (d / 2 - 0.02, ah), (-d / 2 + 0.02, ah), (-d / 2, h - dip)]
            parts.append(board(arm, 0.045, thick, x) if wood else tube([(x, y, z) for z, y in arm], r))
    return union(parts)


def sled(rng: Rng) -> Solid:
    """A sled base: each side one tube loop down the front, along the floor, up the back and under the
    seat, which is a moulded shell or a cushioned seat and back."""
    w, d, h = rng.uniform(0.45, 0.6), rng.uniform(0.45, 0.6), rng.uniform(0.38, 0.46)
    r = rng.uniform(0.008, 0.014)
    top = h - r + 0.005  # the tube's top 5 mm into the seat, which dips 3 cm to the back
    # a closed loop: down the front, along the floor, up the back and forward under the seat
    side = [(d / 2 - 0.03, top), (d / 2 + 0.02, 0.0), (-d / 2 - 0.02, 0.0), (-d / 2 + 0.03, top - 0.03), (d / 2 - 0.03, top)]
    parts = [tube([(sx * (w / 2 - 0.02), y, z) for z, y in side], r) for sx in (-1, 1)]
    t = rng.uniform(0.015, 0.12)
    recline = np.radians(rng.uniform(5.0, 35.0))
    bh = rng.uniform(0.35, 0.75)
    back = (-d / 2 - bh * np.sin(recline), h + t / 2 + bh * np.cos(recline))
    parts.append(board([(d / 2, h + t / 2), (-d / 2 + 0.02, h + t / 2 - 0.03), back], w, t))
    if rng.random() < 0.4:
        ah = h + rng.uniform(0.18, 0.25)
        x = w / 2 - 0.005
        parts += [tube([(sx * x, h, d / 2 - 0.05), (sx * x, ah, d / 2 - 0.08), (sx * x, ah, -d / 2 + 0.05), (sx * x, h - 0.02, -d / 2 + 0.02)], r)
                  for sx in (-1, 1)]
    return union(parts)


def s_shape(rng: Rng) -> Solid:
    """One bent board from the back's top down into the seat, round the front edge and back along the
    floor, or forward (Panton, the zig-zag chair, an S-shaped lounge chair)."""
    w, d, h = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), rng.uniform(0.38, 0.47)
    t = rng.uniform(0.02, 0.07)
    bh = rng.uniform(0.35, 0.6)
    recline = rng.uniform(0.0, 20.0)
    rear = -d / 2 - bh * np.sin(np.radians(recline))
    foot = rng.uniform(-d / 2, d / 2 + 0.1)
    profile = [(rear, h + bh), (-d / 2 + 0.03, h + 0.02), (d / 2, h), (d / 2 - rng.uniform(0.05, 0.25), h * 0.45),
               (foot - 0.25, t / 2), (foot + rng.uniform(0.05, 0.25), t / 2)]
    return board(profile, w, t)


def lounge(rng: Rng) -> Solid:
    """A chaise: a long bent seat (back, seat, leg rest), cushioned or a thin shell, on legs or a sled."""
    w, L, h = rng.uniform(0.55, 0.75), rng.uniform(1.3, 1.9), rng.uniform(0.3, 0.45)
    t = rng.uniform(0.03, 0.15)
    back = rng.uniform(0.4, 0.7)
    recline = np.radians(rng.uniform(25.0, 55.0))
    z0 = -L / 2 + back * np.sin(recline)
    dip = rng.uniform(0.0, 0.1)
    profile = [(-L / 2, h + back * np.cos(recline)), (z0, h), (z0 + 0.3, h - dip), (L / 2 - 0.35, h + rng.uniform(0.0, 0.15)),
               (L / 2, h + rng.uniform(-0.15, 0.05))]
    parts = [board(profile, w, t)]
    feet = [(z0 + 0.15, h - dip), (L / 2 - 0.35, profile[3][1])]
    if rng.random() < 0.5:  # four legs
        parts += [rod((sx * (w / 2 - 0.05), 0, z), (sx * (w / 2 - 0.05), y, z), 0.02) for sx in (-1, 1) for z, y in feet]
    else:  # a sled on each side
        parts += [tube([(sx * (w / 2 - 0.03), feet[0][1], feet[0][0]), (sx * (w / 2 - 0.03), 0.01, feet[0][0] - 0.05),
                        (sx * (w / 2 - 0.03), 0.01, feet[1][0] + 0.05), (sx * (w / 2 - 0.03), feet[1][1], feet[1][0])], 0.012)
                  for sx in (-1, 1)]
    return union(parts)


def rocking(rng: Rng) -> Solid:
    """A rocking chair: a four-legged chair (spindle, slat or ladder back, arms) whose legs stand on two
    curved rockers."""
    w, d, h = rng.uniform(0.45, 0.58), rng.uniform(0.42, 0.52), rng.uniform(0.38, 0.46)
    seat, t, _ = _seat(rng, w, d, h, soft=rng.random() < 0.3, round_ok=False)
    r = rng.uniform(0.014, 0.024)
    lift = rng.uniform(0.04, 0.08)  # the legs stand on the rockers
    parts = [seat]
    for sx in (-1, 1):
        x = sx * (w / 2 - 0.03)
        parts += [rod((x, lift, sz * (d / 2 - 0.03)), (x, h - t / 2, sz * (d / 2 - 0.03)), r) for sz in (-1, 1)]
        radius = rng.uniform(0.8, 1.6)
        arc = np.linspace(-1, 1, 7) * (d / 2 + rng.uniform(0.15, 0.3))
        parts.append(board([(z, lift + radius - np.sqrt(radius ** 2 - z ** 2) + 0.01) for z in arc], 0.03, rng.uniform(0.02, 0.04), x))
    style = rng.choice(["spindles", "slats", "ladder"])
    bh = rng.uniform(0.45, 0.7)
    back = _back(rng, style, w - 0.02, h - t, bh, -d / 2, r)
    parts.append(rotate_about(back, (-rng.uniform(5.0, 18.0), 0, 0), (0, h, -d / 2)))
    if rng.random() < 0.7:
        parts += _arms(rng, w, d, h, r)
    return union(parts)


def stool(rng: Rng) -> Solid:
    """A stool: a round or square seat, low or bar height, on three or four legs with a ring of rungs, or
    on a pedestal; sometimes a low back."""
    h = rng.choice([rng.uniform(0.42, 0.5), rng.uniform(0.6, 0.8)])
    w = rng.uniform(0.3, 0.4)  # wider and thin, a bar stool's square seat looked like a side table
    seat, t, _ = _seat(rng, w, w, h, soft=rng.random() < 0.5)
    parts = [seat]
    if rng.random() < 0.75:
        n, r, splay = int(rng.choice([3, 4])), rng.uniform(0.012, 0.022), rng.uniform(0.0, 0.1)
        angles = 2 * np.pi * (np.arange(n) + 0.5) / n
        reach = w / 2 - 0.04
        tops = [(reach * np.cos(a), h - t / 2, reach * np.sin(a)) for a in angles]
        feet = [((reach + splay) * np.cos(a), 0.0, (reach + splay) * np.sin(a)) for a in angles]
        parts += [rod(f, p, r) for f, p in zip(feet, tops)]
        y = rng.uniform(0.25, 0.4) * h
        k = 1 - y / h
        ring = [((reach + splay * k) * np.cos(a), y, (reach + splay * k) * np.sin(a)) for a in angles]
        parts += [rod(a, b, r * 0.6) for a, b in zip(ring, ring[1:] + ring[:1])]
    else:
        parts += [rod((0, 0.02, 0), (0, h - t / 2, 0), rng.uniform(0.025, 0.045)),
                  Solid.cylinder(0.03, rng.uniform(0.18, 0.25), rng.uniform(0.15, 0.2), 2 * SEGMENTS)]
    if rng.random() < 0.25:
        parts.append(curved_panel(w * 0.9, rng.uniform(0.1, 0.25), 0.025, w * 0.6, h + 0.05, -w / 2 - 0.02))
        parts += [rod((sx * w * 0.2, h - 0.02, -w * 0.42), (sx * w * 0.2, h + 0.1, -w / 2 - 0.01), 0.01) for sx in (-1, 1)]
    return union(parts)


def bench(rng: Rng) -> Solid:
    """A bench: a long seat of boards or a slab, on legs or two end panels, with or without a back."""
    w, d, h = rng.uniform(0.9, 1.8), rng.uniform(0.3, 0.45), rng.uniform(0.4, 0.48)
    seat, t, _ = _seat(rng, w, d, h, soft=rng.random() < 0.25, round_ok=False)
    parts = [seat]
    if rng.random() < 0.5:
        r = rng.uniform(0.018, 0.03)
        xs = [-w / 2 + 0.06, w / 2 - 0.06] + ([0.0] if w > 1.4 else [])
        parts += [rod((x, 0, sz * (d / 2 - 0.04)), (x, h - t / 2, sz * (d / 2 - 0.04)), r, square=True) for x in xs for sz in (-1, 1)]
    else:
        pt = rng.uniform(0.03, 0.08)
        inset = rng.uniform(0.05, 0.2)
        parts += [box((pt, h - t + 0.01, d * rng.uniform(0.8, 1.0)), (sx * (w / 2 - inset), (h - t + 0.01) / 2, 0)) for sx in (-1, 1)]
    if rng.random() < 0.5:
        back = _back(rng, rng.choice(["slats", "ladder", "solid"]), w, h - t, rng.uniform(0.3, 0.45), -d / 2, 0.025)
        parts.append(rotate_about(back, (-rng.uniform(5.0, 15.0), 0, 0), (0, h, -d / 2)))
    return union(parts)


def panels(rng: Rng) -> Solid:
    """Slab chairs: the seat and back between two side panels (solid, or cut open like a frame), the
    panels sometimes rising into arms (Rietveld, cube armchairs)."""
    w, d, h = rng.uniform(0.45, 0.65), rng.uniform(0.45, 0.6), rng.uniform(0.38, 0.46)
    pt = rng.uniform(0.02, 0.1)
    side_h = h + rng.choice([0.0, rng.uniform(0.15, 0.3)])
    parts = []
    for sx in (-1, 1):
        side = box((pt, side_h, d), (sx * (w / 2 + pt / 2), side_h / 2, 0))
        if rng.random() < 0.4:  # a frame: the panel cut open
            side = side - box((pt * 3, side_h - 0.16, d - 0.16), (sx * (w / 2 + pt / 2), side_h / 2, 0))
        parts.append(side)
    seat, t, _ = _seat(rng, w + 0.01, d, h, soft=rng.random() < 0.4, round_ok=False)
    parts.append(seat)
    bh = rng.uniform(0.35, 0.6)
    parts.append(rotate_about(box((w + 0.01, bh, rng.uniform(0.02, 0.12)), (0, h - t + bh / 2, -d / 2 + 0.03)),
                              (-rng.uniform(0.0, 20.0), 0, 0), (0, h - t, -d / 2)))
    return union(parts)


KINDS = {"four-legged chair": (four_legs, 0.24), "office chair": (office, 0.14), "armchair": (armchair, 0.11), "sofa": (sofa, 0.07),
         "cantilever": (cantilever, 0.1), "sled chair": (sled, 0.06), "s-shaped": (s_shape, 0.04), "lounge": (lounge, 0.05),
         "rocking chair": (rocking, 0.05), "stool": (stool, 0.05), "bench": (bench, 0.04), "panel chair": (panels, 0.05)}


def kind(rng: Rng) -> str:
    """The kind of shape ``rng`` makes: its first draw, so a shape's kind is known from its seed alone."""
    names = list(KINDS)
    weights = np.array([KINDS[k][1] for k in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def seating(rng: Rng) -> Solid:
    """A seating shape of a kind drawn first (``kind``), then its own parameters."""
    return KINDS[kind(rng)][0](rng)
