"""The package's shape, checked without a database: layers, exports, light imports.

The layers, top to bottom; a module may import only from its own layer or below, never up,
and the import graph has no cycle (httpx's exported-members test and advanced-alchemy's
downward-composed CLI are the models)::

    cli -> report, service, pytest_plugin -> labs -> lab
        -> instruments, demo -> database, workspace -> postgres, _process -> urls
        -> errors, settings, translation
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import sqla_lab

SRC = Path(sqla_lab.__file__).resolve().parent
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("report", "service", "pytest_plugin"),
    ("labs",),
    ("lab",),
    ("instruments", "demo"),
    ("database", "workspace"),
    ("postgres", "_process"),
    ("urls",),
    ("errors", "settings", "translation", "_stats", "_lifecycle"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
HEAVY = ("fastapi", "uvicorn", "matplotlib", "locust", "jinja2", "prometheus_client", "gevent")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _top(module: str) -> str:
    """The first component below ``sqla_lab`` (``sqla_lab`` itself for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sqla_lab"


def _imports(path: Path) -> set[str]:
    """sqla_lab modules imported by the file, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("sqla_lab"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sqla_lab"))
    return found


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(name) for name in MODULES} - {"sqla_lab"}
    assert tops <= set(RANK), f"give these a layer: {sorted(tops - set(RANK))}"


def test_imports_only_go_down_the_layers() -> None:
    upward = []
    for name, path in MODULES.items():
        if name == "sqla_lab":
            continue  # the root re-exports the toolkit, lazily
        for imported in _imports(path):
            if imported == "sqla_lab":
                upward.append(f"{name} imports the package root")
            elif RANK[_top(imported)] < RANK[_top(name)]:
                upward.append(f"{name} -> {imported}")
    assert upward == []


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: {i for i in _imports(path) if i in MODULES} for name, path in MODULES.items()}
    # Tarjan's strongly connected components: any component of more than one module, or a
    # module importing itself, is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    assert cycles == []


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def _bound_names(node: ast.stmt, *, package: bool) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        call = node.value.func if isinstance(node.value, ast.Call) else None
        if isinstance(call, ast.Attribute | ast.Name) and (
            getattr(call, "id", "") in {"TypeVar", "ParamSpec"}
            or getattr(call, "attr", "") == "getLogger"
        ):
            return []  # type variables and loggers are not API
        names = []
        for target in node.targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            names += [e.id for e in elements if isinstance(e, ast.Name)]
        return names
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
        return [n for inner in node.body for n in _bound_names(inner, package=package)]
    if isinstance(node, ast.If):
        # Conditionally defined (e.g. fixtures that need an optional plugin).
        return [n for inner in node.body for n in _bound_names(inner, package=package)]
    if (
        package
        and isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("sqla_lab")
        and not (node.module or "").startswith("sqla_lab.cli")
    ):
        return [a.asname or a.name for a in node.names]
    return []


def _defined_public_names(path: Path) -> set[str]:
    """Top-level names a module defines (a package: re-exports), minus type variables."""
    tree = ast.parse(path.read_text())
    package = path.name == "__init__.py"
    return {
        name
        for node in tree.body
        for name in _bound_names(node, package=package)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "sqla_lab"))
def test_all_is_sorted_and_names_the_public_names(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    declared = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert isinstance(node, ast.Assign | ast.AnnAssign)
            assert node.value is not None
            declared = list(ast.literal_eval(node.value))
    if declared is None:
        assert name.endswith(("__main__", ".locustfile")), f"{name} has no __all__"
        return
    assert declared == sorted(declared, key=_isort_key), f"{name}.__all__ is not sorted"
    assert set(declared) == _defined_public_names(MODULES[name]), name


def test_the_root_exports_the_toolkit_lazily() -> None:
    assert sqla_lab.__all__ == sorted(sqla_lab.__all__, key=_isort_key)
    for name in sqla_lab.__all__:
        assert getattr(sqla_lab, name) is not None, name
    for audience in ("LabContext", "run_labs", "UserEntity", "Finding", "seed"):
        assert audience not in sqla_lab.__all__, f"{audience} is not the toolkit's"
    code = (
        "import sys, sqla_lab\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'asyncpg', 'psycopg', 'pydantic')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", "import sqla_lab must stay light"


@pytest.mark.parametrize("package", ["sqla_lab.lab", "sqla_lab.demo", "sqla_lab.instruments"])
def test_subpackages_export_what_they_import(package: str) -> None:
    module = importlib.import_module(package)
    public = {
        n for n, v in vars(module).items() if not n.startswith("_") and not isinstance(v, type(sys))
    } - {"annotations"}
    assert module.__all__ == sorted(public, key=_isort_key)


@pytest.mark.parametrize(
    "argv", [["--version"], ["list"], ["--help"]], ids=["version", "list", "help"]
)
def test_light_commands_import_no_face(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from sqla_lab.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-500:]
