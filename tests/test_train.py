import os
import subprocess
import sys

import pytest
import torch

from core.model.bundle import load_bundle
from core.fileio import torch_load
from core.model.train import read_log, train
from tests.conftest import write_specs


def test_training_lowers_loss_and_writes_everything(tiny_experiment):
    log = read_log(tiny_experiment)
    assert log["loss"][-5:].mean() < 0.85 * log["loss"][:3].mean()
    for sub in ("ModelParameters", "LatentCodes", "OptimizerParameters"):
        assert (tiny_experiment / sub / "latest.pth").is_file()
        assert (tiny_experiment / sub / "20.pth").is_file()
    assert (tiny_experiment / "loss.png").stat().st_size > 1000
    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    assert len(bundle.latents) == 3 and bundle.arch.latent_size == 8
    assert bundle.latents.scales.min() > 0  # normalisation parameters travel with the codes
    assert torch_load(tiny_experiment / "LatentCodes" / "latest.pth")["latent_codes"]["weight"].shape == (3, 8)


def test_resume_continues_the_same_run(tiny_data, tmp_path):
    straight = write_specs(tmp_path / "a", tiny_data, NumEpochs=12, LogFrequency=3)
    train(straight, progress=False)
    split = write_specs(tmp_path / "b", tiny_data, NumEpochs=12, LogFrequency=3)
    train(split, epochs=6, progress=False)
    train(split, resume=True, progress=False)
    a, b = load_bundle(straight / "bundle.safetensors"), load_bundle(split / "bundle.safetensors")
    # Bit-identical here; a clean-clone CI run once drifted by float round-off (< 5e-5). A wrong resume
    # (optimiser state lost, another epoch's sample stream) moves codes by ~0.08 and outputs by ~0.25.
    assert torch.allclose(a.latents.codes, b.latents.codes, atol=1e-4, rtol=0)
    x = torch.rand(50, 11)
    assert torch.allclose(a.decoder.cpu()(x), b.decoder.cpu()(x), atol=1e-4, rtol=0)
    assert list(read_log(split)["epoch"]) == list(range(1, 13))


def test_batch_larger_than_dataset_is_clamped(tiny_data, tmp_path):
    exp = write_specs(tmp_path / "c", tiny_data, ScenesPerBatch=64, NumEpochs=2)
    with pytest.warns(UserWarning, match="ScenesPerBatch 64 > 3 scenes"):
        train(exp, progress=False)
    assert len(read_log(exp)["epoch"]) == 2


def test_missing_samples_file_is_named(tiny_data, tmp_path):
    import json
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"synthetic": {"chairs": ["no_such_chair"]}}))
    exp = write_specs(tmp_path / "d", tiny_data, TrainSplit=str(split))
    with pytest.raises(FileNotFoundError, match="no_such_chair.npz"):
        train(exp, progress=False)


def test_ddp_two_gloo_processes(tiny_data, tmp_path):
    exp = write_specs(tmp_path / "ddp", tiny_data, NumEpochs=4, LogFrequency=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "core", "train", str(exp), "--device", "cpu"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert list(read_log(exp)["epoch"]) == [1, 2, 3, 4]
    assert len(load_bundle(exp / "bundle.safetensors").latents) == 3


def test_sigterm_stops_after_an_epoch_with_a_snapshot_and_resumes(tiny_data, tmp_path):
    import signal
    import time

    exp = write_specs(tmp_path / "term", tiny_data, NumEpochs=400, LogFrequency=100)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "core", "train", str(exp)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # no deadline here: a run that hangs is ended by pytest's own timeout (pyproject), whatever the machine's load
    while not ((exp / "Logs.csv").is_file() and len((exp / "Logs.csv").read_text().splitlines()) > 3):
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130, proc.stderr.read()[-2000:]
    epochs = [int(e) for e in read_log(exp)["epoch"]]
    assert torch_load(exp / "ModelParameters" / "latest.pth")["epoch"] == epochs[-1] < 400  # nothing lost
    before = signal.getsignal(signal.SIGTERM)
    train(exp, resume=True, epochs=epochs[-1] + 2, progress=False)
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back after training
    assert list(read_log(exp)["epoch"]) == list(range(1, epochs[-1] + 3))


def test_full_disk_while_caching_samples_is_a_clear_error(tiny_data, tmp_path, monkeypatch):
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    exp = write_specs(tmp_path / "e", tiny_data, NumEpochs=1)
    with pytest.raises(OSError, match=r"cannot build the training-sample cache \(\d+ MB\): No space left on device"):
        train(exp, progress=False)
    assert not list(exp.rglob("*.npy"))  # no half-written cache left behind


def test_the_shipped_model_is_what_its_recipe_makes():
    """resources/recipe made resources/default.safetensors: the same network, one code per chair of the pinned
    training split (in its order), none for the held-out chairs, and a checkpoint at the recipe's last epoch."""
    import json
    from pathlib import Path

    from core.model.bundle import open_model

    from core.data.samples import read_split
    from core.model.decoder import Architecture

    recipe = Path(__file__).resolve().parent.parent / "resources" / "recipe"
    specs = json.loads((recipe / "specs.json").read_text())
    bundle = open_model("default")
    assert Architecture.from_specs(specs) == bundle.arch
    assert bundle.latents.names == [e[2] for e in read_split(recipe / specs["TrainSplit"])]
    assert not {e[2] for e in read_split(recipe / specs["TestSplit"])} & set(bundle.latents.names)
    last = (recipe / "checkpoint" / "Logs.csv").read_text().strip().splitlines()[-1]
    assert int(last.split(",")[0]) == specs["NumEpochs"]


def test_a_narrow_net_whose_default_init_starts_beyond_the_clamp_still_trains(tiny_data, tmp_path):
    """The trap the init must avoid: PyTorch's default init puts every output of this narrow net (seed 16)
    beyond +-0.1, where the clamped loss has no gradient, so training never starts."""
    from core.model.decoder import Architecture, Decoder
    from tests.conftest import TINY_SPECS

    torch.manual_seed(16)  # as train() seeds it
    rows = torch.cat([torch.randn(1000, 8) / 3, torch.rand(1000, 3) * 2 - 1], 1)
    assert (Decoder(Architecture.from_specs(TINY_SPECS), "default")(rows).abs() > 0.1).all()
    losses = {}
    for init in ("default", None):  # None: the trainer's own choice
        exp = write_specs(tmp_path / str(init), tiny_data, NumEpochs=15, LogFrequency=5, Seed=16,
                          **({"DecoderInit": init} if init else {}))
        train(exp, progress=False)
        losses[init] = read_log(exp)["loss"]
    assert losses["default"][-3:].mean() > 0.9 * losses["default"][0]  # stuck
    assert losses[None][-3:].mean() < 0.7 * min(losses[None][0], losses["default"][-3:].mean()), losses[None]


def test_a_second_run_on_the_same_experiment_is_refused(tiny_data, tmp_path):
    from core.fileio import DataError
    from core.model.train import _exclusive

    exp = write_specs(tmp_path / "busy", tiny_data, NumEpochs=2)
    with _exclusive(exp, rank=0):  # as a running training holds it
        with pytest.raises(DataError, match="another training run is using this experiment folder"):
            train(exp, progress=False)
    train(exp, progress=False)  # free again once the first run is done
    assert len(read_log(exp)["epoch"]) == 2
