"""Shared settings for the robustness suite.

Hypothesis profiles, chosen with `REDISLINT_FUZZ`:

- `ci` (default): a fixed, derandomized few hundred examples, so every run (and CI) checks the
  same programs in well under a minute;
- `long`: random, many thousands of examples, for a documented longer run
  (`REDISLINT_FUZZ=long python -m pytest tests/robustness -k fuzz -p no:cacheprovider`; see
  docs/robustness.md). `REDISLINT_FUZZ_EXAMPLES` scales it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("redislint-ci", deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_IS_FINE, print_blob=True)
settings.register_profile("redislint-long", deadline=None, suppress_health_check=_SLOW_IS_FINE,
                          print_blob=True,
                          max_examples=int(os.environ.get("REDISLINT_FUZZ_EXAMPLES", "20000")))

LONG = os.environ.get("REDISLINT_FUZZ", "").lower() == "long"


def fuzz_settings(ci_examples: int, long_share: float = 1.0) -> settings:
    """Settings for one property test: `ci_examples` in CI; in the long run the long profile's
    examples scaled by `long_share` (slow generators get a smaller share)."""
    if LONG:
        parent = settings.get_profile("redislint-long")
        return settings(parent, max_examples=max(ci_examples, int(parent.max_examples * long_share)))
    return settings(settings.get_profile("redislint-ci"), max_examples=ci_examples)


# -- a 50,000-line file, linted on the second core while the first runs the suite -----------

def big_module(lines: int = 50_000) -> str:
    """A realistic big module: one client, many small functions, some of them Redis caches,
    and a keys() loop every few thousand lines."""
    out = ["import redis", "r = redis.Redis()", ""]
    i = 0
    while len(out) < lines:
        if i % 200 == 0:
            out += [f"def cached_{i}(uid):", f'    value = r.get(f"user:{{uid}}:{i}")',
                    "    if value is None:", "        value = compute(uid)",
                    f'        r.set(f"user:{{uid}}:{i}", value, ex=60)', "    return value", ""]
        if i % 5000 == 0:
            out += [f"def scan_{i}():", f'    for k in r.keys("bulk:{i}:*"):', "        print(k)", ""]
        out += [f"def plain_{i}(a, b=2, *args, **kw):", f"    total = a * {i} + b - len(args)",
                '    return {"n": total, "items": [x for x in range(b) if x % 2], "kw": kw}', ""]
        i += 1
    return "\n".join(out) + "\n"


# The run times itself (no thread here to watch it: forking workers from a multi-threaded
# pytest process is deprecated on Python 3.12+).
_TIMED_RUN = ("import sys, time\nfrom redislint.cli import run\nstart = time.monotonic()\n"
              "try:\n    run()\nfinally:\n"
              "    sys.stderr.write(f'\\nSECONDS {time.monotonic() - start:.3f}\\n')\n")


@pytest.fixture(scope="session")
def big_file_run(tmp_path_factory):
    """Starts `redislint` on a 50,000-line file in the background when first asked for (the
    autouse fixture below asks at the start, so it runs beside the fuzz tests on the second
    core) and returns a function that waits for it: (exit code, stdout, stderr, seconds the run
    took, the file's bytes)."""
    folder = tmp_path_factory.mktemp("big")
    path = folder / "big.py"
    path.write_text(big_module())
    process = subprocess.Popen([sys.executable, "-c", _TIMED_RUN, "--no-cache", "--output-format",
                                "json", "big.py"], cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)

    def wait():
        out, err = process.communicate(timeout=900)
        seconds = float(err.rsplit("SECONDS ", 1)[1]) if "SECONDS " in err else float("inf")
        return process.returncode, out, err, seconds, path.read_bytes()

    yield wait
    if process.poll() is None:  # the run and its workers (its own session)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session", autouse=True)
def _start_the_big_file_early(big_file_run):
    """The 50,000-line run takes tens of seconds: start it with the first robustness test."""
