"""genlab's imports point one way: no import circle (counting imports inside functions, which only hide one),
and no module imports a module of a higher layer than its own (the layers docs/architecture.md draws)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "genlab"

# the layers of docs/architecture.md, lowest first: a module imports only from its own layer or below
LAYERS: dict[str, int] = {
    # 0: leaves (and the subpackages' docstring-only __init__ files)
    **dict.fromkeys(
        [
            "core",
            "core.bounds",
            "core.devices",
            "core.errors",
            "core.names",
            "core.paths",
            "core.progress",
            "core.safeio",
            "core.threads",
            "data.datasource",
            "data.demo_shapes",
            "eval",
            "eval.gmm",
            "eval.junk",
            "eval.latent_flow",
            "eval.metric_specs",
            "eval.metrics",
            "genlab",
            "models.base",
            "models.flow_matching",
            "models.nn",
            "models.diffaugment",
            "report",
            "store",
            "study",
            "study.study_request",
            "train",
            "train.compute",
            "train.schedules",
        ],
        0,
    ),
    # 1: files and data
    **dict.fromkeys(
        [
            "core.browser",
            "data",
            "data.cifar10",
            "data.folders",
            "data.stacked_mnist",
            "eval.shipped_judges",
            "report.viz",
            "store.checkpoint",
            "store.runs",
            "store.schema",
        ],
        1,
    ),
    # 2: what a run is
    **dict.fromkeys(["models", "models.flow", "models.gan", "models.vae", "models.vaegan", "train.config"], 2),
    # 3: the loop and the judge
    **dict.fromkeys(["eval.features", "eval.samplers", "study.studies", "train.loop", "train.tb_logger"], 3),
    # 4: measuring and drawing runs
    **dict.fromkeys(
        [
            "eval.evaluate",
            "report.collapse",
            "report.compare",
            "report.families",
            "report.figures",
            "report.findings",
            "report.sensitivity",
        ],
        4,
    ),
    # 5
    **dict.fromkeys(["report.html", "study.one_run"], 5),
    # 6: executors
    **dict.fromkeys(["study.executor_ray", "study.sweep"], 6),
    # 7: the command line
    **dict.fromkeys(["__main__", "cli"], 7),
}


def modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts).removesuffix("__init__").rstrip(".") or "genlab"
        out[name] = p
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    """genlab modules `path` imports anywhere in the file (top level or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            if n == "genlab" or n.startswith("genlab."):
                short = n.removeprefix("genlab.") if n != "genlab" else "genlab"
                if short in known:
                    found.add(short)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) - {m} for m, p in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert cycles(graph()) == []


def test_every_module_has_a_layer():
    missing = sorted(set(modules()) - set(LAYERS))
    assert not missing, f"place these in tests/test_imports.py LAYERS (and docs/architecture.md): {missing}"


def test_no_import_points_up_the_layers():
    up = [
        f"{m} (layer {LAYERS[m]}) imports {t} (layer {LAYERS[t]})"
        for m, ts in graph().items()
        for t in ts
        if m in LAYERS and t in LAYERS and LAYERS[t] > LAYERS[m]
    ]
    assert not up, up


def test_the_checker_finds_a_circle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
