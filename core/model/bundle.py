"""The single-file model bundle, and import of official DeepSDF experiment folders.

A bundle is a safetensors file: tensors ``decoder.*`` (state dict), ``codes`` (N, L), ``offsets``
(N, 3) and ``scales`` (N,); its JSON metadata holds the architecture, the shape names and training
facts. Loading it needs no pickle and no knowledge of the architecture.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core.data.samples import read_split
from core.fileio import DataError, atomic_write, default_device, torch_load, zero_denormals
from .decoder import Architecture, Decoder, LatentTable

FORMAT = "deepsdf-explorer-bundle"
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_BUNDLE = RESOURCES / "default.safetensors"


@dataclass
class Bundle:
    decoder: Decoder
    latents: LatentTable
    info: dict = field(default_factory=dict)  # training facts, source, clamp distance …

    @property
    def arch(self) -> Architecture:
        return self.decoder.arch

    def code(self, key: int | str) -> torch.Tensor:
        """A shape's code by index, by name, or by kind (``shapes.kinds``: the first shape of that kind)."""
        if isinstance(key, str) and key not in self.latents.names:
            from core.data.shapes import kinds

            key = kinds(self.latents.names).get(key, [key])[0]
        i = key if isinstance(key, int) else self.latents.index(key)
        if not -len(self.latents) <= i < len(self.latents):
            raise IndexError(f"shape index {i} out of range (model holds {len(self.latents)} shapes)")
        return self.latents.codes[i]

    def save(self, path: str | Path) -> Path:
        tensors = {f"decoder.{k}": v.detach() for k, v in self.decoder.state_dict().items()}
        tensors.update(codes=self.latents.codes, offsets=self.latents.offsets, scales=self.latents.scales)
        # denormals would slow every CPU user of the model and carry no information
        tensors = {k: zero_denormals(v.cpu()).contiguous() for k, v in tensors.items()}
        meta = {
            "format": FORMAT,
            "version": "1",
            "architecture": json.dumps(self.arch.to_dict()),
            "names": json.dumps(self.latents.names),
            "info": json.dumps(self.info),
        }
        return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))

    def with_codes(self, latents: LatentTable) -> "Bundle":
        return Bundle(self.decoder, latents, dict(self.info))


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing model bundle: {path}")
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a model bundle ({e})") from e
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: not a DeepSDF Explorer bundle (metadata format {meta.get('format')!r})")
    try:
        arch = Architecture(**json.loads(meta["architecture"]))
        names = json.loads(meta["names"])
        info = json.loads(meta.get("info", "{}"))
        decoder = Decoder(arch)
        state = {k[len("decoder."):]: v for k, v in tensors.items() if k.startswith("decoder.")}
        load_decoder_state(decoder, state, path)
        latents = LatentTable(tensors["codes"], names, tensors.get("offsets"), tensors.get("scales"))
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: damaged bundle ({type(e).__name__}: {e})") from e
    if latents.codes.shape[1] != arch.latent_size:
        raise DataError(f"{path}: codes have {latents.codes.shape[1]} dims, decoder expects {arch.latent_size}")
    require_finite(latents.codes, "codes", path)
    return Bundle(decoder.eval().to(default_device()), latents, info)


def require_finite(t: torch.Tensor, what: str, source: Path) -> None:
    """A model with NaN or infinite numbers would mesh to nothing without saying why: refuse it."""
    if t.is_floating_point() and not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise DataError(f"{source}: {what} holds {bad} NaN or infinite value(s)")


def load_decoder_state(decoder: Decoder, state: dict, source: Path) -> None:
    """Load a state dict, naming the file and the first mismatching tensor on failure."""
    expected = decoder.state_dict()
    # torch's weight-norm parametrisation accepts the old weight_g/weight_v names on load
    renamed = {
        k.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1"
        ): v
        for k, v in state.items()
    }
    missing = sorted(set(expected) - set(renamed))
    unexpected = sorted(set(renamed) - set(expected))
    if missing or unexpected:
        raise DataError(f"{source}: decoder weights do not match the architecture "
                        f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for k, v in renamed.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise DataError(f"{source}: {k} has shape {tuple(v.shape)}, architecture expects {tuple(expected[k].shape)}")
        require_finite(v, k, source)
    decoder.load_state_dict(renamed)


def file_hash(path: str | Path) -> str:
    """Short content hash (thumbnail caches are keyed by it)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


# --- official experiment folders ------------------------------------------------------------------

def read_specs(exp_dir: Path) -> dict:
    path = Path(exp_dir) / "specs.json"
    if not path.is_file():
        raise FileNotFoundError(f"missing {path} (an official experiment folder holds specs.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e})") from e


def _find_split(exp_dir: Path, specs: dict) -> Path | None:
    rel = specs.get("TrainSplit")
    if not rel:
        return None
    for base in (exp_dir, *exp_dir.resolve().parents, Path.cwd()):
        if (base / rel).is_file():
            return base / rel
    return None


def read_official_codes(path: Path) -> torch.Tensor:
    """LatentCodes/<epoch>.pth in either layout: Embedding state dict {"weight": (N, L)} or (N, 1, L)."""
    data = torch_load(path)
    codes = data.get("latent_codes") if isinstance(data, dict) else None
    if isinstance(codes, dict):
        codes = codes.get("weight")
    if not isinstance(codes, torch.Tensor):
        raise DataError(f"{path}: no 'latent_codes' tensor (expected {{'latent_codes': {{'weight': (N, L)}}}} or (N, 1, L))")
    if codes.ndim == 3 and codes.shape[1] == 1:
        codes = codes[:, 0, :]
    if codes.ndim != 2:
        raise DataError(f"{path}: latent codes have shape {tuple(codes.shape)}, expected (N, L) or (N, 1, L)")
    require_finite(codes, "latent codes", path)
    return codes.float()


def import_experiment(exp_dir: str | Path, epoch: str = "latest", split: str | Path | None = None,
                      data_dir: str | Path | None = None) -> Bundle:
    """Build a bundle from an official experiment folder (specs.json, ModelParameters/, LatentCodes/).

    Shape names come from the training split (``split`` or specs' TrainSplit, searched from the
    experiment folder upwards); normalisation parameters from ``data_dir``/NormalizationParameters
    when given.
    """
    exp_dir = Path(exp_dir)
    specs = read_specs(exp_dir)
    arch = Architecture.from_specs(specs)
    decoder = Decoder(arch)
    params_path = exp_dir / "ModelParameters" / f"{epoch}.pth"
    data = torch_load(params_path)
    state = data.get("model_state_dict") if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise DataError(f"{params_path}: no 'model_state_dict' entry")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    load_decoder_state(decoder, state, params_path)
    decoder.eval().to(default_device())

    codes_path = exp_dir / "LatentCodes" / f"{epoch}.pth"
    codes = read_official_codes(codes_path)
    if codes.shape[1] != arch.latent_size:
        raise DataError(f"{codes_path}: codes have {codes.shape[1]} dims, specs.json CodeLength is {arch.latent_size}")

    split_path = Path(split) if split else _find_split(exp_dir, specs)
    entries = read_split(split_path) if split_path else []
    if entries and len(entries) != len(codes):
        raise DataError(f"{split_path}: lists {len(entries)} shapes but {codes_path} holds {len(codes)} codes")
    names = [e[2] for e in entries] if entries else [f"shape_{i:04d}" for i in range(len(codes))]
    offsets, scales = None, None
    if data_dir and entries:
        offsets, scales = read_normalization(Path(data_dir), entries)
    info = {"source": str(exp_dir), "epoch": data.get("epoch"), "clamp": specs.get("ClampingDistance", 0.1),
            "split": [list(e) for e in entries]}
    return Bundle(decoder, LatentTable(codes, names, offsets, scales), info)


def read_normalization(data_dir: Path, entries: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray]:
    offsets, scales = [], []
    for ds, cls, inst in entries:
        path = data_dir / "NormalizationParameters" / ds / cls / f"{inst}.npz"
        try:
            with np.load(path) as npz:
                offsets.append(np.asarray(npz["offset"], np.float32).reshape(3))
                scales.append(float(np.asarray(npz["scale"]).reshape(-1)[0]))
        except FileNotFoundError:
            raise FileNotFoundError(f"missing normalisation file: {path}") from None
        except (KeyError, ValueError, OSError) as e:
            raise DataError(f"{path}: expected 'offset' (3,) and 'scale' (1,) ({e})") from e
    return np.stack(offsets), np.asarray(scales, np.float32)


def open_model(spec: str | Path) -> Bundle:
    """``default`` (the shipped model), a bundle file, or an official experiment folder."""
    if str(spec) == "default":
        if not DEFAULT_BUNDLE.is_file():
            raise FileNotFoundError(f"the default model is not shipped in this checkout ({DEFAULT_BUNDLE})")
        return load_bundle(DEFAULT_BUNDLE)
    path = Path(spec)
    if path.is_dir():
        if (path / "bundle.safetensors").is_file() and not (path / "ModelParameters").is_dir():
            return load_bundle(path / "bundle.safetensors")
        return import_experiment(path)
    return load_bundle(path)


def read_code_file(path: str | Path, latent_size: int) -> torch.Tensor:
    """One latent code from .npy (L,) / (1, L) or an official reconstruction .pth (1, 1, L)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing latent code file: {path}")
    if path.suffix == ".pth":
        z = torch_load(path)
    else:
        try:
            z = torch.from_numpy(np.load(path, allow_pickle=False))
        except (ValueError, OSError) as e:
            raise DataError(f"{path}: not a readable .npy code ({e})") from e
    if not isinstance(z, torch.Tensor) or z.numel() != latent_size:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise DataError(f"{path}: a code of {latent_size} numbers was expected, found {shape}")
    z = z.reshape(latent_size).float()
    if not torch.isfinite(z).all():
        raise DataError(f"{path}: the code contains NaN or infinite values")
    return z


def write_code_file(z: torch.Tensor, path: str | Path) -> Path:
    """Write a code as .npy (L,) or, for .pth, the official (1, 1, L) tensor."""
    path = Path(path)
    z = z.detach().cpu().float()
    if path.suffix == ".pth":
        return atomic_write(path, lambda tmp: torch.save(z.reshape(1, 1, -1), tmp))
    return atomic_write(path, lambda tmp: np.save(tmp, z.numpy()))
