"""Keep the chapter notebooks consistent with _config.yml and store them clean.

    python tools/sync_notebooks.py          # rewrite every notebooks/*.ipynb
    python tools/sync_notebooks.py --check  # exit 1 if any would change (the tests)

- The first code cell of every chapter installs cgan_lib from the repository named in
  _config.yml, only when it runs inside Colab. _config.yml is the one place that names
  the repository; this script copies it.
- Outputs and execution counts are stripped: the book build executes the notebooks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB_TAG = "colab-install"


def repository() -> tuple[str, str]:
    """(url, branch) from _config.yml (a tiny parser: no YAML dependency needed)."""
    url = branch = None
    section = None
    for line in (ROOT / "_config.yml").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            section = line.split(":")[0].strip()
        elif section == "repository" and ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            value = value.split(" #")[0].strip().strip('"')
            if key == "url":
                url = value
            elif key == "branch":
                branch = value
    if not url or not branch:
        raise SystemExit("_config.yml must set repository.url and repository.branch")
    return url, branch


def colab_cell_source() -> str:
    """The install cell, as ruff formats it (88 columns, like all notebook code)."""
    url, branch = repository()
    return (
        "# In Colab, install cgan_lib (the book's library) from the book's\n"
        "# repository; elsewhere do nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    package = "cgan_lib @ git+{url}@{branch}"\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q", package]\n'
        "    subprocess.run(pip, check=True)"
    )


def synced(nb: dict) -> dict:
    nb = json.loads(json.dumps(nb))
    cells = nb["cells"]
    colab = {
        "cell_type": "code",
        "metadata": {"tags": [COLAB_TAG, "remove-cell"]},
        "source": colab_cell_source(),
        "outputs": [],
        "execution_count": None,
    }
    existing = [
        i
        for i, c in enumerate(cells)
        if COLAB_TAG in c.get("metadata", {}).get("tags", [])
    ]
    for i in reversed(existing):
        del cells[i]
    first_code = next(
        (i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells)
    )
    cells.insert(first_code, colab)
    for c in cells:
        if isinstance(c.get("source"), list):
            c["source"] = "".join(c["source"])
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
        c.pop("id", None)
    nb["nbformat"], nb["nbformat_minor"] = 4, 4
    nb["metadata"] = {
        "kernelspec": {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    return nb


def main(check: bool) -> int:
    changed = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        new = synced(nb)
        text = json.dumps(new, indent=1, ensure_ascii=False) + "\n"
        if text != path.read_text():
            changed.append(path.name)
            if not check:
                path.write_text(text)
    if check and changed:
        print("out of sync (run python tools/sync_notebooks.py):", ", ".join(changed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv))
