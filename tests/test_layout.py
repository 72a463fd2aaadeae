"""The shape of the package: no import cycle among subpackages, no import of another subpackage's
private module, and pricing that never loads training code (STYLE.md, "One home per concept")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import specprompt

ROOT = Path(specprompt.__file__).parent
# Modules that the `ux` branch moves into specprompt/cli/ (serve/_cli.py -> cli/_serve.py,
# vlm/_cli.py -> cli/_train.py). Until that lands they are CLI code parked in another package; the
# test below fails once they are gone, so this list is emptied when the move is merged.
PENDING_CLI_MOVES: tuple[str, ...] = ()


def _subpackages() -> set[str]:
    return {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every ``specprompt...`` module path that ``path`` imports, at any depth (lazy imports in
    functions and ``TYPE_CHECKING`` blocks included); ``from pkg import name`` yields ``pkg.name``
    too, so importing a private submodule by name is seen."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _package_of(path: Path) -> str | None:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else None


def _sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(ROOT.rglob("*.py")):
        package = _package_of(path)
        if package is not None:
            yield path, package


def _rel(path: Path) -> str:
    return path.relative_to(ROOT.parent).as_posix()


def test_pending_cli_moves_are_still_pending() -> None:
    missing = [p for p in PENDING_CLI_MOVES if not (ROOT.parent / p).is_file()]
    assert not missing, f"{missing} moved: drop them from PENDING_CLI_MOVES"


def test_no_package_imports_another_packages_private_module() -> None:
    packages = _subpackages()
    pending = {p.removesuffix(".py").replace("/", ".") for p in PENDING_CLI_MOVES}
    bad = set()
    for path, package in _sources():
        for line, target in _imports(path):
            parts = target.split(".")
            if parts[0] != "specprompt" or len(parts) < 3 or parts[1] not in packages or parts[1] == package:
                continue
            private = [i for i, part in enumerate(parts) if i >= 2 and part.startswith("_")]
            if private and ".".join(parts[:3]) not in pending:
                bad.add(f"{_rel(path)}:{line} imports {'.'.join(parts[: private[0] + 1])}")
    assert not bad, "import the package's public name instead:\n" + "\n".join(sorted(bad))


def _graph() -> dict[str, set[str]]:
    packages = _subpackages()
    edges: dict[str, set[str]] = {p: set() for p in packages}
    for path, package in _sources():
        if _rel(path) in PENDING_CLI_MOVES:
            continue
        for _, target in _imports(path):
            parts = target.split(".")
            if parts[0] == "specprompt" and len(parts) > 1 and parts[1] in packages and parts[1] != package:
                edges[package].add(parts[1])
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_subpackages() -> None:
    edges = _graph()
    assert edges["serve"] and edges["scorers"], "the graph found no imports: the scan is broken"
    cycle = _cycle(edges)
    assert cycle is None, f"import cycle among subpackages: {' -> '.join(cycle)}"


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_pricing_imports_no_training_code_and_no_argparse() -> None:
    loaded = _modules_after("import specprompt; specprompt.image_tokens('local', 512, 512)")
    assert "specprompt.vlm._tokenizer" in loaded  # the local cost model is the VLM's tokenizer
    unwanted = {m for m in loaded if m.startswith(("specprompt.training", "specprompt.cli", "torch"))}
    unwanted |= {m for m in loaded if m.endswith("._cli") or m == "argparse"}
    assert not unwanted, f"pricing one image imported {sorted(unwanted)}"


def test_runtime_vlm_imports_no_training_code() -> None:
    loaded = _modules_after("from specprompt.vlm import LocalVLM; LocalVLM.load()")
    assert "specprompt.vlm._model" in loaded
    assert not {m for m in loaded if m.startswith("specprompt.training")}
