"""Failures inside redislint: a rule that raises, a worker that crashes or stalls. Each is one
`RL999 internal-error` naming the file, with a hint to report it (or RL000 when Python itself
rejects the file), never a traceback, and every other file's findings are still reported.

Crashes and stalls are injected: the test replaces `parse` (or `lint_module`) in the parent
process; worker processes are forked from it, so they run the replacement. The marker
`# FAULT` in a file's bytes picks the victim. The injected crash is a SIGSEGV sent to the
serving thread itself, like a real stack overflow in the native parser (`os.kill(getpid())`
would be process-directed: the kernel may hand it to another thread, and the serving thread
would finish the file and reply before the process dies).
"""

from __future__ import annotations

import faulthandler
import json
import os
import subprocess
import sys
import signal
import threading
import time
from pathlib import Path

import pytest

from redislint import cli as cli_module
from redislint import runner, worker
from redislint.config import Settings
from redislint.files import discover
from redislint.registry import select
from redislint.rule import Rule
from redislint.runner import FixMode, lint_paths

GOOD = 'import redis\nr = redis.Redis()\nfor k in r.keys("a:*"):\n    print(k)\n'
VICTIM = 'import redis\nr = redis.Redis()\n# FAULT\nfor k in r.keys("b:*"):\n    print(k)\n'
MARKER = b"# FAULT"


class ExplodingRule(Rule):
    """Test-only: raises on every call in a file that carries the marker."""

    code = "RL998"
    name = "exploding-rule"
    message = "never reported"

    def visit_Call(self, node) -> None:
        if "# FAULT" in self.model.module.code:
            raise KeyError("a bug in a rule")


def _corpus(tmp_path: Path, files: int = 6) -> Path:
    for i in range(files):
        (tmp_path / f"m{i}.py").write_text(GOOD)
    (tmp_path / "victim.py").write_text(VICTIM)
    return tmp_path


def _run(root: Path, rules=None, jobs: int = 2, fix=None):
    settings = Settings(root=root)
    paths, _ = discover([str(root)], settings)
    return lint_paths(paths, settings, rules if rules is not None else select(settings),
                      jobs=jobs, fix=fix)


def _by_name(result):
    return {Path(f.path).name: f for f in result.findings}


def _assert_others_intact(result, files: int = 6):
    found = sorted((Path(f.path).name, f.code) for f in result.findings if "victim" not in f.path)
    assert found == sorted((f"m{i}.py", "RL501") for i in range(files))


def test_a_rule_that_raises_is_rl999_for_that_file_only(tmp_path):
    root = _corpus(tmp_path)
    rules = select(Settings()) + [ExplodingRule]
    result = _run(root, rules)
    _assert_others_intact(result)
    victim = [f for f in result.findings if "victim" in f.path]
    assert [(f.code, f.name) for f in victim] == [("RL999", "internal-error")]
    assert "KeyError" in victim[0].message and "please report it" in victim[0].message


def test_a_rule_that_raises_during_fix_leaves_the_file_alone(tmp_path):
    root = _corpus(tmp_path, files=2)
    result = _run(root, select(Settings()) + [ExplodingRule], fix=FixMode())
    assert [f.code for f in result.findings if "victim" in f.path] == ["RL999"]
    victim = [r for r in result.results if "victim" in r.path][0]
    assert victim.new_data is None
    assert all(r.new_data is not None for r in result.results if "victim" not in r.path)


def test_cli_prints_every_result_then_exits_2(tmp_path, cli, monkeypatch):
    _corpus(tmp_path)
    real = cli_module.registry.choose
    monkeypatch.setattr(cli_module.registry, "choose",
                        lambda s, rules: real(s, rules) + [ExplodingRule])
    code, out, err = cli("--output-format", "concise", "--no-cache", ".")
    assert code == 2 and "Traceback" not in out + err
    lines = out.splitlines()
    assert sum(": RL501 " in line for line in lines) == 6
    [victim] = [line for line in lines if line.startswith("victim.py")]
    assert victim.startswith("victim.py:1:1: RL999 redislint failed on this file (KeyError:")
    assert victim.endswith("please report it with the file")


def test_an_error_in_the_semantic_model_is_not_called_a_syntax_error(tmp_path, monkeypatch):
    """`facts_for` raising ValueError (one of the parse-error types) used to come out as
    `RL000 SyntaxError: ...` on perfectly valid code; Python accepts it, so it is RL999."""
    real = worker.facts_for

    def facts_for(module, name, is_package):
        if "# FAULT" in module.code:
            raise ValueError("a bug in the model")
        return real(module, name, is_package)

    monkeypatch.setattr(worker, "facts_for", facts_for)
    result = _run(_corpus(tmp_path))
    _assert_others_intact(result)
    [victim] = [f for f in result.findings if "victim" in f.path]
    assert victim.code == "RL999" and "a bug in the model" in victim.message


def _segfault() -> None:
    faulthandler.disable()  # pytest's, inherited by the fork: no traceback dump on stderr
    signal.pthread_kill(threading.get_ident(), signal.SIGSEGV)
    time.sleep(60)


def _crash_on_marker(monkeypatch, how):
    real = worker.parse

    def parse(data):
        if MARKER in data:
            how()
        return real(data)

    monkeypatch.setattr(worker, "parse", parse)


def test_a_worker_that_crashes_is_reported_and_replaced(tmp_path, monkeypatch):
    """SIMULATED: the parser segfaults (as libcst's native parser does on a stack overflow)."""
    _crash_on_marker(monkeypatch, _segfault)
    result = _run(_corpus(tmp_path), jobs=2)
    _assert_others_intact(result)
    [victim] = [f for f in result.findings if "victim" in f.path]
    assert victim.code == "RL999" and "the parser crashed on this file" in victim.message


def test_a_crash_on_code_python_rejects_is_its_syntax_error(tmp_path, monkeypatch):
    _crash_on_marker(monkeypatch, _segfault)
    root = _corpus(tmp_path)
    (root / "victim.py").write_text(VICTIM + "def broken(:\n")
    result = _run(root)
    _assert_others_intact(result)
    [victim] = [f for f in result.findings if "victim" in f.path]
    assert (victim.code, victim.start) == ("RL000", (6, 12))


def test_a_worker_that_stalls_is_timed_out(tmp_path, monkeypatch):
    """SIMULATED: the parser never returns; that file's budget is cut to 2 s for the test."""
    _crash_on_marker(monkeypatch, lambda: time.sleep(3600))
    monkeypatch.setattr(runner, "time_budget", lambda data: 2.0 if MARKER in data else 120.0)
    started = time.monotonic()
    result = _run(_corpus(tmp_path))
    assert time.monotonic() - started < 60
    _assert_others_intact(result)
    [victim] = [f for f in result.findings if "victim" in f.path]
    assert victim.code == "RL999" and "the parser timed out on this file" in victim.message


def test_a_real_pathological_file_is_timed_out(tmp_path, monkeypatch):
    """Not simulated: a 20,000-term `a + a + ...` that libcst parses in quadratic time (minutes).
    Only the budget is cut, from ~60 s to 3 s, to keep the suite fast."""
    monkeypatch.setattr(runner, "time_budget", lambda data: 3.0 if b"a + a" in data else 120.0)
    root = _corpus(tmp_path)
    (root / "victim.py").write_text("import redis\nx = " + " + ".join(["a"] * 20000) + "\n")
    result = _run(root)
    _assert_others_intact(result)
    [victim] = [f for f in result.findings if "victim" in f.path]
    assert victim.code == "RL999" and "the parser timed out on this file" in victim.message


def test_a_crash_in_the_lint_phase_keeps_the_other_trees(tmp_path, monkeypatch):
    """A worker holds the trees it parsed for the lint phase; when it dies on one file, the
    files it still held are parsed again by its replacement, not lost."""
    real = worker.lint_module

    def lint_module(module, path, *args, **kwargs):
        if "victim" in path:
            _segfault()
        return real(module, path, *args, **kwargs)

    monkeypatch.setattr(worker, "lint_module", lint_module)
    result = _run(_corpus(tmp_path, files=12), jobs=2)
    _assert_others_intact(result, files=12)
    [victim] = [f for f in result.findings if "victim" in f.path]
    assert victim.code == "RL999" and "crashed" in victim.message


# Deep code that Python accepts: linted normally. Each of these was RL999 (RecursionError in a
# recursive tree helper) before workers served on a big stack with a high recursion limit.
DEEP_BUT_VALID = {
    "concatenated_strings": 'import redis\nr = redis.Redis()\nLUA = (\n'
                            + '    "-- line"\n' * 3000 + ")\nr.keys('*')\n",
    "long_sum": "import redis\nr = redis.Redis()\nr.set(" + " + ".join(["part"] * 1500)
                + ", 1)\nr.keys('*')\n",
    "long_boolean": "import redis\nr = redis.Redis()\nok = " + " and ".join(["a"] * 3000)
                    + "\nr.keys('*')\n",
}


@pytest.mark.parametrize("name", sorted(DEEP_BUT_VALID))
def test_deep_but_valid_code_is_linted(tmp_path, name, cli):
    (tmp_path / f"{name}.py").write_text(DEEP_BUT_VALID[name])
    code, out, err = cli("--output-format", "json", "--no-cache", "--select", "ALL", f"{name}.py")
    found = json.loads(out)
    assert "RL999" not in {f["code"] for f in found}, found
    assert "RL501" in {f["code"] for f in found} and code == 1


def test_valid_code_libcst_cannot_parse_is_rl999_not_a_syntax_error(tmp_path, cli):
    """libcst gives up on more than ~4,000 implicitly concatenated strings, which Python
    accepts: that is redislint's limit, not the file's syntax error."""
    source = "import redis\nx = (\n" + '    "piece"\n' * 5000 + ")\n"
    compile(source, "huge.py", "exec")
    (tmp_path / "huge.py").write_text(source)
    (tmp_path / "good.py").write_text(GOOD)
    code, out, _ = cli("--output-format", "json", "--no-cache", ".")
    found = {f["filename"]: f for f in json.loads(out)}
    assert code == 2 and found["good.py"]["code"] == "RL501"
    assert found["huge.py"]["code"] == "RL999"
    assert "the parser rejects this file, which Python accepts" in found["huge.py"]["message"]


def test_a_killed_run_leaves_no_worker_behind(tmp_path):
    """Found here: SIGKILL the supervisor (an OOM kill, a CI time-out) and its forked workers
    used to live on forever, idle, each holding its parsed trees (1.4 GB apiece for a 50,000-
    line file): a worker kept a copy of the supervisor's end of its own pipe, so it never saw
    end-of-file. The hook holds the supervisor still once its workers exist."""
    for i in range(12):
        (tmp_path / f"m{i}.py").write_text(GOOD)
    hook = tmp_path / "_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import time\n"
        "from redislint import workers\n"
        "def run(self, *args, **kwargs):\n"
        "    print('WORKERS', *[w.process.pid for w in self.workers], flush=True)\n"
        "    time.sleep(600)\n"
        "workers.Supervisor.run = run\n")
    env = dict(os.environ, PYTHONPATH=str(hook))
    process = subprocess.Popen([sys.executable, "-m", "redislint", "--no-cache", "-j", "2", "."],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        line = process.stdout.readline()
        assert line.startswith("WORKERS")
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2
        process.kill()
        process.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "workers outlived their supervisor"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in pids:  # never leak them, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False
