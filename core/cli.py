"""The ``deepsdf`` command: argument parsing only; every subcommand calls one core function."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .fileio import DataError


def cmd_synth(a) -> None:
    from .shapes import synth

    paths = synth(a.category, a.count, a.seed, a.out_dir)
    print(f"wrote {len(paths)} {a.category} meshes to {a.out_dir}")


def cmd_prepare(a) -> None:
    from .samples import prepare

    r = prepare(a.mesh_dir, a.out_dir, split_test=a.split_test, samples=a.samples, dataset=a.dataset,
                category=a.category, seed=a.seed, workers=a.workers)
    print(f"train {len(r['train'])}, test {len(r['test'])}, skipped {len(r['skipped'])}")
    for name, why in r["skipped"].items():
        print(f"  skipped {name}: {why}")


def cmd_train(a) -> None:
    from .train import init_experiment, train

    exp = Path(a.experiment)
    if a.data:
        init_experiment(exp, a.data, a.split, a.preset)
    path = train(exp, resume=a.resume, device=a.device, epochs=a.epochs)
    print(f"bundle: {path}")


def cmd_import(a) -> None:
    from .bundle import import_experiment

    bundle = import_experiment(a.experiment, epoch=a.epoch, split=a.split, data_dir=a.data)
    bundle.save(a.output)
    print(f"wrote {a.output}: {len(bundle.latents)} shapes, code length {bundle.arch.latent_size}")


def cmd_info(a) -> None:
    from .bundle import open_model

    b = open_model(a.model)
    n_params = sum(p.numel() for p in b.decoder.parameters())
    print(json.dumps({"architecture": b.arch.to_dict(), "parameters": n_params, "shapes": len(b.latents),
                      "names": b.latents.names[:10] + (["…"] if len(b.latents) > 10 else []),
                      "epoch": b.info.get("epoch")}, indent=2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepsdf", description="DeepSDF Explorer command-line tools")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate a synthetic shape category (watertight meshes)")
    s.add_argument("out_dir")
    s.add_argument("--category", default="chairs", help="chairs, tables or sofas")
    s.add_argument("--count", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("prepare", help="sample SDF values from meshes into the official data layout")
    s.add_argument("mesh_dir")
    s.add_argument("out_dir")
    s.add_argument("--split-test", type=float, default=0.2, help="share of shapes held out for testing")
    s.add_argument("--samples", type=int, default=500_000, help="SDF samples per training shape (test: half)")
    s.add_argument("--dataset", default="synthetic", help="dataset name in the official layout")
    s.add_argument("--category", default=None, help="class name (default: the mesh folder's name)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=None)
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("train", help="train an auto-decoder from an experiment folder's specs.json")
    s.add_argument("experiment")
    s.add_argument("--data", help="data folder from 'prepare': writes specs.json if the experiment has none")
    s.add_argument("--split", help="training split JSON (with --data; default: the data folder's *_train.json)")
    s.add_argument("--preset", default="cpu", choices=["cpu", "paper"], help="specs for a new experiment")
    s.add_argument("--resume", action="store_true", help="continue from the latest snapshot")
    s.add_argument("--epochs", type=int, help="override NumEpochs")
    s.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("import", help="convert an official DeepSDF experiment folder into a bundle")
    s.add_argument("experiment")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--epoch", default="latest")
    s.add_argument("--split", help="training split JSON (default: specs.json TrainSplit)")
    s.add_argument("--data", help="data folder with NormalizationParameters/")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("info", help="describe a model (bundle, experiment folder or 'default')")
    s.add_argument("model")
    s.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (DataError, FileNotFoundError, ValueError, KeyError, IndexError, OSError, RuntimeError) as e:
        print(f"deepsdf {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
