"""Run redislint over real Python trees and print a Markdown table (not a test: a tool).

    python tests/robustness/real_trees.py /tmp/corpora/* [--stdlib] [--jobs N] [--every-file]

Each tree is linted with `redislint --select ALL --no-cache --output-format json` in a
subprocess; the table gives its Python files and lines, findings (by code), engine diagnostics
(RL000 syntax errors, RL001 unreadable, RL999 internal errors), the exit code and the time.
`--stdlib` copies this interpreter's standard library to a temporary folder first (inside
site-packages' parent it would be excluded by default). Exit status 1 if any tree produced an
RL999 or a crash (exit code other than 0/1 with no RL999).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


def count(tree: Path):
    files = lines = 0
    for folder, dirs, names in os.walk(tree):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            if name.endswith((".py", ".pyi")):
                files += 1
                try:
                    with open(os.path.join(folder, name), "rb") as handle:
                        lines += handle.read().count(b"\n")
                except OSError:
                    pass
    return files, lines


def run(tree: Path, jobs: int):
    command = [sys.executable, "-m", "redislint", "--select", "ALL", "--no-cache",
               "--output-format", "json", "--jobs", str(jobs), "."]
    start = time.monotonic()
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    try:
        findings = json.loads(done.stdout or "[]")
    except ValueError:
        findings = None
    return done, findings, elapsed


def every_file(tree: Path, jobs: int):
    """Every .py file through the whole engine, the byte pre-filter off (a real run parses only
    files that can touch Redis), with unsafe fixes computed in memory (nothing is written to
    the tree). Then the fixed files, in a copy of the tree, are fixed again: nothing may
    change. Returns a row of counts."""
    import warnings

    from redislint import prefilter, runner
    from redislint.config import Settings
    from redislint.files import discover
    from redislint.registry import select

    settings = Settings(root=tree, select=("ALL",))
    paths, _ = discover([str(tree)], settings)
    saved = prefilter.WORDS
    prefilter.WORDS = (b"",)  # found in every file
    try:
        start = time.monotonic()
        result = runner.lint_paths(paths, settings, select(settings), jobs=jobs,
                                   fix=runner.FixMode(unsafe=True))
        elapsed = time.monotonic() - start
        changed = [r for r in result.results if r.new_data is not None]
        broken = []
        for r in changed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    compile(r.original, r.path, "exec", dont_inherit=True)
                except (SyntaxError, ValueError):
                    continue  # Python rejects the original too
                try:
                    compile(r.new_data, r.path, "exec", dont_inherit=True)
                except (SyntaxError, ValueError) as error:
                    broken.append(f"{r.path}: {error}")
        unstable = []
        if changed:
            copy = Path(tempfile.mkdtemp(prefix="redislint-refix-")) / tree.name
            shutil.copytree(tree, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            fixed_paths = []
            for r in changed:
                target = copy / Path(r.path).relative_to(tree)
                target.write_bytes(r.new_data)
                fixed_paths.append(target)
            again = runner.lint_paths(fixed_paths, Settings(root=copy, select=("ALL",)),
                                      select(settings), jobs=jobs, fix=runner.FixMode(unsafe=True))
            unstable = [r.path for r in again.results if r.new_data is not None]
            shutil.rmtree(copy.parent, ignore_errors=True)
    finally:
        prefilter.WORDS = saved
    codes = collections.Counter(f.code for f in result.findings)
    notes = [f"{r.path}: {n}" for r in result.results for n in r.notes]
    for f in result.findings:
        if f.code == "RL999":
            print(f"<!-- RL999 {f.path}: {f.message} -->", file=sys.stderr)
    for line in broken + [f"unstable fix: {u}" for u in unstable] + notes:
        print(f"<!-- {line} -->", file=sys.stderr)
    return dict(files=result.files, findings=len(result.findings), rl000=codes["RL000"],
                rl001=codes["RL001"], rl999=codes["RL999"], fixed=len(changed),
                broken=len(broken), unstable=len(unstable), notes=len(notes), time=elapsed)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--stdlib", action="store_true")
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--every-file", action="store_true",
                        help="in-process: every file, pre-filter off, fixes checked (see every_file)")
    args = parser.parse_args()
    trees = list(args.trees)
    scratch = None
    if args.stdlib:
        scratch = Path(tempfile.mkdtemp(prefix="redislint-stdlib-"))
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        target = scratch / f"cpython-stdlib-{sys.version_info[0]}.{sys.version_info[1]}"
        shutil.copytree(stdlib, target, symlinks=True,
                        ignore=shutil.ignore_patterns("site-packages", "__pycache__"))
        trees.append(target)
    if args.every_file:
        print("| tree | files | lines | findings | RL000 | RL999 | files fixed | fixes not compiling "
              "| fixes unstable | notes | time (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        totals = collections.Counter()
        for tree in trees:
            files, lines = count(tree)
            row = every_file(tree.resolve(), args.jobs)
            print(f"| {tree.name} | {row['files']} | {lines} | {row['findings']} | {row['rl000']} | "
                  f"{row['rl999']} | {row['fixed']} | {row['broken']} | {row['unstable']} | "
                  f"{row['notes']} | {row['time']:.1f} |", flush=True)
            totals.update(lines=lines, **{k: v for k, v in row.items()})
        print(f"| **total** | {totals['files']} | {totals['lines']} | {totals['findings']} | "
              f"{totals['rl000']} | {totals['rl999']} | {totals['fixed']} | {totals['broken']} | "
              f"{totals['unstable']} | {totals['notes']} | {totals['time']:.1f} |")
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        return 1 if totals["rl999"] or totals["broken"] or totals["unstable"] else 0
    bad = 0
    totals = collections.Counter()
    print("| tree | files | lines | findings | RL000 | RL001 | RL999 | exit | time (s) | top codes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for tree in trees:
        files, lines = count(tree)
        done, findings, elapsed = run(tree, args.jobs)
        if findings is None:
            bad += 1
            print(f"| {tree.name} | {files} | {lines} | output not JSON | | | | {done.returncode} "
                  f"| {elapsed:.1f} | {done.stderr.strip()[:120]} |")
            continue
        codes = collections.Counter(f["code"] for f in findings)
        crashes = codes["RL999"]
        if crashes or done.returncode not in (0, 1):
            bad += 1
            for f in findings:
                if f["code"] == "RL999":
                    print(f"<!-- RL999 {f['filename']}: {f['message']} -->", file=sys.stderr)
            if done.stderr.strip():
                print(f"<!-- stderr {tree.name}: {done.stderr.strip()[:2000]} -->", file=sys.stderr)
        top = ", ".join(f"{c} {n}" for c, n in codes.most_common(6)
                        if c not in ("RL000", "RL001", "RL999"))
        print(f"| {tree.name} | {files} | {lines} | {len(findings)} | {codes['RL000']} | "
              f"{codes['RL001']} | {crashes} | {done.returncode} | {elapsed:.1f} | {top} |",
              flush=True)
        totals.update(files=files, lines=lines, findings=len(findings), rl000=codes["RL000"],
                      rl001=codes["RL001"], rl999=crashes)
        totals["time"] += elapsed
    print(f"| **total** | {totals['files']} | {totals['lines']} | {totals['findings']} | "
          f"{totals['rl000']} | {totals['rl001']} | {totals['rl999']} | | {totals['time']:.1f} | |")
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
