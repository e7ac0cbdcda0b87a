"""--fix, --diff and friends, end to end: nothing is ever lost or half-written."""

from __future__ import annotations

import os
import stat

KEYS_LOOP = 'import redis\nr = redis.Redis()\nfor k in r.keys("a:*"):\n    print(k)\n'
FIXED_LOOP = 'import redis\nr = redis.Redis()\nfor k in r.scan_iter(match="a:*"):\n    print(k)\n'
UNSAFE = 'import redis\nr = redis.Redis()\nnames = sorted(r.keys("a:*"))\n'


def test_fix_rewrites_and_reports(tmp_path, cli):
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    code, out, _ = cli("--fix", "--show-fixes", "a.py")
    assert code == 0
    assert (tmp_path / "a.py").read_text() == FIXED_LOOP
    assert "3 x RL501 (keys-command)" in out and "(1 fixed, 0 remaining)" in out
    # A second run changes nothing and finds nothing.
    assert cli("--fix", "a.py")[0] == 0
    assert (tmp_path / "a.py").read_text() == FIXED_LOOP


def test_exit_non_zero_on_fix(tmp_path, cli):
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    assert cli("--fix", "--exit-non-zero-on-fix", "a.py")[0] == 1
    assert cli("--fix", "--exit-non-zero-on-fix", "a.py")[0] == 0


def test_diff_writes_nothing(tmp_path, cli):
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    code, out, _ = cli("--diff", "a.py")
    assert code == 1
    assert '-for k in r.keys("a:*"):' in out and '+for k in r.scan_iter(match="a:*"):' in out
    assert (tmp_path / "a.py").read_text() == KEYS_LOOP
    (tmp_path / "b.py").write_text(FIXED_LOOP)
    assert cli("--diff", "b.py") == (0, "", "")


def test_unsafe_fixes_need_the_flag(tmp_path, cli):
    (tmp_path / "a.py").write_text(UNSAFE)
    code, out, _ = cli("--fix", "a.py")
    assert code == 1 and "1 more fixable with `--fix --unsafe-fixes`" in out
    assert (tmp_path / "a.py").read_text() == UNSAFE
    assert cli("--fix", "--unsafe-fixes", "a.py")[0] == 0
    assert "scan_iter(match=" in (tmp_path / "a.py").read_text()


def test_fix_keeps_bom_crlf_mode_and_missing_final_newline(tmp_path, cli):
    path = tmp_path / "a.py"
    data = "\ufeff" + KEYS_LOOP.replace("\n", "\r\n").rstrip("\r\n")
    path.write_bytes(data.encode("utf-8"))
    os.chmod(path, 0o640)
    assert cli("--fix", "a.py")[0] == 0
    expected = "\ufeff" + FIXED_LOOP.replace("\n", "\r\n").rstrip("\r\n")
    assert path.read_bytes() == expected.encode("utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if "redislint-tmp" in p.name] == []


def test_fix_keeps_a_latin1_coding_cookie(tmp_path, cli):
    path = tmp_path / "a.py"
    source = "# -*- coding: latin-1 -*-\n" + KEYS_LOOP + 'label = "caf\xe9"\n'
    path.write_bytes(source.encode("latin-1"))
    assert cli("--fix", "a.py")[0] == 0
    assert path.read_bytes() == ("# -*- coding: latin-1 -*-\n" + FIXED_LOOP + 'label = "caf\xe9"\n').encode("latin-1")


def test_fix_from_stdin_prints_the_fixed_code(cli):
    code, out, err = cli("--fix", "-", "--stdin-filename", "a.py", input=KEYS_LOOP.encode())
    assert code == 0
    assert out == FIXED_LOOP
    assert "1 fixed" in err


def test_read_only_folder_is_reported_not_skipped(tmp_path, monkeypatch, cli):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "a.py"
    path.write_text(KEYS_LOOP)
    os.chmod(folder, 0o500)  # the temp file beside it cannot be created
    if os.access(folder, os.W_OK):  # root ignores permissions: refuse the write the same way
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        code, _, err = cli("--fix", "--no-cache", str(path))
    finally:
        os.chmod(folder, 0o700)
    assert code == 2 and "cannot write the fix (Permission denied)" in err
    assert path.read_text() == KEYS_LOOP


def test_interrupted_write_leaves_the_original(tmp_path, monkeypatch, cli):
    """An OSError between writing the temp file and replacing (a full disk, a kill) keeps the
    original intact and leaves no temp file behind."""
    path = tmp_path / "a.py"
    path.write_text(KEYS_LOOP)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    code, _, err = cli("--fix", "--no-cache", "a.py")
    assert code == 2 and "No space left on device" in err
    assert path.read_text() == KEYS_LOOP
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]
