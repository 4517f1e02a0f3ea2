"""The services never import each other, and the engine imports none of them.

ingest/, fanout/ and readers/ each import only themselves and engine/; engine/ imports none of
the three, nor the composition root (timeline/), bench/ or tests/. Every import statement of
every module counts, at any depth (inside functions and `if TYPE_CHECKING:` too).

No module imports another module's private (`_underscore`) names: what neighbours share is
public in the module that owns it (the adapters' packages most of all).
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "fanout", "readers")
OUTSIDE = ("timeline", "bench", "tests", "deploy")


def imported(path: Path, package: str) -> set[str]:
    """The top-level packages a module imports (relative imports name its own package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(package if node.level else str(node.module))
    return {name.split(".")[0] for name in found}


def forbidden(package: str) -> set[str]:
    if package == "engine":
        return {*SERVICES, *OUTSIDE}
    return {*SERVICES, *OUTSIDE} - {package}


def violations(root: Path) -> list[str]:
    found = []
    for package in ("engine", *SERVICES):
        for path in sorted((root / package).rglob("*.py")):
            for name in sorted(imported(path, package) & forbidden(package)):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


def private_imports(root: Path) -> list[str]:
    """`path imports module._name` for every private name imported from another module."""
    found = []
    for package in ("engine", *SERVICES, "timeline"):
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.ImportFrom):
                    found += [
                        f"{path.relative_to(root)} imports {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_")
                    ]
    return found


def test_no_service_imports_another_and_the_engine_imports_no_service() -> None:
    assert violations(ROOT) == []


def test_every_package_is_walked() -> None:
    for package in ("engine", *SERVICES):
        assert len(list((ROOT / package).rglob("*.py"))) > 3, package
    assert (ROOT / "engine" / "adapters").is_dir()


def test_a_cross_import_is_found(tmp_path: Path) -> None:
    for package in ("engine", *SERVICES):
        (tmp_path / package).mkdir()
    (tmp_path / "readers" / "a.py").write_text("from fanout.search import x\n")
    (tmp_path / "engine" / "b.py").write_text("def f():\n    import readers.pages\n")
    (tmp_path / "fanout" / "c.py").write_text("from . import d\nfrom engine import e\n")
    (tmp_path / "ingest" / "d.py").write_text("import timeline.app\n")
    assert violations(tmp_path) == [
        "engine/b.py imports readers",
        "ingest/d.py imports timeline",
        "readers/a.py imports fanout",
    ]


def test_no_module_imports_a_private_name_of_another() -> None:
    assert private_imports(ROOT) == []


def test_a_private_import_is_found(tmp_path: Path) -> None:
    for package in ("engine", *SERVICES, "timeline"):
        (tmp_path / package).mkdir()
    (tmp_path / "engine" / "a.py").write_text("from engine.adapters.log import _end, offsets\n")
    (tmp_path / "fanout" / "b.py").write_text("def f():\n    from .c import _g\n")
    (tmp_path / "readers" / "c.py").write_text("from __future__ import annotations\n")
    assert private_imports(tmp_path) == [
        "engine/a.py imports engine.adapters.log._end",
        "fanout/b.py imports c._g",
    ]
