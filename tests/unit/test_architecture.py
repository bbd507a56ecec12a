"""The house keeps its shape: import-linter's contracts hold, and the top level stays small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
STREAMS = ROOT / "streams"


def test_the_import_contracts_hold() -> None:
    """Layers and no cycles (``[tool.importlinter]`` in pyproject.toml), as ``make lint``."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_at_most_eight_modules_directly_under_streams() -> None:
    modules = sorted(p.name for p in STREAMS.glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 8, modules


def test_every_package_says_what_it_owns() -> None:
    for init in STREAMS.rglob("__init__.py"):
        if "templates" in init.parts:
            continue
        assert init.read_text().startswith('"""'), f"{init.relative_to(ROOT)} has no docstring"


def test_no_module_imports_its_own_package() -> None:
    """``from streams.classify import x`` inside ``streams.classify`` imports the package's
    ``__init__``, which imports the module back: a cycle ``acyclic_siblings`` cannot see."""
    import grimp

    graph = grimp.build_graph("streams", "schemas")
    offenders = [
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if module.startswith(imported + ".")
    ]
    assert not offenders, offenders


def test_no_module_imports_a_sibling_through_its_package() -> None:
    """``from streams.agents import care`` inside ``streams.agents.insight`` runs the package's
    ``__init__``, which imports ``insight`` back: a cycle grimp records as a sibling import
    only, so the source is read where the package's ``__init__`` imports the module, directly
    or through another (``agents`` -> ``customers`` -> ``erasure`` -> ``from streams.agents``)."""
    import ast

    import grimp

    graph = grimp.build_graph("streams", "schemas")
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in [*(root / "streams").rglob("*.py"), *(root / "schemas").rglob("*.py")]:
        if path.name == "__init__.py":
            continue
        parts = path.relative_to(root).with_suffix("").parts
        module, package = ".".join(parts), ".".join(parts[:-1])
        if module not in graph.find_upstream_modules(package):
            continue  # the package does not import this module, even through another: no cycle
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == package and node.level == 0:
                offenders.append(f"{module}: from {package} import ...")
    assert not offenders, offenders


def test_records_import_no_numerics() -> None:
    """The bench's peer venv (no numpy) imports the records; the feedback model stays out."""
    import subprocess
    import sys

    code = "import sys, streams.records; print(sorted({'numpy', 'sklearn'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_kafka_client_comes_from_the_factory() -> None:
    """A client built elsewhere would miss the security settings (TLS, SASL): plaintext, or a
    refused login, on a secure cluster. Only streams/kafka/clients.py constructs one."""
    import ast

    constructors = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "AIOKafkaClient"}
    factory = STREAMS / "kafka" / "clients.py"
    offenders = []
    for path in [*STREAMS.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        if path == factory:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in constructors:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(...)")
    assert not offenders, offenders
