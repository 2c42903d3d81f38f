"""The package's architecture, read from its source with ``ast`` (module- and function-level imports).

* no import cycle between modules, counting imports inside functions and the package ``__init__`` that
  importing a submodule runs first;
* imports flow one way across the floors drawn in ``salesops_kit/README.md``;
* charts are imported by the topics only inside functions (a result's ``.plot()``), and ``plots``
  imports no topic;
* no module imports another module's underscored names;
* the package root holds at most 16 entries (modules and subpackages).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import salesops_kit

KIT = Path(salesops_kit.__file__).parent
PKG = "salesops_kit"

# Floors, lowest first: a module may import its own floor's modules and lower floors, never a higher one.
# (A result's ``.plot()`` may import ``plots`` inside the method: see test_imports_flow_one_way.)
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("salesops_kit.tools", "salesops_kit.i18n")),
    ("data", ("salesops_kit.data.schema", "salesops_kit.data.parse", "salesops_kit.data.readers",
              "salesops_kit.data.mapping", "salesops_kit.data.dataset", "salesops_kit.findings")),
    ("engines", ("salesops_kit.engines",)),
    ("loader", ("salesops_kit.data",)),
    ("stats", ("salesops_kit.stats",)),
    ("topics", ("salesops_kit.funnel", "salesops_kit.value", "salesops_kit.forecast", "salesops_kit.reps",
                "salesops_kit.monitor")),
    ("registry", ("salesops_kit.kpis",)),
    ("plots", ("salesops_kit.plots",)),
    ("report", ("salesops_kit.report",)),
    ("cli", ("salesops_kit.cli", "salesops_kit")),
]
TOPICS = dict(FLOORS)["topics"]


def _modules() -> dict[str, Path]:
    out = {}
    for p in KIT.rglob("*.py"):
        parts = list(p.relative_to(KIT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _floor(mod: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(FLOORS):
        for pre in prefixes:
            if (mod == pre or mod.startswith(pre + ".")) and len(pre) > best:
                best, rank = len(pre), i
    return rank


def _imports(mod: str) -> list[tuple[str, str | None, bool, int]]:
    """(imported module, imported name or None, inside a function?, line) for every kit import of ``mod``."""
    path = MODULES[mod]
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node, in_func):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, None, f, child.lineno) for a in child.names if a.name.split(".")[0] == PKG)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] != PKG:
                    continue
                for a in child.names:
                    sub = f"{target}.{a.name}"
                    out.append((sub, None, f, child.lineno) if sub in MODULES else (target, a.name, f, child.lineno))
            visit(child, f)

    visit(tree, False)
    return out


def _resolve(target: str) -> str:
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _, _, _ in _imports(m):
            t = _resolve(target)
            # importing a.b.c runs a/__init__ and a/b/__init__ first
            parts = t.split(".")
            for i in range(2, len(parts) + 1):
                dep = ".".join(parts[:i])
                if dep in MODULES and dep != m and not m.startswith(dep + "."):
                    g[m].add(dep)
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return out


def test_the_walk_sees_the_package():
    g = _graph()
    assert len(MODULES) > 40 and sum(len(v) for v in g.values()) > 100  # a broken walk would pass vacuously
    assert "salesops_kit.data.schema" in g["salesops_kit.engines._pandas"]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (module- and function-level imports): " + "; ".join(" <-> ".join(c)
                                                                                           for c in cycles)


def test_a_planted_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_has_a_floor():
    assert [m for m in MODULES if _floor(m) < 0] == []


def test_imports_flow_one_way():
    bad = []
    for m in MODULES:
        for target, _, in_func, line in _imports(m):
            t = _resolve(target)
            # a result's .plot() (topics, the audit) imports its chart inside the method: the one look upward
            if _floor(t) > _floor(m) and not (in_func and _floor(t) == _floor("salesops_kit.plots")):
                bad.append(f"{m}:{line} ({FLOORS[_floor(m)][0]}) imports {t} ({FLOORS[_floor(t)][0]})")
    assert not bad, "imports that climb a floor:\n" + "\n".join(bad)


def test_topics_import_plots_only_inside_functions_and_plots_import_no_topic():
    bad = []
    for m in MODULES:
        for target, _, in_func, line in _imports(m):
            t = _resolve(target)
            if m.startswith(TOPICS) and t.startswith("salesops_kit.plots") and not in_func:
                bad.append(f"{m}:{line} imports {t} at module level")
            if m.startswith("salesops_kit.plots") and t.startswith(TOPICS):
                bad.append(f"{m}:{line} imports the topic {t}")
    assert not bad, "\n".join(bad)


def test_no_module_imports_another_modules_underscored_names():
    bad = []
    for m in MODULES:
        for target, name, _, line in _imports(m):
            if name and name.startswith("_") and not name.startswith("__") and _resolve(target) != m:
                bad.append(f"{m}:{line} imports {name} from {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("pkg", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_every_subpackage_says_what_it_owns(pkg):
    doc = ast.get_docstring(ast.parse(MODULES[pkg].read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 6, f"{pkg}/__init__.py needs a docstring saying what the package owns"


def test_the_root_holds_at_most_16_entries():
    entries = sorted(p.name for p in KIT.iterdir()
                     if (p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").exists()))
    assert len(entries) <= 16, entries


def test_charts_are_named_plot_thing_and_plots_all_lists_every_one():
    import importlib

    plots = importlib.import_module("salesops_kit.plots")
    charts = set()
    for mod, path in MODULES.items():
        if mod.startswith("salesops_kit.plots.") and not path.stem.startswith("_"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
            assert all(n.startswith("plot_") for n in names), f"{mod}: charts are named plot_<thing>: {names}"
            charts |= set(names)
    assert len(charts) > 20
    assert charts <= set(plots.__all__), sorted(charts - set(plots.__all__))
    assert all(callable(getattr(plots, n)) for n in plots.__all__)
