import json

import pytest
import torch

from core.model.bundle import Bundle, import_experiment, load_bundle, open_model
from core.cli import main
from core.fileio import DataError
from core.model.decoder import Architecture, Decoder, LatentTable

ARCH = Architecture(latent_size=8, dims=[32] * 4, latent_in=[2], dropout_prob=0.0)


def make_bundle(n=3) -> Bundle:
    torch.manual_seed(0)
    latents = LatentTable(torch.randn(n, 8), [f"s{i}" for i in range(n)], torch.randn(n, 3), torch.rand(n) + 0.5)
    return Bundle(Decoder(ARCH).eval(), latents, {"epoch": 7})


def test_round_trip(tmp_path):
    b = make_bundle()
    path = b.save(tmp_path / "m.safetensors")
    c = load_bundle(path)
    assert c.arch == ARCH and c.latents.names == b.latents.names and c.info["epoch"] == 7
    x = torch.rand(10, 11)
    assert torch.equal(b.decoder(x), c.decoder.cpu()(x))  # loaded onto CUDA where there is one
    assert torch.equal(c.latents.offsets, b.latents.offsets) and torch.equal(c.latents.scales, b.latents.scales)
    assert torch.equal(c.code("s1"), b.latents.codes[1])


def test_corrupt_and_truncated_bundles(tmp_path):
    path = make_bundle().save(tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.safetensors"):
        load_bundle(tmp_path / "t.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a bundle at all")
    with pytest.raises(DataError, match="junk.safetensors"):
        load_bundle(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError, match="missing model bundle"):
        load_bundle(tmp_path / "nope.safetensors")


def test_nan_codes_or_weights_are_refused(tmp_path):
    b = make_bundle()
    b.latents.codes[1, 2] = float("nan")
    with pytest.raises(DataError, match=r"nan.safetensors: codes holds 1 NaN"):
        load_bundle(b.save(tmp_path / "nan.safetensors"))
    b = make_bundle()
    with torch.no_grad():
        next(b.decoder.parameters()).fill_(float("inf"))
    with pytest.raises(DataError, match="inf.safetensors: .* NaN or infinite"):
        load_bundle(b.save(tmp_path / "inf.safetensors"))


def official_folder(tmp_path, legacy_codes: bool, n=3):
    """A tiny experiment folder as the official trainer writes it (DataParallel keys, weight_g/v)."""
    b = make_bundle(n)
    exp = tmp_path / "exp"
    (exp / "ModelParameters").mkdir(parents=True)
    (exp / "LatentCodes").mkdir()
    specs = {"Description": ["list-valued, as in the official examples"], **ARCH.to_specs(),
             "TrainSplit": "split.json"}
    (exp / "specs.json").write_text(json.dumps(specs))
    (exp / "split.json").write_text(json.dumps({"ShapeNetV2": {"03001627": b.latents.names}}))
    state = {"module." + k.replace("parametrizations.weight.original0", "weight_g")
             .replace("parametrizations.weight.original1", "weight_v"): v for k, v in b.decoder.state_dict().items()}
    torch.save({"epoch": 2000, "model_state_dict": state}, exp / "ModelParameters" / "2000.pth")
    codes = b.latents.codes[:, None, :] if legacy_codes else {"weight": b.latents.codes}
    torch.save({"epoch": 2000, "latent_codes": codes}, exp / "LatentCodes" / "2000.pth")
    return exp, b


@pytest.mark.parametrize("legacy_codes", [False, True])
def test_import_official_experiment(tmp_path, legacy_codes):
    exp, b = official_folder(tmp_path, legacy_codes)
    imported = import_experiment(exp, epoch="2000")
    assert imported.latents.names == b.latents.names
    assert torch.equal(imported.latents.codes, b.latents.codes)
    x = torch.rand(20, 11)
    assert torch.allclose(imported.decoder.cpu()(x), b.decoder(x))
    assert main(["import", str(exp), "--epoch", "2000", "-o", str(tmp_path / "out.safetensors")]) == 0
    assert load_bundle(tmp_path / "out.safetensors").latents.names == b.latents.names


def test_import_size_mismatch_names_file_and_shapes(tmp_path):
    exp, _ = official_folder(tmp_path, False)
    specs = json.loads((exp / "specs.json").read_text())
    specs["NetworkSpecs"]["dims"] = [64] * 4
    (exp / "specs.json").write_text(json.dumps(specs))
    with pytest.raises(DataError, match=r"2000\.pth: lin0\.bias has shape \(32,\), architecture expects \(64,\)"):
        import_experiment(exp, epoch="2000")


def test_import_missing_files(tmp_path):
    exp, _ = official_folder(tmp_path, False)
    with pytest.raises(FileNotFoundError, match=r"ModelParameters/latest\.pth"):
        import_experiment(exp)
    (exp / "LatentCodes" / "2000.pth").write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match=r"LatentCodes/2000\.pth"):
        import_experiment(exp, epoch="2000")


def test_open_model_dispatch(tmp_path):
    path = make_bundle().save(tmp_path / "m.safetensors")
    assert len(open_model(path).latents) == 3
    exp, _ = official_folder(tmp_path, True)
    (exp / "ModelParameters" / "2000.pth").rename(exp / "ModelParameters" / "latest.pth")
    (exp / "LatentCodes" / "2000.pth").rename(exp / "LatentCodes" / "latest.pth")
    assert len(open_model(exp).latents) == 3


def test_bundles_are_written_without_denormals(tmp_path):
    from safetensors import safe_open

    from core.model.bundle import DEFAULT_BUNDLE

    b = make_bundle()
    with torch.no_grad():
        b.decoder.lin3.weight.view(-1)[:5] = 1e-40  # denormal: slows CPU arithmetic, carries nothing
        b.latents.codes[0, 0] = -1e-39
    for path in (b.save(tmp_path / "m.safetensors"), DEFAULT_BUNDLE):
        with safe_open(str(path), "pt") as fh:
            for key in fh.keys():
                t = fh.get_tensor(key)
                if t.is_floating_point():
                    assert not ((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).any(), f"{path.name}: {key}"
    assert load_bundle(tmp_path / "m.safetensors").latents.codes[0, 0] == 0
