"""The import graph of ossbox runs one way (issue 10): http -> ops -> storage, auth beside,
the wire protocol types (Request/Response/XML) below http and ops, errors at the bottom.
Storage stands on nothing: it raises its own domain errors, never the OSS catalogue's.

Parsed with ast, never imported: fails on an import against the direction, on a function-level
import of an ossbox module outside the CLI (a late import is how a cycle hides), on any cycle
between modules, and on code outside storage/ reaching around the storage API (the metadata
store, its transactions, the blob/lock drivers or raw file descriptors).
"""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ossbox")

# layer -> the layers it may import (besides itself). Top-level modules are layers of their own.
ALLOWED = {
    "errors": set(),
    "numeric": {"errors"},
    "wire": {"errors", "numeric"},
    "storage": set(),  # its errors are its own (storage/errors.py); http/error_map.py maps them
    "auth": {"errors", "numeric", "wire"},
    "config": {"errors", "auth"},
    "ops": {"errors", "numeric", "wire", "storage", "auth"},
    "http": {"errors", "numeric", "wire", "storage", "auth", "ops", "config"},
    "cli": {"errors", "numeric", "wire", "storage", "auth", "ops", "http", "config", "__init__"},
    "__init__": set(),
    "__main__": {"cli"},
}
# The CLI imports its commands lazily (start-up time of `ossbox --help`); nothing else may.
LATE_IMPORTS_ALLOWED = {"cli"}
# Drivers that need an optional extra (psycopg for PostgreSQL, obstore for s3:// segments) are
# imported by the factory only when configured, so the embedded default runs without the extra.
# Same layer, so no cycle hides.
OPTIONAL_DRIVER_IMPORTS = {("ossbox.storage.drivers", "ossbox.storage.postgres_store"),
                           ("ossbox.storage.drivers", "ossbox.storage.segment_s3"),
                           ("ossbox.storage.migrate", "ossbox.storage.postgres_store")}
# Only the storage layer touches the metadata store, the drivers, and file descriptors.
DRIVER_MODULES = {"ossbox.storage.sqlite_store", "ossbox.storage.postgres_store", "ossbox.storage.metadata",
                  "ossbox.storage.blobs", "ossbox.storage.locks", "ossbox.storage.segments",
                  "ossbox.storage.segment_files", "ossbox.storage.segment_s3"}
DRIVER_IMPORTS_ALLOWED = {"storage"}
FD_CALLS = {"open", "close", "read", "pread", "write", "pwrite", "fsync", "fdatasync", "lseek"}
FD_CALLS_CHECKED = {"wire", "auth", "ops", "http"}


def _modules() -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), os.path.dirname(ROOT))[:-3]
                parts = rel.split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out[".".join(parts)] = os.path.join(dirpath, f)
    return out


MODULES = _modules()


def layer(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _is_package(module: str) -> bool:
    return MODULES[module].endswith("__init__.py")


def _resolve(module: str, node: ast.AST) -> list[str]:
    """The ossbox modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "ossbox" and a.name in MODULES]
    if node.level:
        base = module.split(".")
        if not _is_package(module):
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "ossbox":
        return []
    # `from pkg import module` loads that module; `from module import name` loads the module.
    # (Python also runs every parent package's __init__ first; that is not a dependency on it.)
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    if len(subs) == len(node.names):
        return subs
    return subs + ([target] if target in MODULES else [])


def _imports(module: str):
    """(imported module, line, at module level) for every import of an ossbox module."""
    tree = ast.parse(open(MODULES[module], encoding="utf-8").read(), MODULES[module])
    top = set()

    def collect_top(body):
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                top.add(id(stmt))
            elif isinstance(stmt, (ast.If, ast.Try)):  # still module level (incl. TYPE_CHECKING)
                for block in (stmt.body, getattr(stmt, "orelse", []), getattr(stmt, "finalbody", []),
                              *[h.body for h in getattr(stmt, "handlers", [])]):
                    collect_top(block)
    collect_top(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _resolve(module, node):
                yield target, node.lineno, id(node) in top


GRAPH = {m: list(_imports(m)) for m in MODULES}


def test_the_parser_sees_the_known_edges():
    """Guard against a checker that passes because it sees nothing."""
    assert any(t == "ossbox.storage.engine" for t, _l, _top in GRAPH["ossbox.ops.common"])
    assert any(t == "ossbox.ops.admin" for t, _l, _top in GRAPH["ossbox.http.router"])
    assert any(t == "ossbox.wire.request" for t, _l, _top in GRAPH["ossbox.ops.objects"])
    assert len(MODULES) > 40


def test_imports_run_one_way():
    wrong = []
    for module, edges in GRAPH.items():
        mine = layer(module)
        for target, line, _top in edges:
            theirs = layer(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                wrong.append(f"{MODULES[module]}:{line}: {module} ({mine}) imports {target} ({theirs})")
    assert not wrong, "imports against the layer direction:\n" + "\n".join(wrong)


def test_no_late_imports_of_ossbox_modules():
    late = [f"{MODULES[m]}:{line}: {m} imports {t} inside a function"
            for m, edges in GRAPH.items() if layer(m) not in LATE_IMPORTS_ALLOWED
            for t, line, top in edges if not top and (m, t) not in OPTIONAL_DRIVER_IMPORTS]
    assert not late, "function-level imports (they hide cycles):\n" + "\n".join(late)


def test_no_import_cycles():
    """No cycle among modules (every import counted, module level or not, TYPE_CHECKING too)."""
    graph = {m: sorted({t for t, _l, _top in edges if t != m}) for m, edges in GRAPH.items()}
    # a package's __init__ importing its own submodules is how packages re-export, not a cycle
    # with them unless a submodule imports the package back, which this still catches
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) != "storage"))
def test_one_way_into_storage(module):
    """Outside storage/: no metadata store (`.meta`), no driver module, no file descriptor."""
    tree = ast.parse(open(MODULES[module], encoding="utf-8").read())
    bad = []
    for t, line, _top in GRAPH[module]:
        if t in DRIVER_MODULES and layer(module) not in DRIVER_IMPORTS_ALLOWED:
            bad.append(f"line {line}: imports {t}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "meta" and layer(module) != "cli":
            bad.append(f"line {node.lineno}: .meta (the metadata store)")
        if (layer(module) in FD_CALLS_CHECKED and isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in FD_CALLS):
            bad.append(f"line {node.lineno}: os.{node.attr} (a raw file descriptor)")
    assert not bad, f"{MODULES[module]} reaches around the storage API:\n" + "\n".join(bad)


def test_storage_raises_no_oss_errors():
    """Storage names what went wrong in its own terms (storage/errors.py); only the HTTP layer
    decides status, Code and EC (http/error_map.py). No storage module imports the OSS
    catalogue, nor `numeric` (whose parsers raise OSS errors), nor names OssError."""
    bad = []
    for module in sorted(m for m in MODULES if layer(m) == "storage"):
        for t, line, _top in GRAPH[module]:
            if layer(t) in ("errors", "numeric"):
                bad.append(f"{MODULES[module]}:{line}: imports {t}")
        tree = ast.parse(open(MODULES[module], encoding="utf-8").read())
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if name == "OssError":
                bad.append(f"{MODULES[module]}:{node.lineno}: OssError")
    assert not bad, "storage using the OSS error catalogue:\n" + "\n".join(bad)
