#!/usr/bin/env python3
"""How fast is redislint, next to the parser's own floor and to its peers?

Usage:
    python benchmarks/lint_speed.py                  # the installed redis package + the stdlib
    python benchmarks/lint_speed.py PATH [PATH...]   # any other trees (a checkout of your project)
    python benchmarks/lint_speed.py --scale PATH     # the corpus replicated 1x, 2x, 4x
    python benchmarks/lint_speed.py --skip-peers     # without Fixit and semgrep (minutes each)
    python benchmarks/lint_speed.py --dense          # Redis-dense modules, 1k to 64k lines
    python benchmarks/lint_speed.py --app 400        # a generated application of 400 modules
    python benchmarks/lint_speed.py --profile-rules PATH   # the rules that take the most time
    python benchmarks/lint_speed.py --precommit PATH # one changed file, warm, in a big project

Fixit and semgrep are found on PATH (`pip install fixit semgrep` in any venv, then put its bin/
at the end of PATH). For each corpus it prints files, lines and the median wall time over --runs runs of:
  parse-only   libcst parsing every file in one process (the floor a libcst linter cannot beat)
  -j1          redislint --no-cache -j1 --select ALL
  -jN          redislint --no-cache --select ALL on all cores
  warm         redislint --select ALL with a warm cache
  fixit        `fixit lint` (when installed)
  semgrep      semgrep with four Redis patterns (when installed)
with each one's ratio to parse-only measured in the same run, and peak memory (max RSS of the
largest process). Corpora under site-packages are copied to a temporary folder first, because
redislint (like Ruff) excludes site-packages by default.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path
from typing import List, Optional, Tuple

PARSE_ONLY = textwrap.dedent("""
    import os, sys, libcst
    SKIP = {"site-packages", "__pycache__", ".git", ".venv", "venv", "node_modules", "build", "dist"}
    count = 0
    for root, dirs, files in os.walk(sys.argv[1]):
        dirs[:] = [d for d in dirs if d not in SKIP]
        for name in files:
            if name.endswith((".py", ".pyi")):
                try:
                    libcst.parse_module(open(os.path.join(root, name), "rb").read())
                except Exception:
                    pass
                count += 1
    print(count)
""")

SEMGREP_RULES = textwrap.dedent("""
    rules:
      - id: keys-command
        languages: [python]
        severity: WARNING
        message: KEYS blocks Redis
        pattern: $R.keys(...)
      - id: incr-expire-not-atomic
        languages: [python]
        severity: WARNING
        message: INCR then EXPIRE is not atomic
        patterns:
          - pattern: |
              $R.incr($K, ...)
              ...
              $R.expire($K, ...)
      - id: set-without-ttl
        languages: [python]
        severity: WARNING
        message: SET without expiry
        patterns:
          - pattern: $R.set($K, $V)
      - id: lock-without-timeout
        languages: [python]
        severity: WARNING
        message: lock without timeout
        patterns:
          - pattern: $R.lock($NAME)
""")

MEASURE = textwrap.dedent("""
    import resource, subprocess, sys, time
    start = time.perf_counter()
    code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    elapsed = time.perf_counter() - start
    print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
""")


# As installed from a wheel: bytecode compiled and cached, whatever this shell says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["SEMGREP_ENABLE_VERSION_CHECK"] = "0"  # offline: no network calls from the measured run


def measure(command: List[str], runs: int, env: Optional[dict] = None) -> Tuple[float, float]:
    """Median seconds and peak RSS (MiB) over `runs` runs."""
    times, peaks = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                             text=True, env=env or ENV, check=True).stdout.split()
        times.append(float(out[0]))
        peaks.append(int(out[1]) / 1024)
    return statistics.median(times), max(peaks)


def corpus_size(path: Path) -> Tuple[int, int]:
    files = lines = 0
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".git")]
        for name in names:
            if name.endswith((".py", ".pyi")):
                files += 1
                with open(os.path.join(root, name), "rb") as handle:
                    lines += handle.read().count(b"\n")
    return files, lines


def default_corpora(workdir: Path) -> List[Tuple[str, Path]]:
    import redis

    corpora = []
    redis_copy = workdir / "redis-py"
    shutil.copytree(Path(redis.__file__).parent, redis_copy, ignore=shutil.ignore_patterns("__pycache__"))
    corpora.append(("redis-py (installed package)", redis_copy))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    stdlib_copy = workdir / "stdlib"
    shutil.copytree(stdlib, stdlib_copy, ignore=shutil.ignore_patterns(
        "__pycache__", "site-packages", "test", "tests", "idlelib", "lib2to3", "*.exe"), symlinks=True)
    corpora.append(("python stdlib (no tests)", stdlib_copy))
    return corpora


def bench(name: str, path: Path, runs: int, peers: bool = True) -> None:
    files, lines = corpus_size(path)
    print(f"\n== {name}: {files} files, {lines} lines ({path})")
    cache = Path(tempfile.mkdtemp(prefix="redislint-bench-cache-"))
    redislint = [sys.executable, "-m", "redislint", "--select", "ALL", "--exit-zero", "-q",
                 "--output-format", "concise"]
    rows = []
    floor, floor_mem = measure([sys.executable, "-c", PARSE_ONLY, str(path)], runs)
    rows.append(("libcst parse-only (floor)", floor, floor_mem))
    rows.append(("redislint -j1 --no-cache", *measure(redislint + ["--no-cache", "-j1", str(path)], runs)))
    rows.append((f"redislint -j{os.cpu_count()} --no-cache", *measure(redislint + ["--no-cache", str(path)], runs)))
    subprocess.run(redislint + ["--cache-dir", str(cache), str(path)], capture_output=True)
    rows.append(("redislint warm cache", *measure(redislint + ["--cache-dir", str(cache), str(path)], runs)))
    if peers and shutil.which("fixit"):
        rows.append(("fixit lint", *measure(["fixit", "lint", str(path)], max(1, runs // 2))))
    else:
        rows.append(("fixit lint", None, None))
    if peers and shutil.which("semgrep"):
        rules = Path(tempfile.mkdtemp()) / "redis.yml"
        rules.write_text(SEMGREP_RULES)
        rows.append(("semgrep (4 Redis patterns)", *measure(
            ["semgrep", "scan", "--config", str(rules), "--metrics=off", "--quiet", str(path)],
            max(1, runs // 2))))
    else:
        rows.append(("semgrep (4 Redis patterns)", None, None))
    shutil.rmtree(cache, ignore_errors=True)
    print(f"{'tool':<32}{'median s':>10}{'x floor':>10}{'peak MiB':>10}")
    for label, seconds, memory in rows:
        if seconds is None:
            print(f"{label:<32}{'not run (not installed or --skip-peers)':>30}")
            continue
        print(f"{label:<32}{seconds:>10.3f}{seconds / floor:>10.2f}{memory:>10.0f}")
    timed = {label: seconds for label, seconds, _ in rows}
    warm, one, many = (timed["redislint warm cache"], timed["redislint -j1 --no-cache"],
                       timed[f"redislint -j{os.cpu_count()} --no-cache"])
    print(f"warm cache: {warm / one:.3f}x of a cold -j1 run, {warm / many:.3f}x of a cold "
          f"-j{os.cpu_count()} run; -j1: {1e6 * one / max(lines, 1):.1f} ms per 1,000 lines")


def bench_dense(sizes: List[int], runs: int, workdir: Path) -> None:
    """Per shape and size: parse-only, redislint -j1 --no-cache --select ALL, per 1,000 lines."""
    from generated import DENSE_SHAPES, dense

    redislint = [sys.executable, "-m", "redislint", "--select", "ALL", "--exit-zero", "-q",
                 "--no-cache", "-j1", "--output-format", "concise"]
    print(f"\n== Redis-dense modules (every line a Redis call)")
    print(f"{'shape':<24}{'lines':>7}{'parse s':>9}{'lint s':>9}{'x parse':>9}"
          f"{'ms/1k':>8}{'parse MiB':>10}{'lint MiB':>9}{'MiB/1k':>8}")
    for shape in DENSE_SHAPES:
        for size in sizes:
            folder = workdir / f"dense-{shape.replace(' ', '-')}-{size}"
            folder.mkdir(parents=True, exist_ok=True)
            module = folder / "dense.py"
            module.write_text(dense(shape, size))
            lines = module.read_bytes().count(b"\n")
            floor, floor_memory = measure([sys.executable, "-c", PARSE_ONLY, str(folder)], runs)
            seconds, memory = measure(redislint + [str(module)], runs)
            print(f"{shape:<24}{lines:>7}{floor:>9.2f}{seconds:>9.2f}{seconds / floor:>9.2f}"
                  f"{1e6 * seconds / lines:>8.0f}{floor_memory:>10.0f}{memory:>9.0f}"
                  f"{1000 * memory / lines:>8.1f}")


def profile_rules(path: Path) -> None:
    """Where lint time goes, rule by rule: each rule alone over the corpus, in one process
    (the trees parsed once), minus the engine's own pass with no rule."""
    from redislint import prefilter, registry
    from redislint.config import Settings
    from redislint.files import discover
    from redislint.linter import facts_for, lint_module, parse
    from redislint.project import ProjectIndex, summary_digest
    from redislint.sources import read_sources
    from redislint.worker import summarize

    settings = Settings(select=("ALL",))
    files, _ = discover([str(path)], settings)
    sources, _ = read_sources(files)
    trees = []
    index = ProjectIndex()
    for source in sources:
        if not prefilter.mentions_redis(source.data):
            continue
        try:
            module = parse(source.data)
        except Exception:  # noqa: BLE001 - a file that does not parse costs nothing here
            continue
        facts = facts_for(module, source.module, source.is_package)
        summary = summarize(module, facts, (), source.data)
        index.add(source.module, summary, summary_digest(summary))
        trees.append((source, module, facts))
    light = index.for_workers()

    def lint(rules) -> float:
        start = time.perf_counter()
        for source, module, facts in trees:
            lint_module(module, source.path, settings, rules, light, facts=facts, data=source.data)
        return time.perf_counter() - start

    engine = min(lint([]) for _ in range(2))
    rows = []
    for rule in registry.load(registry.choose(settings, registry.catalogue(None))):
        rows.append((max(0.0, min(lint([rule]) for _ in range(2)) - engine), rule.code, rule.name))
    total = sum(seconds for seconds, _, _ in rows)
    lines = sum(s.data.count(b"\n") for s, _, _ in trees)
    print(f"\n== where lint time goes: {len(trees)} files, {lines} lines ({path})")
    print(f"engine alone (walk, model, inference): {engine:.2f} s; rules: {total:.2f} s")
    for seconds, code, name in sorted(rows, reverse=True)[:12]:
        print(f"  {code} {name:<32}{seconds:>8.3f} s{100 * seconds / max(total, 1e-9):>6.1f}%")


def bench_precommit(path: Path, runs: int, workdir: Path) -> None:
    """pre-commit on a big project: one file changed (a comment added), a warm cache for the
    rest, `redislint FILE` as the hook runs it; next to linting that file on its own (a copy
    alone in an empty folder: what a run without project facts costs)."""
    project = workdir / "precommit"
    if not project.exists():
        shutil.copytree(path, project, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    candidates = sorted(p for p in project.rglob("*.py") if b"redis" in p.read_bytes().lower())
    if not candidates:
        print("\n== pre-commit: no file of the corpus uses Redis")
        return
    changed = max(candidates, key=lambda p: p.stat().st_size)
    cache = workdir / "precommit-cache"
    redislint = [sys.executable, "-m", "redislint", "--exit-zero", "-q", "--output-format",
                 "concise", "--cache-dir", str(cache)]
    cold, cold_mem = measure(redislint + [str(project)], 1)
    original = changed.read_bytes()
    alone_folder = workdir / "alone"
    alone_folder.mkdir(exist_ok=True)
    (alone_folder / changed.name).write_bytes(original)
    alone, _ = measure([sys.executable, "-m", "redislint", "--exit-zero", "-q", "--no-cache",
                        str(alone_folder / changed.name)], runs)
    times = []
    for run in range(runs):
        changed.write_bytes(original + f"\n# edit {run}\n".encode())
        seconds, memory = measure(redislint + [str(changed)], 1)
        times.append(seconds)
    changed.write_bytes(original)
    files, lines = corpus_size(project)
    warm = statistics.median(times)
    print(f"\n== pre-commit: {files} files, {lines} lines; {changed.relative_to(project)} changed")
    print(f"cold first run (whole project, builds the index): {cold:.2f} s, {cold_mem:.0f} MiB")
    print(f"the changed file, warm project cache:             {warm:.3f} s")
    print(f"the same file linted alone (no project facts):    {alone:.3f} s")
    print(f"ratio: {warm / alone:.2f}x (target <= 2x)")


def scaled(path: Path, factor: int, workdir: Path) -> Path:
    target = workdir / f"{path.name}-x{factor}"
    if not target.exists():
        for copy in range(factor):
            shutil.copytree(path, target / f"copy{copy}", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpora", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", action="store_true", help="replicate each corpus 1x, 2x, 4x")
    parser.add_argument("--skip-peers", action="store_true", help="do not run Fixit and semgrep")
    parser.add_argument("--dense", action="store_true", help="Redis-dense generated modules")
    parser.add_argument("--dense-sizes", default="1000,4000,16000,64000")
    parser.add_argument("--app", type=int, default=0, metavar="MODULES",
                        help="also a generated application of this many modules")
    parser.add_argument("--profile-rules", action="store_true",
                        help="print the rules that take the most time on each corpus")
    parser.add_argument("--precommit", action="store_true",
                        help="one changed file in each corpus, warm cache, next to it alone")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import redislint
    import redislint.rules

    folders = [str(Path(redislint.__file__).parent), *redislint.rules.__path__]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], env=ENV, check=False)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory(prefix="redislint-bench-") as tmp:
        workdir = Path(tmp)
        if args.dense:
            bench_dense([int(s) for s in args.dense_sizes.split(",")], args.runs, workdir)
            if not args.corpora and not args.app:
                return
        corpora = [(str(p), p) for p in args.corpora]
        if args.app:
            from generated import application

            app = application(workdir / f"app-{args.app}", args.app)
            corpora.append((f"generated application ({args.app} modules)", app))
        corpora = corpora or default_corpora(workdir)
        for name, path in corpora:
            if args.profile_rules:
                profile_rules(path)
                continue
            if args.precommit:
                bench_precommit(path, args.runs, workdir)
                continue
            if args.scale:
                for factor in (1, 2, 4):
                    bench(f"{name} x{factor}", scaled(path, factor, workdir), args.runs,
                          not args.skip_peers)
            else:
                bench(name, path, args.runs, not args.skip_peers)


if __name__ == "__main__":
    main()
