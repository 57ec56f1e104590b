"""The library's shape: one module per concept and no import cycle between them."""

import ast
from pathlib import Path

import cgan_lib

LIB = Path(cgan_lib.__file__).parent


def internal_imports(path: Path) -> set[str]:
    """The cgan_lib modules that `path` imports (relative imports, at any depth)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:  # from . import data
                names.update(alias.name for alias in node.names)
    return names


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A list of modules that import each other in a circle, or None."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            cycle = visit(dep)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_library_modules_import_without_cycles():
    graph = {p.stem: internal_imports(p) for p in LIB.glob("*.py")}
    assert {"checkpoint", "run", "train", "viz", "widgets"} <= set(graph)
    assert find_cycle(graph) is None


def test_the_cycle_check_can_fail(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("from . import a\n")
    graph = {p.stem: internal_imports(p) for p in tmp_path.glob("*.py")}
    assert find_cycle(graph) == ["a", "b", "a"]
