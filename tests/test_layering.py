"""The library's map in cgan_lib/__init__.py is true: every module it lists imports
only modules listed above it, and every module of the package is on the map.

A learner can then read the library top to bottom, each module needing only what came
before it (and there can be no import cycle).
"""

import ast
import re
from pathlib import Path

import cgan_lib

PACKAGE = Path(cgan_lib.__file__).parent


def the_map() -> list[str]:
    """The modules in the order the package docstring lists them."""
    return re.findall(r"^    ([a-z_]+)\s{2,}\S", cgan_lib.__doc__, flags=re.M)


def imported_modules(path: Path) -> set[str]:
    """The package's modules that one file imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:  # from . import a, b
                names.update(alias.name for alias in node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in [module] if module else [a.name for a in node.names]:
                if name and name.startswith("cgan_lib."):
                    names.add(name.split(".")[1])
    return names


def test_every_module_is_on_the_map_once():
    listed = the_map()
    assert len(listed) == len(set(listed)), listed
    files = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert set(listed) == files


def test_each_module_imports_only_modules_above_it():
    listed = the_map()
    wrong = {}
    for i, name in enumerate(listed):
        above = set(listed[:i])
        bad = imported_modules(PACKAGE / f"{name}.py") - above
        if bad:
            wrong[name] = sorted(bad)
    assert not wrong, f"imports against the map's order: {wrong}"


def test_the_check_sees_an_import_against_the_order(tmp_path):
    # the parser must see both spellings, or the test above passes vacuously
    source = "from .train import fit\nfrom . import sample, viz\nimport cgan_lib.toy\n"
    (tmp_path / "m.py").write_text(source)
    assert imported_modules(tmp_path / "m.py") == {"train", "sample", "viz", "toy"}
