"""The house's rules hold: import-linter's contracts in pyproject.toml pass (and fail on a planted forbidden
import), and the package graph has no circle between the ad product, the job runtime, the homepage, the
doors and the tools (read with the standard library's ast, independently of import-linter)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "nanococoa_mcp"
LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("ad", "jobs", "homepage", "server", "tools")


def _lint(src_root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src_root)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(config)], capture_output=True, text=True, env=env, timeout=120,
        check=False, cwd=src_root,
    )


def test_the_import_contracts_hold() -> None:
    res = _lint(ROOT / "src", ROOT / "pyproject.toml")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_a_planted_forbidden_import_breaks_the_contracts(tmp_path: Path) -> None:
    copy = tmp_path / "src" / "nanococoa_mcp"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "web", "prompts"))
    store = copy / "jobs" / "store.py"
    store.write_text(store.read_text() + "\nfrom nanococoa_mcp.ad import pipeline  # the runtime knowing ads\n")
    res = _lint(tmp_path / "src", ROOT / "pyproject.toml")
    assert res.returncode != 0
    assert "nanococoa_mcp.jobs is not allowed to import nanococoa_mcp.ad" in res.stdout, res.stdout[-3000:]


def _package_graph() -> dict[str, set[str]]:
    """package -> the packages among PACKAGES its modules import (at any depth of the file)."""
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for pkg in PACKAGES:
        for path in (SRC / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "nanococoa_mcp" and len(parts) > 1 and parts[1] in PACKAGES and parts[1] != pkg:
                        graph[pkg].add(parts[1])
    return graph


def test_no_import_circle_between_the_product_the_runtime_the_homepage_the_doors_and_the_tools() -> None:
    graph = _package_graph()
    assert "ad" not in graph["jobs"] and "homepage" not in graph["jobs"]
    assert not graph["ad"] & {"server", "tools", "homepage"} and not graph["homepage"] & {"server", "tools"}

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    circles = [p for p in PACKAGES if reaches(p, p)]
    assert not circles, graph
