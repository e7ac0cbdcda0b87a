"""The command line as users and CI see it: exit codes, formats, selection, suppression."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from redislint.registry import all_rules

KEYS = """
import redis
r = redis.Redis()
def names():
    return r.keys("user:*")
"""
CLEAN = """
import redis
r = redis.Redis()
def names():
    return list(r.scan_iter(match="user:*"))
"""
INCR = """
import redis
r = redis.Redis()
def hit(uid):
    n = r.incr(f"rate:{uid}")
    r.expire("rate:" + uid, 60)
    return n
"""


def test_exit_codes(write, cli):
    write({"clean.py": CLEAN})
    assert cli("clean.py")[0] == 0
    write({"bad.py": KEYS})
    code, out, _ = cli("bad.py")
    assert code == 1 and "RL501" in out and "Found 1 error." in out
    assert cli("--exit-zero", "bad.py")[0] == 0


def test_default_path_is_current_folder(write, cli):
    write({"pkg/bad.py": KEYS})
    code, out, _ = cli("--output-format", "concise")
    assert code == 1
    assert "pkg/bad.py:4:12: RL501" in out


def test_json_shape(write, cli):
    write({"bad.py": KEYS})
    code, out, _ = cli("--output-format", "json", "bad.py")
    assert code == 1
    [finding] = json.loads(out)
    assert finding == {
        "code": "RL501",
        "name": "keys-command",
        "message": finding["message"],
        "filename": "bad.py",
        "location": {"row": 4, "column": 12},
        "end_location": {"row": 4, "column": 28},
        "fix": None,
        "severity": "error",
    }
    assert "scan_iter" in finding["message"]


def test_json_is_an_empty_array_when_clean(write, cli):
    write({"clean.py": CLEAN})
    code, out, _ = cli("--output-format", "json", "clean.py")
    assert (code, json.loads(out)) == (0, [])


def test_sequence_finding_spans_first_to_last_call(write, cli):
    write({"incr.py": INCR})
    _, out, _ = cli("--output-format", "json", "incr.py")
    [finding] = json.loads(out)
    assert finding["code"] == "RL201"
    assert finding["location"] == {"row": 4, "column": 9}
    assert finding["end_location"]["row"] == 5


def test_full_format_shows_the_source(write, cli):
    write({"bad.py": KEYS})
    _, out, _ = cli("bad.py")
    assert '    return r.keys("user:*")' in out
    assert "^^^^^^^^^^^^^^^" in out


def test_statistics(write, cli):
    write({"a.py": KEYS, "b.py": KEYS + INCR})
    code, out, _ = cli("--statistics", ".")
    assert code == 1
    assert out.splitlines()[0].split() == ["2", "RL501", "keys-command"]


@pytest.mark.parametrize("comment, silent", [
    ("# noqa: RL501", True),
    ("# noqa", True),
    ("# NOQA:RL501,RL201", True),
    ("# redislint: ignore[RL501]", True),
    ("# redislint: ignore", True),
    ("# noqa: RL201", False),
    ("# redislint: ignore[RL101]", False),
])
def test_suppression_comments(write, cli, comment, silent):
    write({"a.py": KEYS.replace('r.keys("user:*")', f'r.keys("user:*")  {comment}')})
    code, out, _ = cli("--output-format", "concise", "a.py")
    assert (code == 0) is silent, out


def test_noqa_inside_a_string_is_not_a_comment(write, cli):
    write({"a.py": KEYS.replace('r.keys("user:*")', 'r.keys("user:* # noqa")')})
    assert cli("a.py")[0] == 1


def test_select_ignore_semantics(write, cli):
    write({"a.py": KEYS + INCR})
    def codes(*args):
        _, out, _ = cli("--output-format", "json", *args, "a.py")
        return sorted({f["code"] for f in json.loads(out)})
    assert codes() == ["RL201", "RL501"]
    assert codes("--select", "RL5") == ["RL501"]
    assert codes("--select", "RL2,RL5", "--ignore", "RL501") == ["RL201"]
    assert codes("--ignore", "RL2") == ["RL501"]
    assert codes("--select", "RL501", "--ignore", "RL5") == ["RL501"]  # the specific one wins
    assert codes("--ignore", "ALL") == []
    assert codes("--ignore", "ALL", "--extend-select", "RL201") == ["RL201"]


def test_select_all_enables_default_off_rules(write, cli):
    off = [r for r in all_rules() if not r.default_enabled]
    if not off:
        pytest.skip("no default-off rule registered yet")
    rule = off[0]
    write({"a.py": rule.INVALID[0].code})
    _, out, _ = cli("--output-format", "json", "a.py")
    assert rule.code not in {f["code"] for f in json.loads(out)}
    _, out, _ = cli("--output-format", "json", "--select", "ALL", "a.py")
    assert rule.code in {f["code"] for f in json.loads(out)}


def test_unknown_selector_is_a_usage_error(write, cli):
    write({"a.py": KEYS})
    code, out, err = cli("--select", "RL77", "a.py")
    assert code == 2 and "unknown rule selector `RL77`" in err and "Traceback" not in err + out


def test_pyproject_config_and_cli_precedence(write, cli):
    write({"a.py": KEYS + INCR, "pyproject.toml": '[tool.redislint]\nselect = ["RL5"]\n'})
    _, out, _ = cli("--output-format", "json", "a.py")
    assert {f["code"] for f in json.loads(out)} == {"RL501"}
    _, out, _ = cli("--output-format", "json", "--select", "RL2", "a.py")
    assert {f["code"] for f in json.loads(out)} == {"RL201"}


@pytest.mark.parametrize("toml, needle", [
    ('[tool.redislint]\nselcet = ["RL5"]\n', "unknown key `selcet`"),
    ('[tool.redislint]\nselect = "RL5"\n', "`select` must be a list of strings"),
    ('[tool.redislint]\ndefault-ttl = -5\n', "`default-ttl` must be a positive number"),
    ('[tool.redislint]\ntarget-redis-version = "seven"\n', "`target-redis-version` must be"),
    ('[tool.redislint]\nrespect-gitignore = "yes"\n', "`respect-gitignore` must be true or false"),
    ('[tool.redislint]\nselect = ["RL5"\n', "invalid TOML"),
    ('[tool.redislint]\nignore = ["XYZ1"]\n', "unknown rule selector `XYZ1`"),
])
def test_bad_config_is_one_line_and_exit_2(write, cli, toml, needle):
    write({"a.py": KEYS, "pyproject.toml": toml})
    code, out, err = cli("a.py")
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_config_file(write, cli):
    write({"a.py": KEYS})
    code, _, err = cli("--config", "nope.toml", "a.py")
    assert code == 2 and "nope.toml" in err


def test_per_file_ignores_and_excludes(write, cli):
    write({
        "app/a.py": KEYS, "app/b.py": KEYS, "legacy/c.py": KEYS,
        "pyproject.toml": '[tool.redislint]\nextend-exclude = ["legacy"]\n'
                          '[tool.redislint.per-file-ignores]\n"app/b.py" = ["RL501"]\n',
    })
    _, out, _ = cli("--output-format", "json", ".")
    assert sorted(f["filename"] for f in json.loads(out)) == ["app/a.py"]


def test_gitignore_is_respected(write, cli, tmp_path):
    write({"kept.py": KEYS, "generated/skip.py": KEYS, ".gitignore": "generated/\n"})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _, out, _ = cli("--output-format", "json", ".")
    assert [f["filename"] for f in json.loads(out)] == ["kept.py"]
    write({"pyproject.toml": "[tool.redislint]\nrespect-gitignore = false\n"})
    _, out, _ = cli("--output-format", "json", ".")
    assert len(json.loads(out)) == 2


def test_syntax_error_beside_good_files(write, cli):
    write({"a_bad.py": "import redis\ndef f(:\n    pass\n", "b.py": KEYS})
    code, out, _ = cli("--output-format", "json", ".")
    found = json.loads(out)
    assert code == 1
    assert [(f["filename"], f["code"]) for f in found] == [("a_bad.py", "RL000"), ("b.py", "RL501")]
    assert found[0]["location"] == {"row": 2, "column": 7}


def test_missing_path_is_reported_and_others_linted(write, cli):
    write({"b.py": KEYS})
    code, out, err = cli("--output-format", "concise", "nope.py", "b.py")
    assert code == 2
    assert "nope.py: no such file or directory" in err
    assert "b.py:4:12: RL501" in out


def test_stdin(cli):
    code, out, _ = cli("--output-format", "concise", "--stdin-filename", "app/x.py", "-",
                       input=KEYS.lstrip().encode())
    assert code == 1 and out.startswith("app/x.py:4:12: RL501")


def test_rule_docs_and_listing(cli):
    code, out, _ = cli("rule", "RL201")
    assert code == 0 and "# incr-expire-not-atomic (RL201)" in out and "## Why is this bad?" in out
    assert cli("rule", "incr-expire-not-atomic")[1] == out
    # Every rule's page says which clients the engine recognises (one list, in the engine).
    assert "## Which calls are Redis calls" in out and "usage evidence" in out and \
        "`__getattr__` proxies" in out
    code, _, err = cli("rule", "RL777")
    assert code == 2 and "unknown rule" in err
    code, out, _ = cli("rules")
    assert code == 0
    for rule in all_rules():
        assert rule.code in out and rule.name in out


def test_folder_named_like_a_subcommand(write, cli):
    write({"rule/a.py": KEYS})
    code, out, _ = cli("--output-format", "concise", "./rule")
    assert code == 1 and "RL501" in out


def test_parallel_and_serial_agree(write, cli):
    files = {f"m{i}.py": (KEYS if i % 2 else INCR) for i in range(24)}
    write(files)
    _, serial, _ = cli("--output-format", "json", "--no-cache", "-j", "1", ".")
    _, parallel, _ = cli("--output-format", "json", "--no-cache", "-j", "2", ".")
    assert json.loads(serial) == json.loads(parallel) and len(json.loads(serial)) == 24


def test_real_entry_point_never_shows_a_traceback(write, tmp_path):
    write({"pyproject.toml": "[tool.redislint]\nclients = 5\n", "a.py": KEYS})
    result = subprocess.run([sys.executable, "-m", "redislint", "a.py"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "`clients` must be a list" in result.stderr
