"""The package layout the architecture promises: `glue` is the library a Python caller imports, and
it never imports `glue_tools` (the command line, demo, migration runner, local platform, generator);
the tools import no cycle among themselves."""

from __future__ import annotations

import ast
from pathlib import Path

from glue_tools.paths import ROOT


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_the_library_never_imports_the_tools() -> None:
    library = sorted((ROOT / "glue").glob("*.py"))
    assert {p.stem for p in library} >= {
        "rpc",
        "api",
        "results",
        "telemetry",
        "worker",
        "realtime",
        "webhook",
        "config",
    }
    offenders = {p.name: sorted(i for i in _imports(p) if i.startswith("glue_tools")) for p in library}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_tools_import_no_cycle() -> None:
    modules = {p.stem: p for p in (ROOT / "glue_tools").glob("*.py")}
    edges = {
        name: {i.split(".")[1] for i in _imports(path) if i.startswith("glue_tools.") and i.split(".")[1] in modules}
        for name, path in modules.items()
    }

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges[start])

    assert [m for m in modules if reaches(m, m)] == []
