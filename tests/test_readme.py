"""The README's commands stay true: set-up lines match .ci/run, every deepsdf line parses.

Each subcommand is also run for real, on tiny data, by the other test modules (test_bundle: import/info,
test_meshing: mesh/interpolate, test_scan: render-depth/complete/evaluate, test_train: train, ...).
"""
import re
import shlex
from pathlib import Path

import pytest

from core.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def test_first_two_blocks_are_the_setup_commands():
    assert "python main.py" in BLOCKS[0]
    assert "pytest" in BLOCKS[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert BLOCKS[1].strip() in ci  # CI runs exactly the README's test command


COMMANDS = [line.split("#")[0].strip() for block in BLOCKS for line in block.splitlines()
            if line.strip().startswith("deepsdf ")]


def test_readme_lists_every_subcommand():
    parser = build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)
    used = {shlex.split(c)[1] for c in COMMANDS}
    documented = set(re.findall(r"^\| `([a-z-]+)", README, re.M))
    assert subcommands <= documented, subcommands - documented
    assert used <= subcommands


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert callable(args.func)
