"""Property tests over generated Redis-heavy programs, every rule selected, unsafe fixes on:
no RL999, fixed code compiles, a second --fix changes nothing, fixing adds no finding
(engine_harness.check_properties)."""

from __future__ import annotations

import collections
import warnings

from hypothesis import event, example, given

from conftest import fuzz_settings
from engine_harness import check_properties
from redis_programs import programs


# Found by the long run: RL604's fix (the missing `await`) made RL502 see a round trip per
# iteration that the un-awaited call already meant; RL502 now counts a bare call too.
FOUND_MISSING_AWAIT_IN_LOOP = (
    "import redis.asyncio as aioredis\n"
    "class Store:\n"
    "    def __init__(self, url):\n"
    "        self.r = aioredis.Redis()\n"
    "    async def f0(self, uid, data=None, uids=()):\n"
    "        try:\n"
    "            await self.r.append(f\"user:{uid}\", 1)\n"
    "        except Exception:\n"
    "            for k in await self.r.keys(\"user:*\"):\n"
    "                self.r.set(f\"user:{uid}\", 1, ex=60)\n"
)

# Found by the long run: RL102's fix appended `keepttl=True` beside an existing
# `keepttl=False`, again on every pass (never converging), and the result does not compile
# ("keyword argument repeated"; libcst accepts it). The rule now sets the keyword, and the
# engine drops any fix whose result Python does not compile.
FOUND_REPEATED_KEEPTTL = (
    "import redis\n"
    "r = redis.Redis()\n"
    "def cache(uid, v):\n"
    "    r.set(f\"user:{uid}\", v, ex=300)\n"
    "def rename(uid, v):\n"
    "    r.set(f\"user:{uid}\", v, keepttl=False)\n"
)

# Found by the long run: RL203's fix folds `expire` into `set(k, v, nx=True, ex=60)`; RL101
# counted the expire as the TTL of an `mset` of the same key but not the new `set(..., ex=)`.
FOUND_MSET_TTL_ELSEWHERE = (
    "import redis\n"
    "r = redis.Redis()\n"
    "def f0(uid):\n"
    "    with r.pipeline() as p:\n"
    "        p.mset({f\"user:{uid}\": 1})\n"
    "        p.execute()\n"
    "    if r.setnx(f\"user:{uid}\", uid):\n"
    "        r.expire(f\"user:{uid}\", 60)\n"
)


@fuzz_settings(ci_examples=120)
@given(programs())
@example(FOUND_MISSING_AWAIT_IN_LOOP)
@example(FOUND_REPEATED_KEEPTTL)
@example(FOUND_MSET_TTL_ELSEWHERE)
def test_fuzz_redis_programs(code):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(code, "<generated>", "exec")  # the generator writes valid Python
    outcome = check_properties(code)
    for f in outcome.before:
        event(f"finding {f.code}")
    if outcome.fixed is not None:
        event("a fix applied")


def test_generator_reaches_the_rules():
    """The strategy is only worth its time if its programs trip most rules: sample it and
    count which codes it provokes (a guard against a generator that drifted to silence)."""
    from hypothesis import HealthCheck, settings
    from engine_harness import ALL, all_rules, run

    seen = collections.Counter()

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def sample(code):
        seen.update({f.code for f in run(code.encode(), ALL, all_rules()).findings})

    sample()
    fixable = {r.code for r in all_rules() if r.fix_safety}
    assert len(fixable & set(seen)) >= 7, (sorted(fixable - set(seen)), seen)
    assert len(seen) >= 18, seen
