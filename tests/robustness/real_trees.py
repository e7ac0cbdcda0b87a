"""Run redislint over real Python trees and print a Markdown table (not a test: a tool).

    python tests/robustness/real_trees.py /tmp/corpora/* [--stdlib] [--jobs N]

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--stdlib", action="store_true")
    parser.add_argument("--jobs", type=int, default=0)
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
