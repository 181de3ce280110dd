"""The import graph of beamish and apps, read from the sources (ast).

Three rules keep the layers readable and the packages replaceable:

* no module imports another package's private (``_``) module: packages
  meet only at their public faces (``beamish.otp``, ``beamish.lowlevel``...);
* nothing imports upward in the layer order core -> otp -> pubsub ->
  dist (distribution) -> presence -> channels -> observer -> boot (node boot) -> apps (``beamish.lowlevel``
  is the core's second face; ``beamish.testing`` and ``beamish.cli`` sit
  on top);
* no two modules import each other, directly or around a loop.

Imports inside functions count too: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Layer of each top-level part; a module may import its own layer or lower.
LAYERS = {
    "core": 0, "lowlevel": 0, "otp": 1, "beamish": 1, "pubsub": 2, "dist": 2.5, "presence": 3,
    "channels": 4, "observer": 5, "boot": 6, "apps": 7, "testing": 8, "cli": 8,
}


def _modules() -> dict:
    """Dotted name -> path of every module under beamish/ and apps/."""
    found = {}
    for top in ("beamish", "apps"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _part(module: str) -> str:
    """The layer part a module belongs to: ``beamish.otp._task`` -> ``otp``."""
    parts = module.split(".")
    if parts[0] == "apps":
        return "apps"
    return parts[1] if len(parts) > 1 else "beamish"


def _package(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _type_only(tree: ast.AST) -> set:
    return {id(n) for node in ast.walk(tree)
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
            for stmt in node.body for n in ast.walk(stmt)}


def _imports(module: str) -> list:
    """``(line, imported module)`` for every import of a beamish/apps module,
    resolved to the module file it loads (a name imported from a package is
    the package unless it is a submodule)."""
    tree = ast.parse(MODULES[module].read_text())
    skip = _type_only(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module).split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if target not in MODULES:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((node.lineno, sub if sub in MODULES else target))
    return out


def _is_private(module: str) -> bool:
    return any(p.startswith("_") for p in module.split("."))


def test_the_graph_sees_every_layer():
    assert {_part(m) for m in MODULES} == set(LAYERS)


def test_no_module_imports_another_packages_private_module():
    bad = []
    for module in MODULES:
        own = "core" if module == "beamish.lowlevel" else _part(module)
        for line, target in _imports(module):
            if _is_private(target) and _part(target) != own:
                bad.append(f"{module}:{line} imports {target}")
    assert bad == []


def test_nothing_imports_upward():
    bad = []
    for module in MODULES:
        for line, target in _imports(module):
            if LAYERS[_part(target)] > LAYERS[_part(module)]:
                bad.append(f"{module}:{line} ({_part(module)}) imports {target}")
    assert bad == []


def test_no_import_cycles():
    graph = {m: {t for _, t in _imports(m) if t != m} for m in MODULES}
    # A module importing its own package's face is the package loading
    # itself, not a cycle of two concepts; leave those edges out.
    for m, targets in graph.items():
        targets -= {p for p in targets if m.startswith(p + ".")}
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:   # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    assert cycles == []
