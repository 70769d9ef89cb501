"""The layout rules of docs/architecture.md, checked on the source (issue 19).

- No import cycle among the project's own modules. Every import counts, also one inside a
  function: a lazy import only hides a cycle until the branch that runs it.
- Under `components/`: no module over 500 lines, no class over 250 lines, so a newcomer finds a
  part by its file name instead of by scrolling.
- One place installs Helm charts (`components/platform/charts.py`), so every chart is pinned the
  same way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("components", "synth", "rehearsal", "scripts", "policies/saas_policies")
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 250


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every project module by dotted name (policies' package is named from its own folder)."""
    modules: dict[str, Path] = {}
    for package in packages:
        base = root / package
        import_root = base.parent if "/" in package else root
        for path in sorted(base.rglob("*.py")):
            if any(part in {"venv", ".venv", "node_modules", "__pycache__"} for part in path.parts):
                continue
            modules[_module_name(path, import_root)] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool, modules: Mapping[str, Path]) -> Iterable[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            # `from pkg import submodule` needs the submodule, not the names of pkg/__init__.
            submodule = f"{prefix}.{alias.name}"
            yield submodule if submodule in modules else prefix


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports, wherever the import statement stands."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _imported(node, name, path.name == "__init__.py", modules):
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_lazy_import_counts(tmp_path: Path) -> None:
    """The shape the edge modules had: a top-level import one way, a lazy one back."""
    package = tmp_path / "components"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "dns.py").write_text("def build():\n    from components import mail\n")
    (package / "mail.py").write_text("from components.dns import build\n")
    graph = import_graph(project_modules(tmp_path, ("components",)))
    assert cycles(graph) == [["components.dns", "components.mail"]]


def test_no_import_cycle() -> None:
    graph = import_graph(project_modules())
    assert len(graph) > 50, "the project's modules were not found"
    assert cycles(graph) == []


def _long_classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(ROOT) if path.is_absolute() else path}:{node.lineno} class {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    ]


def test_components_are_small_enough_to_find_things_in() -> None:
    paths = sorted((ROOT / "components").rglob("*.py"))
    long_modules = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in paths
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert long_modules == []
    assert [entry for path in paths for entry in _long_classes(path)] == []


def test_one_place_installs_helm_charts() -> None:
    places = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("components", "synth", "__main__.py")
        for path in ([ROOT / package] if package.endswith(".py") else sorted((ROOT / package).rglob("*.py")))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "helm.v3.Release(" in line
    ]
    assert len(places) == 1 and places[0].startswith("components/platform/charts.py:"), places


ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"


def allowed_imports(doc: str) -> dict[str, set[str]]:
    """The 'may import' column of docs/architecture.md, per package (`components/<name>`)."""
    allowed: dict[str, set[str]] = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`components/"):
            package = cells[0].strip("`").split("/", 1)[1]
            allowed[package] = {name.split()[0] for name in cells[2].split("`")[1::2]}
    return allowed


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "components" and len(parts) > 1 else None


def forbidden_imports(graph: Mapping[str, set[str]], allowed: Mapping[str, set[str]]) -> list[str]:
    """Imports from one package of components/ into another that its row does not allow."""
    found = []
    for module, targets in sorted(graph.items()):
        source = _package(module)
        if source is None:
            continue
        for target in sorted(targets):
            package = _package(target)
            if package is not None and package != source and package not in allowed.get(source, set()):
                found.append(f"{module} -> {target}")
    return found


def test_the_layer_check_can_fail() -> None:
    allowed = {"data": {"config"}, "config": set()}
    graph = {"components.data.redis": {"components.config", "components.backend.settings"}, "components.config": set()}
    assert forbidden_imports(graph, allowed) == ["components.data.redis -> components.backend.settings"]


def test_every_package_is_in_the_architecture_table() -> None:
    allowed = allowed_imports(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    packages = {_package(name) for name in project_modules(ROOT, ("components",))} - {None}
    assert packages == set(allowed), "docs/architecture.md lists each package of components/ once"
    assert all(target in allowed for targets in allowed.values() for target in targets)


def test_packages_import_only_what_the_architecture_allows() -> None:
    allowed = allowed_imports(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    assert forbidden_imports(import_graph(project_modules()), allowed) == []
