"""Shared fixtures: a tiny synthetic dataset and a tiny model trained in seconds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # tiny models: one thread is fastest and immune to a busy machine

PORTRAIT = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # upright camera frame -> turned:
# x' = y, y' = -x


def portrait(scan):
    """A scan turned into portrait: the image rotated 90 degrees (pixel (u, v) -> (v, W-1-u)), the
    intrinsics with it; ``PORTRAIT`` maps the upright camera's frame into the turned one's."""
    from core.scans.scan import Camera, Scan

    cam = scan.camera
    turned = Camera(cam.fy, cam.fx, cam.cy, cam.width - 1 - cam.cx, cam.height, cam.width)
    return Scan(np.ascontiguousarray(np.rot90(scan.depth)), turned, None, "turned")


TINY_SPECS = {
    "CodeLength": 8,
    "NetworkSpecs": {"dims": [32] * 4, "latent_in": [2], "dropout": [], "dropout_prob": 0.0,
                     "norm_layers": [0, 1, 2, 3], "weight_norm": True},
    "NumEpochs": 60,
    "SnapshotFrequency": 20,
    "AdditionalSnapshots": [],
    "LearningRateSchedule": [{"Type": "Step", "Initial": 0.005, "Interval": 40, "Factor": 0.5},
                             {"Type": "Step", "Initial": 0.02, "Interval": 40, "Factor": 0.5}],
    "SamplesPerScene": 2048,
    "ScenesPerBatch": 3,
    "LogFrequency": 5,
    "Description": ["the official examples use a list here"],
}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Four synthetic chairs sampled into the official layout (3 train, 1 test)."""
    from core.data.samples import prepare
    from core.data.shapes import synth

    root = tmp_path_factory.mktemp("tiny")
    synth("chairs", 4, 7, root / "meshes" / "chairs", progress=False)
    prepare(root / "meshes" / "chairs", root / "data", split_test=0.25, samples=20_000, workers=1, progress=False)
    return root / "data"


def write_specs(exp: Path, data: Path, **overrides) -> Path:
    exp.mkdir(parents=True, exist_ok=True)
    specs = {**TINY_SPECS, "DataSource": str(data), "TrainSplit": str(data / "splits" / "chairs_train.json"),
             **overrides}
    (exp / "specs.json").write_text(json.dumps(specs))
    return exp


@pytest.fixture(scope="session")
def tiny_experiment(tiny_data, tmp_path_factory) -> Path:
    """A tiny model trained for a few seconds; its bundle is exp/bundle.safetensors."""
    from core.model.train import train

    exp = write_specs(tmp_path_factory.mktemp("exp") / "tiny", tiny_data)
    train(exp, progress=False)
    return exp
