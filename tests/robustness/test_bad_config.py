"""Bad configuration: one clear line on stderr, exit 2, no traceback, nothing linted or written.
(tests/test_cli.py covers an unknown key, `select` as a string, a negative `default-ttl`, a bad
`target-redis-version`, a non-bool `respect-gitignore`, unclosed TOML and an unknown code in
`ignore`; these are the rest.) Also: what an unknown code in a `# noqa` comment does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KEYS_LOOP = 'import redis\nr = redis.Redis()\nfor k in r.keys("a:*"):\n    print(k)\n'

BAD_PYPROJECT = [
    ("tool = 5\n", "[tool] must be a table"),  # was an internal error (AttributeError)
    ("[tool]\nredislint = 5\n", "[tool.redislint] must be a table"),
    ('[tool.redislint]\nselect = ["RL5", 5]\n', "`select` must be a list of strings"),
    ('[tool.redislint]\nextend-select = ["RL7777"]\n', "unknown rule selector `RL7777` in extend-select"),
    ('[tool.redislint]\nselect = ["RL7777"]\n', "unknown rule selector `RL7777` in select"),
    ('[tool.redislint.per-file-ignores]\n"x.py" = ["RL7777"]\n',
     "unknown rule selector `RL7777` in per-file-ignores['x.py']"),
    ("[tool.redislint]\nper-file-ignores = 5\n", "`per-file-ignores` must be a table"),
    ('[tool.redislint.per-file-ignores]\n"x.py" = "RL501"\n', "`per-file-ignores.x.py` must be a list"),
    ("[tool.redislint]\ndefault-ttl = true\n", "`default-ttl` must be a positive number"),
    ("[tool.redislint]\ndefault-ttl = 1.5\n", "`default-ttl` must be a whole number"),
    ('[tool.redislint]\nlock-timeout = "10"\n', "`lock-timeout` must be a positive number"),
    ("[tool.redislint]\ntarget-redis-version = [7]\n", "`target-redis-version` must be a Redis version"),
    ('[tool.redislint]\nredis-py-version = "banana"\n', "`redis-py-version` must be a redis-py version"),
    ('[tool.redislint]\nsession-key-patterns = ["*"]\n', "`session-key-patterns` must be key globs"),
    ("[tool.redislint]\nclients = [1]\n", "`clients` must be a list of strings"),
    ('[tool.redislint]\nexclude = "tests"\n', "`exclude` must be a list of strings"),
    ('[tool.redislint]\nselect = ["RL501"]\nselect = ["RL5"]\n', "invalid TOML: Cannot overwrite"),
    ("[tool.redislint]\nselect = \n", "invalid TOML"),
    ('[tool.redislint]\nselect = ["caf\xe9"]\n'.encode("latin-1"), "cannot read config file"),
    ('[tool.redislint.tool.redislint]\nselect = ["RL5"]\n', "unknown key `tool`"),
    ("[tool.redislint]\n[tool.redislint.select]\n", "`select` must be a list of strings"),
]


@pytest.mark.parametrize("toml, needle", BAD_PYPROJECT, ids=[str(i) for i in range(len(BAD_PYPROJECT))])
def test_bad_pyproject_is_one_line_exit_2(tmp_path, cli, toml, needle):
    data = toml if isinstance(toml, bytes) else toml.encode()
    (tmp_path / "pyproject.toml").write_bytes(data)
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    # Without a [tool.redislint table a pyproject.toml is not redislint's: name it then.
    named = () if b"[tool.redislint" in data else ("--config", "pyproject.toml")
    code, out, err = cli("--fix", *named, "a.py")
    assert code == 2 and out == ""
    assert needle in err and err.startswith("redislint: error: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (tmp_path / "a.py").read_text() == KEYS_LOOP


def test_config_path_that_does_not_exist(tmp_path, cli):
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    code, out, err = cli("--config", "nope/redislint.toml", "a.py")
    assert (code, out) == (2, "")
    assert err == "redislint: error: config file not found: nope/redislint.toml\n"


def test_dedicated_config_file_is_validated_too(tmp_path, cli):
    (tmp_path / "lint.toml").write_text('selcet = ["RL5"]\n')
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    code, _, err = cli("--config", "lint.toml", "a.py")
    assert code == 2 and "lint.toml: unknown key `selcet`" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (("--config", "."), "Invalid value for '--config'"),
    (("--jobs", "-1"), "Invalid value for '-j' / '--jobs'"),
    (("--output-format", "xml"), "Invalid value for '--output-format'"),
    (("--target-redis-version", "banana"), "`--target-redis-version` must be a Redis version"),
    (("--select", "RL7777"), "unknown rule selector `RL7777` in select"),
    (("--extend-select", "XYZ"), "unknown rule selector `XYZ` in extend-select"),
])
def test_bad_options_exit_2_with_one_error_line(tmp_path, cli, args, needle):
    """Usage errors keep click's format (a `Usage:` reminder, then one `Error:` line)."""
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    code, out, err = cli(*args, "a.py")
    assert code == 2 and "Traceback" not in out + err
    errors = [line for line in err.splitlines() if "rror" in line]
    assert len(errors) == 1 and needle in errors[0]


def test_real_entry_point_reports_config_errors_without_traceback(tmp_path):
    (tmp_path / "pyproject.toml").write_text("tool = 5\n[x]\n")
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    done = subprocess.run([sys.executable, "-m", "redislint", "--config", "pyproject.toml", "a.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "redislint: error: pyproject.toml: [tool] must be a table\n"


def test_unknown_code_in_noqa_warns_and_suppresses_nothing(tmp_path, cli):
    """Ruff's behaviour: `# noqa: RL7777` names no rule, so it suppresses nothing (the finding
    on that line stays) and a one-line warning names the file, line and code; the exit code is
    the findings'. Other linters' codes (`E501`) are not warned about. Cached runs warn too."""
    (tmp_path / "a.py").write_text(
        'import redis\nr = redis.Redis()\n'
        'for k in r.keys("a:*"):  # noqa: RL7777\n    print(k)\n'
        'for k in r.keys("b:*"):  # noqa: RL501, E501\n    print(k)\n'
        'x = 1  # redislint: ignore[RL5]\n')
    (tmp_path / "b.py").write_text('import redis\nx = 1  # noqa: E501, F401\n')
    for _ in range(2):  # cold, then warm cache
        code, out, err = cli("--output-format", "json", ".")
        assert code == 1
        assert [(f["filename"], f["location"]["row"]) for f in json.loads(out)] == [("a.py", 3)]
        assert err.splitlines() == [
            "redislint: warning: a.py: lines 3, 7: suppression comment names unknown rules "
            "RL5, RL7777 (see `redislint rules`); it suppresses nothing"]
    assert cli("--exit-zero", "a.py")[0] == 0
