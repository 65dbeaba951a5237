"""The package's layout is its architecture: stages as subpackages, each importing only from the stages before
it (not even through imports inside functions or importlib), no import cycle, and every module importing on its
own in a fresh interpreter without loading the heavy libraries. Running a later stage as a child process is no
import: ``qa bench`` times ``python -m qa`` and ``python app.py`` from outside, as a user would."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from qa.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "qa"
MODULES = sorted(".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
                 for p in PACKAGE.rglob("*.py"))
IMPORTABLE = [m for m in MODULES if m != "qa.__main__"]  # __main__ runs the CLI when imported
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "faiss", "matplotlib", "gradio")
# The stages in data-flow order; a module may import from its own stage and from earlier ones only.
# serve and evaluation are peers: both use the pipeline, neither uses the other.
STAGES = {"qa": 0, "qa.config": 0, "qa.ingest": 1, "qa.search": 2, "qa.reader": 3, "qa.answer": 4,
          "qa.pipeline": 5, "qa.serve": 6, "qa.evaluation": 6, "qa.cli": 7, "qa.__main__": 8}
SUBPACKAGES = {"ingest", "search", "reader", "answer", "serve", "evaluation"}
TOP_LEVEL = {"__init__.py", "__main__.py", "config.py", "pipeline.py", "cli.py"}


def source_of(module: str):
    path = PROJECT_ROOT.joinpath(*module.split("."))
    return (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")


def imports_of(module: str) -> set[str]:
    """Every qa module ``module`` imports, at the top or inside a function."""
    tree = ast.parse(source_of(module).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("qa."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "qa" or node.module.startswith("qa."):
                found.add(node.module)
                # from qa.search import retrieve, tokens: the modules themselves
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}: relative import; the package uses absolute imports")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and node.args[0].value.startswith("qa."):
            called = ast.unparse(node.func)
            if called in ("importlib.import_module", "import_module", "__import__"):
                found.add(node.args[0].value)
    return found & set(MODULES) - {module, "qa"}


def stage_of(module: str) -> str:
    """The stage a module belongs to: its subpackage (qa.search.index -> qa.search) or itself at the top."""
    parts = module.split(".")
    return ".".join(parts[:2])


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
    assert "qa.evaluation.evaluate" in graph["qa.cli"]  # the walk sees imports inside functions
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_top_level_keeps_only_the_entry_points_and_the_stages_are_subpackages():
    assert {p.name for p in PACKAGE.glob("*.py")} == TOP_LEVEL
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == SUBPACKAGES
    for name in SUBPACKAGES:  # each says in one line what goes in and what comes out, and holds nothing else
        tree = ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8"))
        docstring = ast.get_docstring(tree)
        assert docstring and "\n" not in docstring and " in -> " in docstring, name
        assert len(tree.body) == 1, f"qa/{name}/__init__.py holds more than its docstring"


def test_each_stage_imports_only_from_the_stages_before_it():
    assert stage_of("qa.search.index") == "qa.search" and stage_of("qa.cli") == "qa.cli"
    assert "qa.cli" in imports_of("qa.__main__") and "qa.search.retrieve" in imports_of("qa.answer.abstain")
    assert all(stage_of(m) in STAGES for m in MODULES), [m for m in MODULES if stage_of(m) not in STAGES]
    backwards = []
    for module in MODULES:
        own = stage_of(module)
        for imported in imports_of(module):
            other = stage_of(imported)
            if other != own and STAGES[other] >= STAGES[own]:
                backwards.append(f"{module} imports {imported}")
    assert not backwards, backwards


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
    # qa.serve.ui and qa.serve.api import gradio / fastapi by design; everything else must stay light.
    light = [m for m in IMPORTABLE if m not in ("qa.serve.ui", "qa.serve.api")]
    proc = subprocess.run([sys.executable, "-c", script, *IMPORTABLE], capture_output=True, text=True, timeout=300,
                          cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    failed = {m: r for m, r in result.items() if isinstance(r, str)}
    assert not failed, failed
    heavy = {m: result[m] for m in light if result[m]}
    assert not heavy, f"heavy libraries loaded at import time: {heavy}"
