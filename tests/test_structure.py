"""The library's shape: one module per concept, no import cycle between them, and the
map in cgan_lib/__init__.py true: every module it lists imports only modules listed
above it (so a learner can read the library top to bottom), and every module is on it.
"""

import ast
import re
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


def the_map() -> list[str]:
    """The modules in the order the package docstring lists them."""
    return re.findall(r"^    ([a-z_]+)\s{2,}\S", cgan_lib.__doc__, flags=re.M)


def test_every_module_is_on_the_map_once():
    listed = the_map()
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == {p.stem for p in LIB.glob("*.py")} - {"__init__"}


def test_each_module_imports_only_modules_above_it_on_the_map():
    listed = the_map()
    wrong = {
        name: sorted(internal_imports(LIB / f"{name}.py") - set(listed[:i]))
        for i, name in enumerate(listed)
    }
    wrong = {name: bad for name, bad in wrong.items() if bad}
    assert not wrong, f"imports against the map's order: {wrong}"


def test_the_map_check_can_fail(tmp_path):
    # an import of a module listed further down must be seen, in both spellings
    source = "from .train import fit\nfrom . import sample, viz\n"
    (tmp_path / "m.py").write_text(source)
    assert internal_imports(tmp_path / "m.py") == {"train", "sample", "viz"}
