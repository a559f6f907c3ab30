"""Arrows point one way: `services/` may import `shared/`, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nothing_under_shared_imports_a_service():
    offenders = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "shared").rglob("*.py"))
        for module in _imported_modules(path)
        if module == "services" or module.startswith("services.")
    }
    assert not offenders, sorted(offenders)
