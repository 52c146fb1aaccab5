"""The house rules, checked on the source: imports point one way and never run in a circle, the core is
the bottom floor, functions stay small enough to read, and light imports live at the top of a module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("tvgbench", "timerft", "trainer", "leaderboard")
# which top-level packages each may import (everything may use tvgbench; trainer may use timerft)
MAY_USE = {
    "tvgbench": {"tvgbench"},
    "timerft": {"tvgbench", "timerft"},
    "trainer": {"tvgbench", "timerft", "trainer"},
    "leaderboard": {"tvgbench", "leaderboard"},
}
# heavy libraries are imported where they are used, so `timer1 --help` and the scorer stay light
HEAVY = {"torch", "transformers", "trl", "datasets", "vllm", "matplotlib", "openai", "peft", "accelerate",
         "deepspeed", "torchvision", "tensorboard", "uvicorn", "selenium", "huggingface_hub", "httpx", "sklearn",
         "scipy", "decord", "av"}


def product_files():
    for pkg in PACKAGES:
        yield from sorted((REPO / pkg).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    pkg = list(path.relative_to(REPO).parts[:-1])
    base = pkg[: len(pkg) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path: Path, tree: ast.Module, known: set[str], top_level_only: bool):
    """timer1 modules this file imports (``from pkg import submodule`` counts as the submodule)."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            mod = resolve(path, node)
            yield mod
            for a in node.names:
                if f"{mod}.{a.name}" in known:
                    yield f"{mod}.{a.name}"


@pytest.fixture(scope="module")
def sources():
    return {module_name(f): (f, ast.parse(f.read_text())) for f in product_files()}


def test_imports_point_one_way(sources):
    known = set(sources)
    wrong = []
    for name, (path, tree) in sources.items():
        pkg = name.split(".")[0]
        for mod in imported_modules(path, tree, known, top_level_only=False):
            top = mod.split(".")[0]
            if top in PACKAGES and top not in MAY_USE[pkg]:
                wrong.append(f"{name} imports {mod}")
    assert not wrong


def test_the_core_is_the_bottom_floor(sources):
    known = set(sources)
    wrong = [f"{name} imports {mod}" for name, (path, tree) in sources.items() if name.startswith("tvgbench.core")
             for mod in imported_modules(path, tree, known, top_level_only=False)
             if mod.startswith("tvgbench.") and not mod.startswith("tvgbench.core")]
    assert not wrong


def test_no_import_cycles_between_modules(sources):
    known = set(sources)
    graph = {name: {m for m in imported_modules(path, tree, known, top_level_only=False) if m in known and m != name}
             for name, (path, tree) in sources.items()}
    # a package's face importing its own submodules is how a package is built, not a cycle between rooms
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_function_takes_more_than_ten_parameters(sources):
    wide = []
    for name, (path, tree) in sources.items():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if any("click" in ast.unparse(d) for d in fn.decorator_list):
                continue  # a click command takes one parameter per option
            a = fn.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
            n = len(params) - (1 if params and params[0].arg in ("self", "cls") else 0)
            n += bool(a.vararg) + bool(a.kwarg)
            if n > 10:
                wide.append(f"{name}.{fn.name}: {n}")
    assert not wide


def test_no_product_file_is_over_600_lines():
    long = [f"{f.relative_to(REPO)}: {n}" for f in product_files() if (n := len(f.read_text().splitlines())) > 600]
    assert not long


def test_light_imports_sit_at_the_top_outside_the_command_modules(sources):
    """Inside a function only: heavy libraries, imports under a condition, and (in the command modules, so
    that ``timer1 --help`` loads no implementation) what a command runs."""
    inner = []
    for name, (path, tree) in sources.items():
        if name.startswith("tvgbench.cli") or name.endswith(".cli") or name == "leaderboard.quickstart":
            continue
        conditional = {id(n) for parent in ast.walk(tree) if isinstance(parent, (ast.If, ast.Try))
                       for n in ast.walk(parent)}
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in conditional:
                    continue
                mod = node.names[0].name if isinstance(node, ast.Import) else resolve(path, node)
                if mod.split(".")[0] in HEAVY:
                    continue
                if mod.split(".")[0] in PACKAGES and _imports_heavy(mod, sources):
                    continue
                if isinstance(node, ast.ImportFrom) and any(_imports_heavy(f"{mod}.{a.name}", sources)
                                                            for a in node.names):
                    continue
                inner.append(f"{path.relative_to(REPO)}:{node.lineno}: {mod}")
    assert not inner


def _imports_heavy(mod: str, sources, seen=None) -> bool:
    """Whether importing a timer1 module loads a heavy library at its top, directly or through others."""
    seen = set() if seen is None else seen
    if mod not in sources or mod in seen:
        return False
    seen.add(mod)
    path, tree = sources[mod]
    for top in imported_modules(path, tree, set(sources), top_level_only=True):
        if top.split(".")[0] in HEAVY or _imports_heavy(top, sources, seen):
            return True
    return False
