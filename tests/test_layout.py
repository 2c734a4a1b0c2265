"""The package layout shows the pipeline: no module imports a later stage, and no import cycles.

Stages, earliest first (README, "Concepts"): the core every stage reads (the Network IR, the
readout definition, profiles, errors, atomic files), then data -> simulate (the arithmetic and
its backends) -> quantize -> resources -> solve -> train -> interchange (export) -> the RUN
directory and its report -> the command line. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import neurorecon

PACKAGE = Path(neurorecon.__file__).parent
STAGES = [
    ("errors", "_atomic", "_halves", "_hdf5", "_limits", "_pages", "_progress", "_version", "network", "readout", "profiles",
     "convolution"),
    ("data",),
    ("simulate",),
    ("quantize",),
    ("resources",),
    ("solve",),
    ("train",),
    ("interchange",),
    ("run", "run_report"),
    ("cli", "__init__", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every neurorecon module ``path`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("neurorecon"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neurorecon"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def _stage(module: str) -> int:
    parts = module.split(".")
    return RANK["__init__" if len(parts) == 1 else parts[1]]


def test_every_module_has_a_stage():
    unknown = sorted(m for m in _modules() if m.count(".") >= 1 and m.split(".")[1] not in RANK)
    assert not unknown, f"modules outside every stage: {unknown}"


def test_no_module_imports_a_later_stage():
    modules = _modules()
    later = [
        f"{m} imports {target}"
        for m, path in modules.items()
        for target in _imports(path, modules)
        if _stage(target) > _stage(m)
    ]
    assert not later, "\n".join(sorted(later))


def test_no_import_cycles_between_modules():
    """Package ``__init__`` re-exports aside, module imports form a DAG."""
    modules = _modules()
    packages = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}
    graph = {m: {t for t in _imports(p, modules) if t not in packages and t != m}
             for m, p in modules.items() if m not in packages}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "\n".join(cycles)
