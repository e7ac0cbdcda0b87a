from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from redislint.cli import main


@pytest.fixture
def write(tmp_path: Path):
    """Write dedented files under tmp_path: write({"a.py": "..."}) -> tmp_path."""

    def _write(files: dict) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return tmp_path

    return _write


@pytest.fixture
def cli(tmp_path: Path, monkeypatch):
    """Run the real click command in tmp_path; returns (exit_code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def _run(*args: str, input: bytes = None):
        try:  # click < 8.2 mixes stderr into stdout unless told not to
            runner = CliRunner(mix_stderr=False)
        except TypeError:
            runner = CliRunner()
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return _run
