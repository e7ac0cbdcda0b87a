"""A wheel must ship every package: the pre-commit hook and pip users install one."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "redislint").rglob("__init__.py")}
    assert on_disk | {"redislint.rules"} == listed
    assert config["package-dir"] == {"redislint.rules": "rules"}
