"""The import rules of docs/architecture.md, checked on the source: each package of
openproctor.server may import only the layers below it, and only the web layer (web/, the LTI
routes, app.py) and the CLI know Starlette. A new import that crosses a line fails here with
the module and the import named."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[3] / "server"

#: The layers, lowest first: a module may import its own layer and those before it.
LAYERS: dict[str, set[str]] = {
    "base": {
        "errors",
        "settings",
        "observability",
        "integrity",
        "access",
        "assets",
        "ratelimit",
        "i18n",
    },
    "security": {"security"},
    "storage": {"storage"},
    "domain": {
        "sessions",
        "ingest",
        "writer",
        "policies",
        "reviewers",
        "reports",
        "evidence",
        "webhooks",
        "access_codes",
        "identities",
        "constructor",
        "notice",
        "explanations",
        "fairness",
        "people",
        "whatif",
    },
    "lti": {"lti", "lti.keys", "lti.launch", "lti.registration"},
    "services": {"services"},
    "web": {"web", "lti.routes", "lti.registration_routes", "app"},
    "cli": {"cli"},
}
ORDER = list(LAYERS)
#: What may import the web framework (and the ASGI server).
WEB_FRAMEWORK = {"starlette", "uvicorn"}
MAY_USE_WEB_FRAMEWORK = {"web", "cli"}


def layer_of(module: str) -> str:
    """``lti.routes`` -> "web"; ``storage.sessions`` -> "storage"; ``errors`` -> "base"."""
    for name in (module, module.split(".")[0]):
        for layer, members in LAYERS.items():
            if name in members:
                return layer
    raise AssertionError(f"server/{module}: in no layer of docs/architecture.md; add it there")


def modules() -> list[str]:
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        parts = path.relative_to(SERVER).with_suffix("").parts
        if "migrations" in parts or parts == ("__init__",):
            continue
        found.append(".".join(p for p in parts if p != "__init__"))
    return found


def imports(module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import: server-relative names for our own modules,
    top-level names for the rest."""
    path = SERVER / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                prefix = "openproctor.server."
                found.append(
                    (
                        name[len(prefix) :] if name.startswith(prefix) else name.split(".")[0],
                        node.lineno,
                    )
                )
                continue
            base = package[: len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from .lti import routes` imports the module lti.routes
                submodule = f"{target}.{alias.name}".strip(".")
                found.append((submodule if is_module(submodule) else target, node.lineno))
    return found


def source(module: str) -> str:
    path = SERVER / Path(*module.split("."))
    return str(
        (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(
            SERVER.parent
        )
    )


def is_module(name: str) -> bool:
    path = SERVER / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def own(name: str) -> bool:
    top = name.split(".")[0]
    return (SERVER / top).is_dir() or (SERVER / f"{top}.py").is_file()


@pytest.mark.parametrize("module", modules())
def test_a_module_imports_only_the_layers_below_it(module: str) -> None:
    rank = ORDER.index(layer_of(module))
    for name, line in imports(module):
        if own(name):
            target = layer_of(name)
            assert ORDER.index(target) <= rank, (
                f"{source(module)} (layer {layer_of(module)}) imports {name} (layer {target}) "
                f"at line {line}: see docs/architecture.md"
            )
        elif name in WEB_FRAMEWORK:
            assert layer_of(module) in MAY_USE_WEB_FRAMEWORK, (
                f"{source(module)} imports {name} at line {line}: only web/ and cli/ may"
            )


def test_the_rules_can_fail() -> None:
    # The checker sees a crossing: storage importing the web layer would be one.
    assert layer_of("storage.sessions") == "storage"
    assert ORDER.index(layer_of("web.http")) > ORDER.index(layer_of("storage.sessions"))
    assert "errors" in [name for name, _ in imports("storage.database")]
    assert "lti.routes" in [name for name, _ in imports("app")]  # from .lti import routes
