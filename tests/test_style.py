"""The code style the project agreed on ([tool.ruff] in pyproject.toml: pyflakes, pycodestyle with
120-column lines, import order, bugbear, pyupgrade) holds in the package, the tests and the benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "salesops_kit", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_ruff_enforces_the_line_length():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--stdin-filename", "x.py", "-"],
                          cwd=ROOT, input="x = 1" + " " * 0 + "  # " + "y" * 130 + "\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "E501" in proc.stdout


def test_test_files_have_unique_names():
    # pytest imports test modules by basename (rootdir imports, no __init__.py in tests/): a second test_x.py in
    # another folder stops the whole run at collection, which running one file at a time never shows
    seen: dict[str, list[str]] = {}
    for p in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(p.name, []).append(str(p.relative_to(ROOT)))
    assert not {k: v for k, v in seen.items() if len(v) > 1}
