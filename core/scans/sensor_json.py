"""A folder's ``sensor.json`` (the ``../shared/realdata`` layout): one camera and the depth files it took.

It is the one home of that file: a single frame opened from such a folder (``load_scan``, the app), a
sequence folder (``sequence.sensor_settings``) and a frames tree (``real_frames.find_frames``) all read
it here, so a frame gets the same intrinsics, depth units and raw format whichever way it is opened::

    {"intrinsics": {"fx": .., "fy": .., "cx": .., "cy": .., "width": W, "height": H},
     "depth": {"files": "frame-*.depth.png", "format": "png16", "per_metre": 1000,
               "converted": {"files": .., "format": .., "per_metre": ..}}}
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.fileio import DataError

NAME = "sensor.json"
# "format" values (the text before any ':') and what ``load_depth`` calls them (None: plain units)
FORMATS = {"png16": None, "nyu-disparity-pgm": "nyu-disparity", "sun3d-bitrotated-png16": "sun3d"}
SEARCH_UP = 2  # a frame may lie in a sub-folder of the sensor's folder ("depth/*.png")


@dataclass(frozen=True)
class DepthFiles:
    pattern: str  # glob relative to the sensor's folder
    per_metre: float | None
    depth_format: str | None  # a ``load_depth`` format; None for plain units


@dataclass(frozen=True)
class SensorFolder:
    folder: Path
    intrinsics: dict  # fx, fy, cx, cy (pixels)
    files: tuple[DepthFiles, ...]

    def depth_files(self) -> list[tuple[Path, DepthFiles]]:
        """Every depth file the folder's patterns name, sorted within each pattern."""
        return [(p, part) for part in self.files for p in sorted(self.folder.glob(part.pattern))]

    def part_of(self, path: Path) -> DepthFiles | None:
        """The pattern a file in this folder matches (its units and format); None if none does."""
        try:
            rel = PurePosixPath(Path(path).resolve().relative_to(self.folder.resolve()).as_posix())
        except ValueError:
            return None
        return next((part for part in self.files if rel.match(part.pattern)), None)


def read_sensor(folder: str | Path) -> SensorFolder | None:
    """The folder's ``sensor.json``; None if it has none. A broken one is an error naming the file."""
    folder = Path(folder)
    path = folder / NAME
    if not path.is_file():
        return None
    try:
        spec = json.loads(path.read_text())
        intrinsics = {k: float(spec["intrinsics"][k]) for k in ("fx", "fy", "cx", "cy")}
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: unreadable or without intrinsics fx, fy, cx, cy ({e})") from e
    depth = spec.get("depth") or {}
    parts = []
    for part in (depth, depth.get("converted") or {}):
        if "files" not in part:
            continue
        kind = str(part.get("format", "png16")).split(":")[0].strip()
        if kind not in FORMATS:
            raise DataError(f"{path}: unknown depth format {kind!r} (known: {', '.join(FORMATS)})")
        per_metre = part.get("per_metre")
        parts.append(DepthFiles(str(part["files"]), None if per_metre is None else float(per_metre), FORMATS[kind]))
    return SensorFolder(folder, intrinsics, tuple(parts))


def sensor_of(image: str | Path) -> tuple[SensorFolder, DepthFiles | None] | None:
    """The ``sensor.json`` of the folder holding ``image`` (or of one up to ``SEARCH_UP`` levels above it
    whose patterns name the file), with the pattern the file matches; None if there is none."""
    image = Path(image)
    for level, folder in enumerate(image.parents):
        if level > SEARCH_UP:
            break
        sensor = read_sensor(folder)
        if sensor is not None:
            part = sensor.part_of(image)
            if part is not None or level == 0:
                return sensor, part
    return None
