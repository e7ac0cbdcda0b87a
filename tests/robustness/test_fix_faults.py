"""`--fix` under faults: a process killed between writing and replacing, a full disk, a
read-only file, someone else's file. The original is always whole; what could not be written
is said, with exit code 2. (tests/test_fix_cli.py covers an injected OSError in os.replace, a
read-only folder, and BOM/CRLF/mode/final newline/latin-1 on a normal fix.)
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

KEYS_LOOP = 'import redis\nr = redis.Redis()\nfor k in r.keys("a:*"):\n    print(k)\n'
FIXED_LOOP = 'import redis\nr = redis.Redis()\nfor k in r.scan_iter(match="a:*"):\n    print(k)\n'

# Imported by the child interpreter before anything else (PYTHONPATH): SIGKILLs the process at
# one point of write_atomically, chosen by REDISLINT_TEST_KILL (and the file, by its name).
SITECUSTOMIZE = textwrap.dedent('''
    import os, signal

    _where = os.environ.get("REDISLINT_TEST_KILL", "")
    _victim = os.environ.get("REDISLINT_TEST_KILL_FILE", "")

    def _mine(path):
        return ".redislint-tmp" in str(path) and os.path.basename(str(path)).startswith(
            "." + _victim + ".")

    if _where == "replace":
        _replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if _mine(src):
                os.kill(os.getpid(), signal.SIGKILL)
            return _replace(src, dst, *args, **kwargs)

        os.replace = replace
    elif _where == "fsync":  # the temp file is written (maybe not on disk), nothing replaced
        _fsync = os.fsync

        def fsync(fd):
            if _mine(os.readlink(f"/proc/self/fd/{fd}")):
                os.kill(os.getpid(), signal.SIGKILL)
            return _fsync(fd)

        os.fsync = fsync
''')


def run_killed(tmp_path: Path, where: str, victim: str, *paths: str):
    hook = tmp_path / "_hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, PYTHONPATH=str(hook), REDISLINT_TEST_KILL=where,
               REDISLINT_TEST_KILL_FILE=victim)
    return subprocess.run([sys.executable, "-m", "redislint", "--fix", "--no-cache", "-j", "1",
                           *paths], cwd=tmp_path / "src", env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_killed_mid_fix_leaves_every_file_whole(tmp_path, where):
    """SIGKILL (no cleanup can run) after the temp file of b.py is written: a.py, replaced
    before, is wholly fixed; b.py is wholly the original; c.py was never reached."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.py", "b.py", "c.py"):
        (src / name).write_text(KEYS_LOOP)
    done = run_killed(tmp_path, where, "b.py", "a.py", "b.py", "c.py")
    assert done.returncode == -9, done.stderr
    assert (src / "a.py").read_text() == FIXED_LOOP
    assert (src / "b.py").read_text() == KEYS_LOOP
    assert (src / "c.py").read_text() == KEYS_LOOP
    leftovers = [p.name for p in src.iterdir() if p.name.endswith(".redislint-tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".b.py.")  # SIGKILL: no clean-up
    assert (src / leftovers[0]).read_text() == FIXED_LOOP
    # The leftover is not Python (by its name): the next run ignores it and finishes the job.
    again = subprocess.run([sys.executable, "-m", "redislint", "--fix", "--no-cache",
                            "--output-format", "json", "."], cwd=src, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout) == []
    assert all((src / n).read_text() == FIXED_LOOP for n in ("a.py", "b.py", "c.py"))


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount(2); skipped elsewhere, where test_fix_cli's
    injected ENOSPC still covers the path)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + mounted.stderr.decode(errors="replace").strip())
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_leaves_the_original(tiny_disk, cli, monkeypatch):
    """A real ENOSPC: a 40 KiB file on a 64 KiB disk has no room for its fixed copy."""
    padding = "".join(f"# {i:05d} {'x' * 70}\n" for i in range(500))
    source = KEYS_LOOP + padding
    path = tiny_disk / "big.py"
    path.write_text(source)
    monkeypatch.chdir(tiny_disk)
    code, out, err = cli("--fix", "--no-cache", "big.py")
    assert code == 2
    assert "big.py: cannot write the fix (No space left on device); the file is unchanged" in err
    assert path.read_text() == source
    assert [p.name for p in tiny_disk.iterdir()] == ["big.py"]
    # With room again, the same run fixes it.
    (tiny_disk / "filler").write_bytes(b"")
    path.write_text(KEYS_LOOP)
    assert cli("--fix", "--no-cache", "big.py")[0] == 0 and path.read_text() == FIXED_LOOP


def test_read_only_file_is_reported_not_overwritten(tmp_path, cli):
    """Renaming over a 0444 file succeeds (and root may write it anyway): redislint refuses,
    says so, and fixes the other files."""
    ro, rw = tmp_path / "ro.py", tmp_path / "rw.py"
    ro.write_text(KEYS_LOOP)
    rw.write_text(KEYS_LOOP)
    os.chmod(ro, 0o444)
    code, out, err = cli("--fix", "--no-cache", "--output-format", "json", ".")
    assert code == 2
    assert err.strip() == "redislint: error: ro.py: cannot write the fix (the file is read-only); " \
                          "the file is unchanged"
    assert ro.read_text() == KEYS_LOOP and stat.S_IMODE(ro.stat().st_mode) == 0o444
    assert rw.read_text() == FIXED_LOOP
    assert not [p for p in tmp_path.iterdir() if "redislint-tmp" in p.name]
    assert cli("--diff", "--no-cache", "ro.py")[0] == 1  # --diff still shows what it would do


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_root_fixing_someone_elses_file_keeps_its_owner(tmp_path, cli):
    path = tmp_path / "theirs.py"
    path.write_text(KEYS_LOOP)
    os.chown(path, 1234, 5678)
    os.chmod(path, 0o640)
    assert cli("--fix", "--no-cache", "theirs.py")[0] == 0
    status = path.stat()
    assert path.read_text() == FIXED_LOOP
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (1234, 5678, 0o640)


def test_executable_script_and_symlink_survive_a_fix(tmp_path, cli):
    """Mode bits beyond rw (an executable script) are kept; a symlinked file is fixed in its
    target and stays a symlink."""
    script = tmp_path / "tool.py"
    script.write_text("#!/usr/bin/env python3\n" + KEYS_LOOP)
    os.chmod(script, 0o755)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "target.py"
    target.write_text(KEYS_LOOP)
    os.symlink("real/target.py", tmp_path / "link.py")
    code, _, _ = cli("--fix", "--no-cache", "tool.py", "link.py")
    assert code == 0
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_text() == "#!/usr/bin/env python3\n" + FIXED_LOOP
    assert os.path.islink(tmp_path / "link.py") and target.read_text() == FIXED_LOOP


def test_file_edited_during_the_run_is_not_overwritten(tmp_path, cli, monkeypatch):
    """SIMULATED: the file is saved by someone else after redislint read it and before the fix
    is written. The fix was computed from the old bytes, so writing it would lose the edit:
    redislint refuses, says so, and writes the other files."""
    from redislint import cli as cli_module

    edited = KEYS_LOOP + "print('saved by an editor meanwhile')\n"
    real = cli_module.lint_paths

    def lint_paths(*args, **kwargs):
        result = real(*args, **kwargs)
        (tmp_path / "a.py").write_text(edited)
        return result

    monkeypatch.setattr(cli_module, "lint_paths", lint_paths)
    (tmp_path / "a.py").write_text(KEYS_LOOP)
    (tmp_path / "b.py").write_text(KEYS_LOOP)
    code, _, err = cli("--fix", "--no-cache", "a.py", "b.py")
    assert code == 2
    assert err.strip() == "redislint: error: a.py: cannot write the fix (the file changed while " \
                          "redislint ran); the file is unchanged"
    assert (tmp_path / "a.py").read_text() == edited
    assert (tmp_path / "b.py").read_text() == FIXED_LOOP
