"""Experiment tables: a CSV and a Markdown table with mean and median rows, Chamfer columns x 1e3."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from core.fileio import atomic_write

CHAMFER_COLUMNS = ("chamfer", "completion_chamfer", "posed_chamfer", "nearest_chamfer", "scan_error", "midpoint_to_a", "midpoint_to_b")  # x1e3


def write_table(rows: list[dict], out: Path, title: str, note: str = "") -> Path:
    """CSV plus a Markdown table with mean and median rows (Chamfer x1e3)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    atomic_write(out.with_suffix(".csv"), lambda tmp: _csv(tmp, rows, keys))
    numeric = [k for k in keys if isinstance(rows[0][k], (int, float)) and not isinstance(rows[0][k], bool)]

    def fmt(k, v):
        if isinstance(v, float):
            return f"{1e3 * v:.3f}" if k in CHAMFER_COLUMNS else f"{v:.4f}"
        return str(v)

    lines = [f"## {title}", "", note, "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(k, r[k]) for k in keys) + " |" for r in rows]
    for stat, fn in (("**mean**", np.nanmean), ("**median**", np.nanmedian)):  # NaN, None: not measured (not found, no label)
        lines.append("| " + " | ".join(stat if k == keys[0] else (fmt(k, float(fn([np.nan if r[k] is None else r[k] for r in rows])))
                                                                  if k in numeric else "") for k in keys) + " |")
    text = "\n".join(lines) + "\n"
    atomic_write(out.with_suffix(".md"), lambda tmp: tmp.write_text(text))
    return out.with_suffix(".md")


def _csv(tmp: Path, rows, keys):
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(rows)
