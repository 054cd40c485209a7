"""The web app and the use cases depend on ops.ports' protocols, never on the service itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cio_warehouse"


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


@pytest.mark.parametrize("package", ["web", "ops"])
def test_no_module_imports_the_service(package: str) -> None:
    upward = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in _imported(path) if name.startswith("cio_warehouse.service")
        )
        for path in (PACKAGE / package).rglob("*.py")
    }
    assert {path: names for path, names in upward.items() if names} == {}
