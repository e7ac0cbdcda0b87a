"""Odd files beside a normal one: each gets one line, the exit code is right, the run goes on
for the other file, and `--fix` writes nothing to a file it did not fix.

`good.py` (a `keys()` loop, safely fixable) sits beside every odd file: its finding proves the
run went on, and its fix proves `--fix` ran while the odd file's bytes stayed as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redislint.workers import time_budget

GOOD = 'import redis\nr = redis.Redis()\nfor k in r.keys("a:*"):\n    print(k)\n'
GOOD_FIXED = 'import redis\nr = redis.Redis()\nfor k in r.scan_iter(match="a:*"):\n    print(k)\n'
KEYS_LOOP = GOOD.encode()


def lint(cli, *args):
    code, out, err = cli("--output-format", "json", "--no-cache", *args)
    assert "Traceback" not in out + err
    return code, json.loads(out or "[]"), err


def by_file(found, name):
    return [(f["code"], f["location"]["row"], f["message"]) for f in found if f["filename"] == name]


def check_beside_good(cli, tmp_path: Path, name: str, data: bytes):
    """Lint (then --fix) `name` beside good.py; returns the odd file's findings (code, row,
    message) and the two exit codes, after the checks every odd file must pass."""
    (tmp_path / "good.py").write_text(GOOD)
    odd = tmp_path / name
    odd.parent.mkdir(parents=True, exist_ok=True)
    odd.write_bytes(data)
    code, found, err = lint(cli, ".")
    assert by_file(found, "good.py") == [("RL501", 3, by_file(found, "good.py")[0][2])], found
    mine = by_file(found, name)
    assert len(mine) <= 1 or all(c not in ("RL000", "RL001", "RL999") for c, _, _ in mine), mine
    assert all("\n" not in message for _, _, message in mine)
    fix_code, fixed, _ = lint(cli, "--fix", ".")
    assert (tmp_path / "good.py").read_text() == GOOD_FIXED
    assert odd.read_bytes() == data, "--fix wrote to a file it did not fix"
    assert by_file(fixed, name) == mine
    assert not [p for p in tmp_path.rglob("*") if "redislint-tmp" in p.name]
    return mine, code, fix_code


# name, bytes, expected code, a word of Python's own message (None: no finding at all)
REJECTED = [
    ("syntax.py", b"import redis\ndef f(:\n    pass\n", "RL000", "invalid syntax"),
    ("py2_print.py", b'import redis\nprint "hello"\n', "RL000", "parentheses"),
    ("py2_raise.py", b'import redis\nraise ValueError, "bad"\n', "RL000", ""),
    ("py2_long.py", b"import redis\nx = 10L\n", "RL000", ""),
    ("py2_not_equal.py", b"import redis\nx = 1 <> 2\n", "RL000", ""),
    ("py2_tuple_params.py", b"import redis\ndef f((a, b)):\n    pass\n", "RL000", ""),
    ("py2_octal.py", b"import redis\nx = 0777\n", "RL000", ""),
    ("py2_backticks.py", b"import redis\nx = `1`\n", "RL000", ""),
    ("py2_exec.py", b'import redis\nexec "x = 1"\n', "RL000", ""),
    ("null_byte.py", b"import redis\nx = 1\x00\n", "RL000", ""),
    ("latin1_no_cookie.py", b'import redis\nx = "caf\xe9"\n', "RL000", "utf-8"),
    ("lying_cookie.py", b'# -*- coding: utf-8 -*-\nimport redis\nx = "caf\xe9"\n', "RL000", "utf-8"),
    ("unknown_cookie.py", b"# -*- coding: klingon -*-\nimport redis\n", "RL000", "klingon"),
    ("bom_and_latin1_cookie.py", b"\xef\xbb\xbf# coding: latin-1\nimport redis\n", "RL000", ""),
    ("tabs_and_spaces.py", b"import redis\nif True:\n\tx = 1\n        y = 2\n", "RL000", ""),
    ("too_deep.py", b"import redis\nx = " + b"[" * 1000 + b"]" * 1000 + b"\n", "RL000",
     "nested"),
    ("too_indented.py", b"import redis\n" + b"".join(b" " * i + b"if x:\n" for i in range(101))
     + b" " * 101 + b"pass\n", "RL000", "indentation"),
    ("broken_stub.pyi", b"import redis\ndef f(:\n", "RL000", ""),
]


@pytest.mark.parametrize("name, data, expected, word", REJECTED, ids=[r[0] for r in REJECTED])
def test_code_python_rejects_is_one_rl000(cli, tmp_path, name, data, expected, word):
    started = time.monotonic()
    mine, code, fix_code = check_beside_good(cli, tmp_path, name, data)
    assert [c for c, _, _ in mine] == [expected]
    assert word.lower() in mine[0][2].lower()
    assert (code, fix_code) == (1, 1)  # findings; the odd file's RL000 remains after --fix
    # A file Python rejects is said at once: libcst never gets to spend quadratic time (or
    # overflow its stack) on nesting deeper than Python allows.
    assert time.monotonic() - started < 60


def test_rl000_is_at_pythons_own_position(cli, tmp_path):
    """Where and what the running Python says (3.9: 5:3 invalid syntax; 3.10+: 4:5 '(' was
    never closed), not libcst's vaguer report."""
    data = b"import redis\n\n\nx = (1,\ny = 2\n"
    with pytest.raises(SyntaxError) as python:
        compile(data, "late.py", "exec")
    mine, _, _ = check_beside_good(cli, tmp_path, "late.py", data)
    assert mine == [("RL000", python.value.lineno, f"SyntaxError: {python.value.msg}")]
    _, found, _ = lint(cli, "late.py")
    assert found[0]["location"] == {"row": python.value.lineno, "column": python.value.offset}


# Files Python accepts, written oddly: linted like any other, positions in Python's terms.
ACCEPTED = [
    ("empty.py", b"", []),
    ("blank.py", b"\n\n   \n\t\n", []),
    ("comment_only.py", b"# redis, some day\n", []),
    ("no_final_newline.py", b"import redis\nx = 1", []),
    ("stub.pyi", b"import redis\ndef client() -> redis.Redis: ...\nclass C:\n    r: redis.Redis\n", []),
    ("bom.py", b"\xef\xbb\xbf" + KEYS_LOOP, [("RL501", 3)]),
    ("crlf.py", KEYS_LOOP.replace(b"\n", b"\r\n"), [("RL501", 3)]),
    ("cr_only.py", KEYS_LOOP.replace(b"\n", b"\r"), [("RL501", 3)]),
    ("mixed_endings.py", b'import redis\r\nr = redis.Redis()\nfor k in r.keys("a:*"):\r    print(k)\r\n',
     [("RL501", 3)]),
    ("tabs.py", b'import redis\nr = redis.Redis()\ndef f():\n\tfor k in r.keys("a:*"):\n\t\tprint(k)\n',
     [("RL501", 4)]),
    ("form_feed.py", b'import redis\n\x0cr = redis.Redis()\n\x0cfor k in r.keys("a:*"):\n    print(k)\n',
     [("RL501", 3)]),
    ("latin1_cookie.py", b"# -*- coding: latin-1 -*-\n" + KEYS_LOOP + b'x = "caf\xe9"\n',
     [("RL501", 4)]),
    ("utf8_names.py", 'import redis\nr = redis.Redis()\ncafé = "ünïcode"\nfor k in r.keys(café):\n    print(k)\n'
     .encode(), [("RL501", 4)]),
]


@pytest.mark.parametrize("name, data, expected", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_odd_but_valid_files_are_linted(cli, tmp_path, name, data, expected):
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / name).write_bytes(data)
    code, found, _ = lint(cli, ".")
    assert [(c, row) for c, row, _ in by_file(found, name)] == expected
    assert code == 1  # good.py's finding at least
    assert by_file(found, "good.py")[0][:2] == ("RL501", 3)


# libcst gives these back changed (it drops form feeds, and a lone CR ending the file).
NOT_REPRODUCED = ("cr_only.py", "form_feed.py")
REPRODUCED = [a for a in ACCEPTED if a[2] and a[0] not in NOT_REPRODUCED]


@pytest.mark.parametrize("name, data", [a[:2] for a in REPRODUCED], ids=[a[0] for a in REPRODUCED])
def test_fix_keeps_the_odd_file_as_it_was_written(cli, tmp_path, name, data):
    """The fix changes the call and nothing else: BOM, cookie and encoding, CRLF and mixed
    line endings (CR in the middle too), tabs and non-ASCII names survive byte for byte."""
    path = tmp_path / name
    path.write_bytes(data)
    code, found, _ = lint(cli, "--fix", name)
    assert code == 0 and found == []
    assert path.read_bytes() == data.replace(b'r.keys("a:*")', b'r.scan_iter(match="a:*")') \
        .replace(b"r.keys(caf\xc3\xa9)", b"r.scan_iter(match=caf\xc3\xa9)")


@pytest.mark.parametrize("name", NOT_REPRODUCED)
def test_fix_refuses_a_file_the_parser_cannot_reproduce(cli, tmp_path, name):
    """Found here: libcst's code for these files is not their bytes, and `--fix` used to write
    it, even for a file with nothing to fix ("All checks passed!" and the form feeds gone).
    Now such a file is linted, never rewritten, and the run says why."""
    data = dict((a[0], a[1]) for a in ACCEPTED)[name]
    path = tmp_path / name
    path.write_bytes(data)
    code, found, err = lint(cli, "--fix", name)
    assert path.read_bytes() == data
    assert code == 1 and [(f["code"], f["location"]["row"]) for f in found] == [("RL501", 3)]
    assert "not fixed: the parser does not reproduce this file byte for byte" in err
    clean = data.replace(b'for k in r.keys("a:*"):', b"for k in range(3):")
    path.write_bytes(clean)
    code, found, err = lint(cli, "--fix", "--diff", name)
    assert (code, found, err) == (0, [], "")
    assert lint(cli, "--fix", name)[:2] == (0, []) and path.read_bytes() == clean


def test_stubs_are_discovered_in_a_walk(cli, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "api.pyi").write_text("import redis\ndef f(:\n")
    _, found, _ = lint(cli, ".")
    assert [(f["filename"], f["code"]) for f in found] == [("pkg/api.pyi", "RL000")]


def test_broken_symlink_and_symlink_loop_in_a_walk(cli, tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    os.symlink("nowhere.py", tmp_path / "broken.py")
    os.symlink("loop_b.py", tmp_path / "loop_a.py")
    os.symlink("loop_a.py", tmp_path / "loop_b.py")
    os.mkdir(tmp_path / "sub")
    os.symlink("..", tmp_path / "sub" / "up")  # a folder loop: walked once, not forever
    code, found, err = lint(cli, ".")
    assert code == 1 and err == ""
    assert sorted((f["filename"], f["code"], f["message"]) for f in found) == [
        ("broken.py", "RL001", "cannot read file: No such file or directory"),
        ("good.py", "RL501", by_file(found, "good.py")[0][2]),
        ("loop_a.py", "RL001", "cannot read file: Too many levels of symbolic links"),
        ("loop_b.py", "RL001", "cannot read file: Too many levels of symbolic links"),
    ]


def test_broken_symlink_and_loop_named_on_the_command_line(cli, tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    os.symlink("nowhere.py", tmp_path / "broken.py")
    os.symlink("loop_b.py", tmp_path / "loop_a.py")
    os.symlink("loop_a.py", tmp_path / "loop_b.py")
    code, found, err = lint(cli, "broken.py", "loop_a.py", "good.py")
    assert code == 2
    assert err.splitlines() == ["redislint: error: broken.py: no such file or directory",
                                "redislint: error: loop_a.py: too many levels of symbolic links"]
    assert [f["filename"] for f in found] == ["good.py"]


def test_folder_named_like_a_python_file(cli, tmp_path):
    (tmp_path / "x.py").mkdir()
    (tmp_path / "x.py" / "inner.py").write_text(GOOD)
    (tmp_path / "good.py").write_text(GOOD)
    code, found, err = lint(cli, ".")
    assert code == 1 and err == ""
    assert sorted(f["filename"] for f in found) == ["good.py", "x.py/inner.py"]
    code, found, _ = lint(cli, "x.py")  # named: walked, not read as a file
    assert code == 1 and [f["filename"] for f in found] == ["x.py/inner.py"]


def test_unreadable_file(cli, tmp_path, monkeypatch):
    """SIMULATED: tests run as root, and root reads a `chmod 000` file anyway, so reading one
    file raises the PermissionError an unprivileged user would get."""
    (tmp_path / "good.py").write_text(GOOD)
    secret = tmp_path / "secret.py"
    secret.write_text(GOOD)
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, found, _ = lint(cli, ".")
    assert code == 1
    assert by_file(found, "secret.py") == [("RL001", 1, "cannot read file: Permission denied")]
    assert by_file(found, "good.py")[0][0] == "RL501"
    lint(cli, "--fix", ".")
    assert secret.read_text() == GOOD and (tmp_path / "good.py").read_text() == GOOD_FIXED


def test_unlistable_folder_is_reported_not_skipped(cli, tmp_path, monkeypatch):
    """SIMULATED the same way: listing one folder raises PermissionError. Its files cannot be
    linted, so the run says so (exit 2) instead of passing silently, and lints the rest."""
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "hidden.py").write_text(GOOD)
    real = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "private":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, found, err = lint(cli, ".")
    assert code == 2
    assert err.strip().endswith("private: cannot list this folder: permission denied")
    assert len(err.strip().splitlines()) == 1
    assert [f["filename"] for f in found] == ["good.py"]


def test_fifo_in_a_walk_does_not_block_the_run(tmp_path):
    """A FIFO named *.py (no writer) used to block the run forever on open(); it is not a
    regular file, so it is reported without being opened. Run in a subprocess with a time-out
    so a regression fails instead of hanging the suite."""
    (tmp_path / "good.py").write_text(GOOD)
    os.mkfifo(tmp_path / "pipe.py")
    done = subprocess.run([sys.executable, "-m", "redislint", "--no-cache", "--output-format",
                           "json", "."], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    found = json.loads(done.stdout)
    assert done.returncode == 1
    assert by_file(found, "pipe.py") == [
        ("RL001", 1, "cannot read file: not a regular file (a FIFO, socket or device)")]
    assert by_file(found, "good.py")[0][0] == "RL501"


def test_file_name_that_is_not_utf8(cli, tmp_path):
    name = os.fsdecode(b"caf\xe9.py")  # a Latin-1 name on a UTF-8 system: surrogate escapes
    (tmp_path / name).write_text(GOOD)
    code, found, _ = lint(cli, ".")
    assert code == 1 and [f["code"] for f in found] == ["RL501"]
    code, _, _ = lint(cli, "--fix", ".")
    assert code == 0 and (tmp_path / name).read_text() == GOOD_FIXED


# -- a 50,000-line file (started by conftest.big_file_run beside the fuzz tests) -------------

def test_fifty_thousand_lines_well_within_the_time_budget(big_file_run):
    code, out, err, seconds, data = big_file_run()
    budget = time_budget(data)
    lines = data.count(b"\n")
    print(f"\n50,000-line file: {lines} lines, {len(data)} bytes, {seconds:.1f} s "
          f"(budget {budget:.0f} s)")
    found = json.loads(out)
    assert code == 1, err
    assert sorted({f["code"] for f in found}) == ["RL501"]
    assert len(found) == data.count(b"r.keys(") == 3
    assert seconds < budget / 2, f"{seconds:.1f} s of a {budget:.0f} s budget"
