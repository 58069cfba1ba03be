"""The layers of docs/architecture.md, checked on the import statements of idp/.

A module may import modules of its own layer and of the layers below, never of a
layer above; and no chain of imports may come back to where it started (an
import cycle), whether the import is at the top of a module or inside a function.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

IDP = Path(__file__).resolve().parent.parent / "idp"

# Lowest first. A module belongs to the layer that names it exactly, else to the
# first layer with a matching pattern.
LAYERS = (
    ("foundation", ("idp.clock", "idp.extensions", "idp.settings", "idp.exceptions",
                    "idp.models", "idp.models.*", "idp.logs", "idp.headers", "idp.metrics",
                    "idp.database", "idp.mail", "idp.audit", "idp.audit_sealer",
                    "idp.forms")),
    ("security rules", ("idp.security", "idp.security.*", "idp.validation",
                        "idp.auth.current", "idp.auth.device")),
    ("OIDC provider", ("idp.oidc", "idp.oidc.*")),
    ("helpdesk services", ("idp.assistance.services", "idp.assistance.permissions",
                           "idp.assistance.search", "idp.assistance.status",
                           "idp.assistance.importer", "idp.demo")),
    ("pages and commands", ("idp.auth", "idp.auth.*", "idp.assistance", "idp.assistance.*",
                            "idp.oidc.views", "idp.oidc.api", "idp.oidc.logout",
                            "idp.oidc.documents", "idp.cli", "idp.cli.*", "idp.errors",
                            "idp.input_filter", "idp.web", "idp.legal", "idp.captcha_voices")),
    ("application", ("idp", "idp.oidc.server")),
)


def module_names() -> dict[str, Path]:
    names = {}
    for path in IDP.rglob("*.py"):
        parts = ("idp", *path.relative_to(IDP).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def layer_of(module: str) -> int:
    for exact in (True, False):
        for index, (_name, patterns) in enumerate(LAYERS):
            if any(module == p if exact else fnmatch(module, p) for p in patterns):
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def imports_of(module: str) -> set[str]:
    """The idp modules that ``module`` imports, anywhere in its text."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    # ``from idp.x import y`` also names the packages on the way: keep the module itself.
    return {t for t in found if not (MODULES[t].name == "__init__.py"
                                     and any(o.startswith(t + ".") for o in found))}


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
        f"({LAYERS[layer_of(target)][0]})"
        for module, targets in GRAPH.items() for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == []


def test_no_import_cycle():
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert cycles == []
