"""Recall and false alarms of redislint on labelled real code (see README.md beside this file).

    python benchmarks/real_code/check.py [--mirror DIR] [--work DIR] [--repo OWNER/NAME ...]
                                         [--redislint CMD] [--unlabelled] [--json FILE]

Lays out each labelled repository at its labelled commit from its git snapshot (only the Python
files: snapshots may lack big data files), runs redislint with the default rules on it, and
prints, per rule and overall: defects found / labelled (recall), traps reported / labelled
(false alarms). `--unlabelled` lists the findings no label covers, to be read and labelled.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
TOLERANCE = 3


@dataclass(frozen=True)
class Label:
    repo: str
    commit: str
    path: str
    first: int
    last: int
    code: str
    kind: str
    reason: str

    def covers(self, path: str, code: str, row: int) -> bool:
        return (path == self.path and code == self.code
                and self.first - TOLERANCE <= row <= self.last + TOLERANCE)


def read_labels(folder: Path) -> List[Label]:
    labels = []
    for file in sorted(folder.glob("*.csv")):
        with file.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                line = row["line"].strip()
                first, _, last = line.partition("-")
                kind = row["kind"].strip()
                if kind not in ("defect", "trap"):
                    raise SystemExit(f"{file.name}: kind must be defect or trap, not {kind!r}")
                labels.append(Label(row["repo"].strip(), row["commit"].strip(),
                                    row["path"].strip(), int(first), int(last or first),
                                    row["code"].strip().upper(), kind, row["reason"].strip()))
    return labels


def git_dir(mirror: Path, repo: str) -> Optional[Path]:
    base = mirror / repo.replace("/", "+")
    for candidate in (base / "repo", base):
        if (candidate / "HEAD").exists():
            return candidate
        if (candidate / ".git" / "HEAD").exists():
            return candidate / ".git"
    return None


def lay_out(git: Path, commit: str, target: Path) -> Tuple[bool, str]:
    """Write the Python files of `commit` under `target` (once; reused when present)."""
    stamp = target / ".redislint-commit"
    if stamp.exists() and stamp.read_text() == commit:
        return True, ""
    listing = subprocess.run(["git", "--git-dir", str(git), "ls-tree", "-r", "-z", commit],
                             capture_output=True)
    if listing.returncode != 0:
        return False, listing.stderr.decode(errors="replace").strip().splitlines()[-1:][0] \
            if listing.stderr else "commit not in the snapshot"
    entries = []
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob" and path.endswith((b".py", b".toml", b".cfg")) and mode != b"120000":
            entries.append((sha.decode(), path.decode("utf-8", "replace")))
    batch = subprocess.Popen(["git", "--git-dir", str(git), "cat-file", "--batch"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert batch.stdin is not None and batch.stdout is not None
    for sha, path in entries:
        batch.stdin.write(sha.encode() + b"\n")
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            continue
        data = batch.stdout.read(int(header[2]))
        batch.stdout.read(1)
        if path.endswith("pyproject.toml") and b"[tool.redislint" in data:
            continue  # a project's own redislint settings are not what we measure
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    batch.stdin.close()
    batch.wait()
    stamp.write_text(commit)
    return True, ""


def run(redislint: List[str], tree: Path) -> List[dict]:
    done = subprocess.run([*redislint, "--no-cache", "--exit-zero", "--output-format", "json", "."],
                          cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"redislint failed on {tree}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout or "[]")


def is_test(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (any(p in ("tests", "test", "testing") for p in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path,
                        default=Path(os.environ.get("REDISLINT_MIRROR", "/work/.mirror")))
    parser.add_argument("--work", type=Path, default=Path("/tmp/redislint-real-code"))
    parser.add_argument("--labels", type=Path, default=HERE / "labels")
    parser.add_argument("--repo", action="append", default=[])
    parser.add_argument("--redislint", default=f"{shlex.quote(sys.executable)} -m redislint")
    parser.add_argument("--unlabelled", action="store_true")
    parser.add_argument("--misses", action="store_true", help="list the defects not found")
    parser.add_argument("--json", type=Path, help="write the per-rule table here")
    args = parser.parse_args(argv)
    labels = [l for l in read_labels(args.labels) if not args.repo or l.repo in args.repo]
    by_repo: Dict[Tuple[str, str], List[Label]] = defaultdict(list)
    for label in labels:
        by_repo[(label.repo, label.commit)].append(label)
    command = shlex.split(args.redislint)
    found: Dict[Label, bool] = {}
    unlabelled: List[str] = []
    skipped = []
    for (repo, commit), repo_labels in sorted(by_repo.items()):
        git = git_dir(args.mirror, repo)
        if git is None:
            skipped.append(f"{repo}: no snapshot under {args.mirror} (fetch github:{repo})")
            continue
        tree = args.work / repo.replace("/", "+")
        ok, why = lay_out(git, commit, tree)
        if not ok:
            skipped.append(f"{repo}: {why}")
            continue
        findings = run(command, tree)
        for label in repo_labels:
            found[label] = False
        for finding in findings:
            path = Path(finding["filename"]).as_posix()
            path = path[2:] if path.startswith("./") else path
            row, code = finding["location"]["row"], finding["code"]
            hits = [l for l in repo_labels if l.covers(path, code, row)]
            for label in hits:
                found[label] = True
            if not hits and not is_test(path):
                unlabelled.append(f"{repo} {path}:{row} {code} {finding['message'][:90]}")
    table = defaultdict(lambda: [0, 0, 0, 0])  # defects found, defects, traps hit, traps
    for label, hit in found.items():
        row = table[label.code]
        if label.kind == "defect":
            row[0] += hit
            row[1] += 1
        else:
            row[2] += hit
            row[3] += 1
    total = [sum(r[i] for r in table.values()) for i in range(4)]
    print(f"{len(by_repo) - len(skipped)} repositories, {total[1]} defects, {total[3]} traps")
    print(f"{'rule':6} {'recall':>14} {'false alarms':>16}")
    for code in sorted(table):
        d, dn, t, tn = table[code]
        recall = f"{d}/{dn} {d / dn:.2f}" if dn else "-"
        alarms = f"{t}/{tn} {t / tn:.2f}" if tn else "-"
        print(f"{code:6} {recall:>14} {alarms:>16}")
    d, dn, t, tn = total
    print(f"{'all':6} {f'{d}/{dn} {d / max(dn, 1):.2f}':>14} {f'{t}/{tn} {t / max(tn, 1):.3f}':>16}")
    for line in skipped:
        print("skipped:", line)
    if args.misses:
        print("\nDefects not found:")
        for label, hit in sorted(found.items(), key=lambda x: (x[0].code, x[0].repo, x[0].path)):
            if label.kind == "defect" and not hit:
                print(f"  {label.code} {label.repo} {label.path}:{label.first} {label.reason}")
        print("\nTraps reported:")
        for label, hit in sorted(found.items(), key=lambda x: (x[0].code, x[0].repo, x[0].path)):
            if label.kind == "trap" and hit:
                print(f"  {label.code} {label.repo} {label.path}:{label.first} {label.reason}")
    if args.unlabelled:
        print(f"\n{len(unlabelled)} findings no label covers:")
        for line in unlabelled:
            print("  " + line)
    if args.json:
        args.json.write_text(json.dumps({c: dict(zip(("found", "defects", "traps_hit", "traps"), r))
                                         for c, r in sorted(table.items())}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
