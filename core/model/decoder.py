"""The DeepSDF decoder f(z, x) -> sdf and its latent table.

The architecture follows the official ``networks/deep_sdf_decoder.py``: rows are ``[z, x, y, z]``,
hidden layers are weight-normalised Linear -> ReLU -> dropout, the input is re-injected before the
layers listed in ``latent_in``, and the output goes through tanh.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

CLAMP = 0.1  # truncation distance of the unit-sphere frame


@dataclass
class Architecture:
    """Everything needed to rebuild a decoder; stored as JSON in bundles."""

    latent_size: int = 256
    dims: list[int] = field(default_factory=lambda: [512] * 8)
    latent_in: list[int] = field(default_factory=lambda: [4])
    dropout_prob: float = 0.2
    weight_norm: bool = True
    double_tanh: bool = False  # official ``use_tanh: true`` applies tanh twice

    @classmethod
    def from_specs(cls, specs: dict) -> "Architecture":
        """Read the ``CodeLength`` and ``NetworkSpecs`` block of an official ``specs.json``."""
        net = dict(specs.get("NetworkSpecs", {}))
        unsupported = [k for k in ("xyz_in_all", "latent_dropout") if net.get(k)]
        if unsupported:
            raise ValueError(f"NetworkSpecs options not supported: {', '.join(unsupported)}")
        dims = list(net.get("dims", [512] * 8))
        dropout_layers = net.get("dropout", list(range(len(dims))))
        norm_layers = net.get("norm_layers", list(range(len(dims))))
        return cls(
            latent_size=int(specs.get("CodeLength", 256)),
            dims=dims,
            latent_in=list(net.get("latent_in", [4])),
            dropout_prob=float(net.get("dropout_prob", 0.2)) if dropout_layers else 0.0,
            weight_norm=bool(net.get("weight_norm", True)) and bool(norm_layers),
            double_tanh=bool(net.get("use_tanh", False)),
        )

    def to_specs(self) -> dict:
        """The ``NetworkSpecs`` block (plus ``CodeLength``) of an official ``specs.json``."""
        n = len(self.dims)
        return {
            "CodeLength": self.latent_size,
            "NetworkArch": "deep_sdf_decoder",
            "NetworkSpecs": {
                "dims": self.dims,
                "dropout": list(range(n)) if self.dropout_prob > 0 else [],
                "dropout_prob": self.dropout_prob,
                "norm_layers": list(range(n)) if self.weight_norm else [],
                "latent_in": self.latent_in,
                "xyz_in_all": False,
                "use_tanh": self.double_tanh,
                "latent_dropout": False,
                "weight_norm": self.weight_norm,
            },
        }

    def to_dict(self) -> dict:
        return asdict(self)

    def flops_per_point(self) -> int:
        """Multiply-adds x2 of one forward pass for one sample row."""
        return 2 * sum(i * o for i, o in _layer_sizes(self))


def _layer_sizes(arch: Architecture) -> list[tuple[int, int]]:
    """(in, out) features of every Linear, the official way: the layer before a skip
    shrinks its output so that concatenating the input restores the width."""
    d_in = arch.latent_size + 3
    dims = [d_in] + list(arch.dims) + [1]
    sizes = []
    for layer in range(len(dims) - 1):
        out = dims[layer + 1]
        if layer + 1 in arch.latent_in:
            out = dims[layer + 1] - d_in
            if out <= 0:
                raise ValueError(f"layer width {dims[layer + 1]} too small for a skip of {d_in} inputs")
        sizes.append((dims[layer], out))
    return sizes


INITS = ("default", "small", "geometric")


class Decoder(nn.Module):
    """f([z, xyz]) -> sdf, negative inside. Input (n, L + 3), output (n, 1).

    ``init`` picks the starting weights (training only; loading overwrites them):

    - ``default``: PyTorch's Linear initialisation, as the official code;
    - ``small``: default with the last layer scaled by 0.01, so every output starts inside the clamp;
    - ``geometric``: SAL's sphere (Atzmon & Lipman 2020): the initial field is |x| - 0.5 for every
      code (negative inside), so every sample near the surface has a gradient from the first step.
    """

    def __init__(self, arch: Architecture, init: str = "default"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown decoder init {init!r} ({', '.join(INITS)})")
        self.arch = arch
        sizes = _layer_sizes(arch)
        self.num_layers = len(sizes)
        layers = [nn.Linear(i, o) for i, o in sizes]
        if init == "geometric":
            _geometric_init(layers, arch)
        elif init == "small":
            with torch.no_grad():
                layers[-1].weight.mul_(0.01)
                layers[-1].bias.zero_()
        for layer, lin in enumerate(layers):
            if arch.weight_norm and layer < self.num_layers - 1:
                lin = weight_norm(lin)  # g and v taken from the weights set above
            setattr(self, f"lin{layer}", lin)
        self.dropout = nn.Dropout(arch.dropout_prob)
        if init == "geometric":
            _calibrate_sphere(self, radius=0.5)

    @property
    def device(self) -> torch.device:
        """Where the weights are: fits and meshing bring their points here."""
        return next(self.parameters()).device

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        for layer in range(self.num_layers):
            if layer in self.arch.latent_in:
                x = torch.cat([x, inputs], dim=1)
            x = getattr(self, f"lin{layer}")(x)
            if layer < self.num_layers - 1:
                x = self.dropout(torch.relu(x))
        x = torch.tanh(x)
        return torch.tanh(x) if self.arch.double_tanh else x

    def plain_weights(self) -> list[PlainLayer]:
        """Every layer's weights with weight normalisation folded in, split at the code's and the point's
        columns and transposed for ``addmm`` (``latent_field``). Kept until a parameter changes (its version
        counter moves: an optimiser step, a loaded state): a fit builds a field for every trial code, hundreds
        of them, and folding the norms took most of each build. Shared: never edit them."""
        params = list(self.parameters())
        key = tuple((id(p), p._version) for p in params)
        kept = getattr(self, "_plain", None)
        if kept is None or kept[0] != key:
            L = self.arch.latent_size
            layers = []
            with torch.no_grad():
                for k in range(self.num_layers):
                    W, b = getattr(self, f"lin{k}").weight.detach().clone(), getattr(self, f"lin{k}").bias.detach().clone()
                    if k == 0 or k in self.arch.latent_in:
                        d_prev = W.shape[1] - (L + 3)  # features coming from the previous layer
                        layers.append(PlainLayer(W[:, :d_prev].t().contiguous() if d_prev else None,
                                                 W[:, d_prev + L:].t().contiguous(), W[:, d_prev:d_prev + L].contiguous(), b))
                    else:
                        layers.append(PlainLayer(W.t().contiguous(), None, None, b))
            kept = self._plain = (key, layers)
        return kept[1]


def _geometric_init(layers: list[nn.Linear], arch: Architecture) -> None:
    """Hidden layers N(0, sqrt(2 / out)) with zero bias, code columns zero (the field starts the same
    for every code), last layer sqrt(pi / in) (Atzmon & Lipman 2020): f(x) ~ a |x| + b at the start."""
    L = arch.latent_size
    with torch.no_grad():
        for k, lin in enumerate(layers[:-1]):
            nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / lin.out_features))
            nn.init.zeros_(lin.bias)
            if k == 0 or k in arch.latent_in:
                d_prev = lin.in_features - (L + 3)
                lin.weight[:, d_prev:d_prev + L] = 0.0
        last = layers[-1]
        nn.init.normal_(last.weight, math.sqrt(math.pi / last.in_features), 1e-4)
        nn.init.zeros_(last.bias)


def _calibrate_sphere(decoder: "Decoder", radius: float, points: int = 4096) -> None:
    """Rescale the last layer so the initial field is |x| - radius: the skip connections bend the
    ideal a |x| + b of the geometric init, so a least-squares fit on random points sets a and b."""
    gen = torch.Generator().manual_seed(0)
    xyz = torch.randn(points, 3, generator=gen)
    xyz = xyz / xyz.norm(dim=1, keepdim=True) * torch.rand(points, 1, generator=gen) * 1.5
    rows = torch.cat([torch.zeros(points, decoder.arch.latent_size), xyz], dim=1)
    last = getattr(decoder, f"lin{decoder.num_layers - 1}")
    training = decoder.training
    with torch.no_grad():
        pre = decoder.eval()(rows)[:, 0]
        for _ in range(2 if decoder.arch.double_tanh else 1):  # undo the output tanh
            pre = torch.atanh(pre.clamp(-0.999999, 0.999999))
        A = torch.stack([xyz.norm(dim=1), torch.ones(points)], dim=1)
        a, b = torch.linalg.lstsq(A, pre[:, None]).solution[:, 0]
        last.weight.div_(a)
        last.bias.sub_(b).div_(a).sub_(radius)
    decoder.train(training)


def latent_field(decoder: Decoder, z: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return f(xyz) -> sdf for one code, without materialising the code per point.

    The code's contribution to the first layer and to every skip layer is a constant bias, computed
    once here; each point then only pays for its 3 coordinates in those layers. Evaluation mode
    (no dropout); the result is the same as ``decoder(cat(z, xyz))``.
    """
    z = z.detach().reshape(-1).to(next(decoder.parameters()))
    layers = [(l.w_prev, l.w_xyz, l.b if l.w_z is None else l.b + l.w_z @ z) for l in decoder.plain_weights()]
    last = len(layers) - 1

    def f(xyz: torch.Tensor) -> torch.Tensor:
        x = None
        for k, (w_prev, w_xyz, b) in enumerate(layers):
            y = torch.addmm(b, x, w_prev) if w_prev is not None else b.expand(xyz.shape[0], -1)
            if w_xyz is not None:
                y = torch.addmm(y, xyz, w_xyz)
            x = torch.relu_(y) if k < last else y
        x = torch.tanh(x[:, 0])
        return torch.tanh(x) if decoder.arch.double_tanh else x

    return f


@dataclass(frozen=True)
class PlainLayer:
    """One layer of ``Decoder.plain_weights``: y = x @ w_prev + xyz @ w_xyz + w_z @ z + b."""
    w_prev: torch.Tensor | None  # (in, out): from the previous layer's features (None in the first layer)
    w_xyz: torch.Tensor | None  # (3, out): from the point's coordinates (first and skip layers)
    w_z: torch.Tensor | None  # (out, L): from the code (first and skip layers)
    b: torch.Tensor  # (out,)


class LatentTable:
    """One code per shape, with the shape's name and its normalisation (offset, scale)."""

    def __init__(self, codes: torch.Tensor, names: list[str], offsets=None, scales=None):
        if codes.ndim != 2:
            raise ValueError(f"latent codes must be (N, L), got {tuple(codes.shape)}")
        if len(names) != codes.shape[0]:
            raise ValueError(f"{len(names)} names for {codes.shape[0]} codes")
        n = codes.shape[0]
        self.codes = codes.detach().float()
        self.names = list(names)
        self.offsets = torch.zeros(n, 3) if offsets is None else torch.as_tensor(offsets, dtype=torch.float32)
        self.scales = torch.ones(n) if scales is None else torch.as_tensor(scales, dtype=torch.float32).reshape(n)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no shape named {name!r} in the latent table ({len(self)} shapes)") from None
