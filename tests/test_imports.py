"""The qa package has no import cycle, not even through imports inside functions, and every module imports
on its own in a fresh interpreter without loading the heavy libraries."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from qa.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "qa"
MODULES = sorted(f"qa.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")
IMPORTABLE = [m for m in MODULES if m != "qa.__main__"]  # __main__ runs the CLI when imported
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "faiss", "matplotlib", "gradio")


def imports_of(module: str) -> set[str]:
    """Every qa module ``module`` imports, at the top or inside a function."""
    tree = ast.parse((PACKAGE / f"{module.split('.')[1]}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("qa."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "qa":  # from qa import bench, evaluate
                found.update(f"qa.{alias.name}" for alias in node.names if f"qa.{alias.name}" in MODULES)
            elif node.module.startswith("qa."):
                found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}: relative import; the package uses absolute imports")
    return found & set(MODULES) - {module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_qa():
    graph = {module: imports_of(module) for module in MODULES}
    assert "qa.evaluate" in graph["qa.cli"]  # the walk sees imports inside functions
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_each_module_imports_alone_in_a_fresh_interpreter():
    script = (
        "import importlib, json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'qa' or m.startswith('qa.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        out[name] = sorted(h for h in heavy if h in sys.modules)\n"
        "    except Exception as exc:\n"
        "        out[name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(out))\n"
    )
    # ui.py and api.py import gradio / fastapi by design; everything else must stay light.
    light = [m for m in IMPORTABLE if m not in ("qa.ui", "qa.api")]
    proc = subprocess.run([sys.executable, "-c", script, *IMPORTABLE], capture_output=True, text=True, timeout=300,
                          cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    failed = {m: r for m, r in result.items() if isinstance(r, str)}
    assert not failed, failed
    heavy = {m: result[m] for m in light if result[m]}
    assert not heavy, f"heavy libraries loaded at import time: {heavy}"
