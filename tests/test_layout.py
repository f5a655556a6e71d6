"""core/ is layered (see core/__init__.py): no module imports from a higher layer, none imports Qt or the
app, and the import graph has no circles."""
from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"
LAYERS = {"fileio": 0, "jobs": 0, "data": 1, "model": 2, "mesh": 3, "fit": 4, "scans": 5, "evaluation": 6,
          "cli": 7, "__main__": 7}


def _name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module (dotted, absolute) that a file imports, at any depth of the file."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" for a in node.names} | {base}
    return found


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[1]]


def _graph() -> dict[str, set[str]]:
    modules = {_name(p): p for p in CORE.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in modules and i != m and not m.startswith(i + ".")}
            for m, p in modules.items()}


def test_core_imports_nothing_above_its_layer_and_no_gui():
    bad = []
    for path in CORE.rglob("*.py"):
        me = _name(path)
        if me == "core":
            continue
        for target in _imports(path):
            root = target.split(".")[0]
            if root in {"app", "PySide6", "qtpy", "pyvistaqt"}:
                bad.append(f"{me} imports {target}")
            elif root == "core" and target != "core" and _layer(target) > _layer(me):
                bad.append(f"{me} (layer {_layer(me)}) imports {target} (layer {_layer(target)})")
    assert not bad, "\n".join(bad)


def test_no_import_circles():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_every_subpackage_says_what_it_holds():
    for init in CORE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc.lower(), f"{init}: no docstring naming what it may import"
