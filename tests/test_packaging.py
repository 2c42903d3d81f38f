"""pyproject.toml and environment.yml list the same packages; the console script is declared."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_name(r) for r in py["dependencies"] + py["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert conda_side == pip_side, (
        f"only in environment.yml: {sorted(conda_side - pip_side)}; "
        f"only in pyproject.toml: {sorted(pip_side - conda_side)}"
    )
    pip_block = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_block and "-e ." in pip_block[0]["pip"]


def test_every_dependency_says_why():
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if re.match(r'\s+"[a-zA-Z].*[<>=].*",', line):
            assert "#" in line, f"dependency without a reason in pyproject.toml: {line.strip()}"
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"\s+- [a-z].*[<>=]", line) and "python>=" not in line:
            assert "#" in line, f"dependency without a reason in environment.yml: {line.strip()}"


def test_console_script_declared():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert py["scripts"]["salesops"] == "salesops_kit.cli:main"
