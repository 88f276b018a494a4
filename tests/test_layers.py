"""The layering contract, checked over the source (AST) of every module under src/tracktune.

Every `import` counts, at module level or inside a function (a lazy import is still a
dependency), and a dependency reaches through every tracktune module it imports (importing
`a.b.c` also runs `a/__init__` and `a/b/__init__`). The rules:

- evaluation (`tracktune.eval`) never imports torch (or a package built on it) or the model,
  directly or through another tracktune module;
- the benchmark loaders (`tracktune.data.benchmarks`, which evaluation imports by name to read
  ground truth) never import torch either;
- data never imports model, adapt, train or track;
- model never imports adapt, train, track or the command layer (`tracktune.cli` and the modules
  it names in `COMMANDS`), and holds no command module;
- adapt never imports train or track;
- train and track never import each other.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "tracktune"
# third-party packages that import torch when imported
TORCH_PACKAGES = ("torch", "torchvision", "timm", "peft", "safetensors.torch")


@dataclass(frozen=True)
class Rule:
    importers: str  # a module prefix: the rule binds every module under it
    forbidden: tuple[str, ...]  # module prefixes it may not reach
    why: str


RULES = (
    Rule("tracktune.eval", TORCH_PACKAGES + ("tracktune.model",), "evaluation is numpy only: no torch, no model"),
    Rule("tracktune.data.benchmarks", TORCH_PACKAGES, "evaluation imports the benchmark loaders by name"),
    Rule("tracktune.data", ("tracktune.model", "tracktune.adapt", "tracktune.train", "tracktune.track"),
         "data sits below model, methods, training and tracking"),
    Rule("tracktune.model", ("tracktune.adapt", "tracktune.train", "tracktune.track"),
         "the model knows no adaptation method, trainer or tracker"),
    Rule("tracktune.adapt", ("tracktune.train", "tracktune.track"), "methods sit below training and tracking"),
    Rule("tracktune.train", ("tracktune.track",), "training and tracking share only runs.py"),
    Rule("tracktune.track", ("tracktune.train",), "training and tracking share only runs.py"),
)

# exact (importer, imported) edges exempt from the rules: none
ALLOWED_EDGES: set[tuple[str, str]] = set()
# command modules allowed inside model/: none
ALLOWED_COMMANDS_IN_MODEL: set[str] = set()


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(module name, line) of every import in `source`, anywhere in it, relative ones resolved.
    `from X import y` yields both `X` and `X.y` (y may be a submodule; names that are not
    modules are dropped when the graph is built). Imports under `if TYPE_CHECKING:` are
    skipped: they never run."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.append((origin, node.lineno))
            found += [(f"{origin}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def read_sources(root: Path = SRC) -> dict[str, tuple[str, bool]]:
    """{module name: (source, is_package)} for every module of the package under `root`."""
    sources = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        sources[".".join(parts)] = (path.read_text(encoding="utf-8"), is_package)
    return sources


def build_graph(sources: dict[str, tuple[str, bool]], allowed=frozenset()) -> dict[str, dict[str, int]]:
    """{module: {imported module: line}}: tracktune modules (with the packages an import
    runs) and third-party names as written; the imports `allowed` names left out."""
    graph: dict[str, dict[str, int]] = {}
    for module, (source, is_package) in sources.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(source, module, is_package):
            if any(importer == module and _under(name, target) for importer, target in allowed):
                continue
            if _under(name, PACKAGE):
                parts = name.split(".")
                targets = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
                targets = [t for t in targets if t in sources]
            else:
                targets = [name]
            for target in targets:
                if target != module:
                    edges.setdefault(target, line)
        # importing a submodule runs its parent packages
        parts = module.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in sources:
                edges.setdefault(parent, 0)
        graph[module] = edges
    return graph


def _chain(graph, start: str, forbidden: tuple[str, ...]) -> list[str] | None:
    """The shortest import chain from `start` to a module under one of `forbidden` (BFS)."""
    previous = {start: None}
    queue = [start]
    while queue:
        current = queue.pop(0)
        for target in graph.get(current, {}):
            if target in previous:
                continue
            previous[target] = current
            if any(_under(target, f) for f in forbidden):
                chain = [target]
                while previous[chain[-1]] is not None:
                    chain.append(previous[chain[-1]])
                return chain[::-1]
            if target in graph:  # follow tracktune modules only
                queue.append(target)
    return None


def violations(sources: dict[str, tuple[str, bool]], command_modules: set[str],
               allowed=frozenset(), allowed_commands=frozenset()) -> list[str]:
    """Every broken rule, each as 'importer -> ... -> forbidden (line N of the first step): why'."""
    graph = build_graph(sources, allowed)
    rules = RULES + (Rule("tracktune.model", tuple(sorted(command_modules)),
                          "the model sits below the command layer"),)
    found = []
    for module in sorted(graph):
        for rule in rules:
            if not _under(module, rule.importers):
                continue
            chain = _chain(graph, module, rule.forbidden)
            if chain is not None:
                line = graph[module][chain[1]]
                found.append(f"{' -> '.join(chain)} (line {line} of {module}): {rule.why}")
    for module in sorted(command_modules):
        if _under(module, "tracktune.model") and module not in allowed_commands:
            found.append(f"{module} is a command module inside tracktune.model: commands live with the command layer")
    return found


def command_modules(sources: dict[str, tuple[str, bool]]) -> set[str]:
    """`tracktune.cli` and the modules its `COMMANDS` table names (read from its AST)."""
    tree = ast.parse(sources["tracktune.cli"][0])
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "COMMANDS":
            table = ast.literal_eval(node.value)
            return {"tracktune.cli"} | {module for module, _ in table.values()}
    raise AssertionError("tracktune.cli has no COMMANDS table")


SOURCES = read_sources()
COMMAND_MODULES = command_modules(SOURCES)


def test_the_layering_contract_holds():
    found = violations(SOURCES, COMMAND_MODULES, ALLOWED_EDGES, ALLOWED_COMMANDS_IN_MODEL)
    assert not found, "layering broken:\n" + "\n".join(found)


def test_every_allowed_edge_still_exists():
    """An allow-list entry whose import is gone must go too (the list only shrinks)."""
    stale = [(module, name) for module, name in ALLOWED_EDGES
             if name not in {found for found, _ in imported_names(SOURCES[module][0], module, SOURCES[module][1])}]
    assert not stale, f"allow-list entries with no such import any more: {stale}"
    assert ALLOWED_COMMANDS_IN_MODEL <= COMMAND_MODULES


def test_command_modules_are_read_from_the_cli_table():
    assert {"tracktune.cli", "tracktune.eval.commands", "tracktune.track.commands", "tracktune.data.commands"} \
        <= COMMAND_MODULES


def _with(extra: dict[str, str]) -> dict[str, tuple[str, bool]]:
    return {**SOURCES, **{name: (source, False) for name, source in extra.items()}}


@pytest.mark.parametrize("module, source, expected", [
    ("tracktune.eval.fake", "import torch\n", "tracktune.eval.fake -> torch"),
    ("tracktune.eval.fake", "def f():\n    from safetensors.torch import load_file\n", "-> safetensors.torch"),
    ("tracktune.eval.fake", "from tracktune.model.heads import CenterHead\n", "-> tracktune.model"),
    ("tracktune.eval.fake", "from tracktune.data.pairs import PairDataset\n", "-> tracktune.data.pairs -> torch"),
    ("tracktune.data.benchmarks.fake", "from tracktune.data import crops\n", "-> tracktune.data.crops -> torch"),
    ("tracktune.data.fake", "def f():\n    from tracktune.track.tracker import Tracker\n", "-> tracktune.track"),
    ("tracktune.data.fake", "from tracktune import runs\n", "tracktune.data.fake -> tracktune.runs -> "),
    ("tracktune.model.fake", "from tracktune.adapt import lora\n", "-> tracktune.adapt"),
    ("tracktune.model.fake", "from tracktune.eval import commands\n", "-> tracktune.eval.commands"),
    ("tracktune.adapt.fake", "from ..train import losses\n", "tracktune.adapt.fake -> tracktune.train"),
    ("tracktune.train.fake", "import tracktune.track.runner\n", "-> tracktune.track"),
    ("tracktune.track.fake", "from tracktune.train.trainer import Trainer\n", "-> tracktune.train"),
])
def test_a_forbidden_import_is_reported(module, source, expected):
    assert not [v for v in violations(_with({}), COMMAND_MODULES, ALLOWED_EDGES, ALLOWED_COMMANDS_IN_MODEL)]
    found = violations(_with({module: source}), COMMAND_MODULES, ALLOWED_EDGES, ALLOWED_COMMANDS_IN_MODEL)
    assert any(v.startswith(module) and expected in v for v in found), found


def test_imports_under_type_checking_do_not_count_and_allowed_imports_pass():
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\nimport numpy\n"
    assert not violations(_with({"tracktune.eval.fake": source}), COMMAND_MODULES, ALLOWED_EDGES,
                          ALLOWED_COMMANDS_IN_MODEL)


def test_a_command_module_inside_model_is_reported():
    found = violations(SOURCES, COMMAND_MODULES | {"tracktune.model.vit"}, ALLOWED_EDGES, ALLOWED_COMMANDS_IN_MODEL)
    assert any(v.startswith("tracktune.model.vit is a command module") for v in found), found


def test_relative_imports_resolve():
    names = [n for n, _ in imported_names("from . import a\nfrom ..b import c\n", "tracktune.x.y", False)]
    assert names == ["tracktune.x", "tracktune.x.a", "tracktune.b", "tracktune.b.c"]


def test_evaluation_and_the_loaders_run_without_torch():
    """The same rule, at run time: importing evaluation and every benchmark loader (as
    `tracktune evaluate` does by name) leaves torch unimported."""
    loaders = sorted(m for m in SOURCES if _under(m, "tracktune.data.benchmarks"))
    evaluation = sorted(m for m in SOURCES if _under(m, "tracktune.eval"))
    code = ("import importlib, sys\n"
            f"for name in {evaluation + loaders!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm', 'peft')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.stdout.strip() == "[]", out.stdout[:500]
