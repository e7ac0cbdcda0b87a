"""The engine pieces behind the security and cluster rules: the Lua scanner, hash slots and
hash tags, constant folding of script and URL text, and URL secrets."""

from __future__ import annotations

import libcst as cst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redislint.config import Settings
from redislint.linter import run_rules
from redislint.rule import Rule
from redislint.semantic.facts import collect
from redislint.semantic.atomic.lua import key_accesses, tokenize, undeclared_keys
from redislint.semantic.context.security import is_placeholder, url_db, url_password
from redislint.semantic.keys.slots import hashed_part, key_slot


# -- hash slots --------------------------------------------------------------------------------
def test_crc16_is_the_one_redis_cluster_uses():
    # The reference check value of CRC16/XMODEM, quoted in the Redis Cluster specification.
    assert key_slot("123456789") == 0x31C3 % 16384 == 12739


@pytest.mark.parametrize("key, hashed", [
    ("{user1000}.following", "user1000"),
    ("{user1000}.followers", "user1000"),
    ("foo{}{bar}", "foo{}{bar}"),  # empty first tag: the whole key
    ("foo{{bar}}zap", "{bar"),
    ("foo{bar}{zap}", "bar"),
    ("no-tag", "no-tag"),
    ("open{only", "open{only"),
])
def test_hash_tags_follow_the_cluster_specification(key, hashed):
    assert hashed_part(key) == hashed
    assert key_slot(key) == key_slot(hashed)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_key_slot_matches_redis_py(key):
    from redis.crc import key_slot as redis_py_key_slot

    assert key_slot(key) == redis_py_key_slot(key.encode("utf-8"))


# -- the Lua scanner ---------------------------------------------------------------------------
def _kinds(script):
    return [(a.command, a.kind) for a in key_accesses(script)]


@pytest.mark.parametrize("script, expected", [
    ("return redis.call('GET', KEYS[1])", [("GET", "declared")]),
    ("return redis.call('GET', 'config')", [("GET", "literal")]),
    ("return redis.pcall('GET', ARGV[1])", [("GET", "argv")]),
    ("return server.call('GET', KEYS[1] .. ':x')", [("GET", "built")]),
    ("local k = KEYS[1]\nlocal p = 'rate:' .. ARGV[1]\nredis.call('GET', k)\nredis.call('SET', p, 1)",
     [("GET", "declared"), ("SET", "built")]),
    # a name bound twice to different things is unknown; loop variables and parameters too
    ("local k = KEYS[1]\nk = 'x'\nredis.call('GET', k)", [("GET", "unknown")]),
    ("for _, key in ipairs(KEYS) do redis.call('DEL', key) end", [("DEL", "unknown")]),
    ("local function f(key) return redis.call('GET', key) end", [("GET", "unknown")]),
    # comments and long strings are not code; a long-bracket string is a literal
    ("--[==[ redis.call('GET', 'a') ]==]\n-- redis.call('GET', 'b')\nreturn 1", []),
    ("return redis.call([[GET]], [=[lit]=])", [("GET", "literal")]),
    # key positions: MSET pairs, ZUNIONSTORE's count, BLPOP's timeout, keyless PUBLISH
    ("redis.call('MSET', KEYS[1], ARGV[1], 'b', ARGV[2])", [("MSET", "declared"), ("MSET", "literal")]),
    ("redis.call('ZUNIONSTORE', KEYS[1], 2, KEYS[2], 'x')",
     [("ZUNIONSTORE", "declared"), ("ZUNIONSTORE", "declared"), ("ZUNIONSTORE", "literal")]),
    ("redis.call('BLPOP', KEYS[1], 'q2', 0)", [("BLPOP", "declared"), ("BLPOP", "literal")]),
    ("redis.call('PUBLISH', 'events', ARGV[1])", []),
    ("redis.call('XREAD', 'COUNT', 1, 'STREAMS', KEYS[1], 's2', '0', '0')",
     [("XREAD", "declared"), ("XREAD", "literal")]),
    # spreads: only the positions before them are known
    ("redis.call('DEL', KEYS[1], unpack(ARGV))", [("DEL", "declared")]),
    ("redis.call('ZUNIONSTORE', KEYS[1], #KEYS - 1, unpack(KEYS, 2))", []),
    # a command that is not a literal, an unknown command: nothing
    ("redis.call(ARGV[1], 'k')", []),
    ("redis.call('FT.SEARCH', 'idx', '*')", []),
    ("redis.call('SET', string.format('lock:%s', ARGV[1]), 1)", [("SET", "built")]),
    ("redis.call('GET', tostring(ARGV[2]))", [("GET", "argv")]),
    ("local id = redis.call('LPOP', KEYS[1])\nreturn redis.call('HGETALL', 'job:' .. id)",
     [("LPOP", "declared"), ("HGETALL", "built")]),
])
def test_key_accesses(script, expected):
    assert _kinds(script) == expected


def test_lines_and_text_point_into_the_script():
    found = undeclared_keys("local n = redis.call('INCR', KEYS[1])\n\nlocal key = 'a:' .. ARGV[1]\n"
                            "return redis.call('GET', key)")
    assert [(a.line, a.text) for a in found] == [(4, "key = 'a:' .. ARGV[1]")]


def test_escapes_and_unfinished_strings():
    tokens = tokenize("'a\\'b' \"c\\x41\\65\\z   d\" 'open\nredis")
    assert [t.value for t in tokens if t.kind == "string"] == ["a'b", "cAAd", "open"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("redis.call('GET',KEYS[1]ARGV)..[[]]=-\n\"\\ {}#local")),
               max_size=120))
def test_the_scanner_never_fails(text):
    key_accesses(text)


# -- constant text, hash tags of key expressions ------------------------------------------------
class _Probe(Rule):
    code = "RL000"
    name = "probe"
    message = ""
    seen: list = []

    def on_redis_call(self, call):
        from redislint.semantic.keys.slots import command_keys, same_slot

        keys = command_keys(self.model, call)
        if keys is None:
            type(self).seen.append(None)  # keys the rule cannot read
        elif keys:
            type(self).seen.append(same_slot(self.model, keys))


@pytest.mark.parametrize("body, verdict", [
    ('rc.mget("{a}:1", "{a}:2")', True),
    ('rc.mget("a:1", "a:2")', False),
    ('rc.mget("user:1:x", "user:1:x")', True),
    ('rc.mget(f"user:{{{uid}}}:a", "user:{%s}:b" % uid)', True),
    ('rc.mget(f"user:{{{uid}}}:a", "user:{" + str(uid) + "}:b")', True),
    ('rc.mget(f"user:{{{uid}}}:a", f"user:{{{other}}}:b")', False),
    ('rc.mget(f"{prefix}:a", f"{prefix}:b")', None),  # the prefix may carry the tag
    ('rc.mget(A.format(uid), B.format(uid))', False),
    ('rc.mget(TA.format(uid), TB.format(uid))', True),
    ('rc.mget(key, other)', None),
    ('rc.mget([f"{{t}}:{i}" for i in range(3)])', True),
    ('rc.mget([f"t:{i}" for i in range(3)])', False),
])
def test_same_slot(body, verdict):
    code = ('from redis.cluster import RedisCluster\nrc = RedisCluster()\n'
            'A = "user:{}:a"\nB = "user:{}:b"\nTA = "user:{{{}}}:a"\nTB = "user:{{{}}}:b"\n'
            f'def f(uid, other, prefix, key):\n    {body}\n')
    module = cst.parse_module(code)
    _Probe.seen = []
    run_rules(module, collect(module), Settings(), [_Probe], None)
    assert _Probe.seen == [verdict]


# -- secrets in URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize("url, password", [
    ("redis://:hunter2@h:6379/0", "hunter2"),
    ("rediss://user:p%40ss@h", "p@ss"),
    ("redis+sentinel://:pw@h", "pw"),
    ("redis://user@h", None),
    ("redis://:@h", None),
    ("redis://:${REDIS_PASSWORD}@h", None),
    ("redis://:{password}@h", None),
    ("redis://:<password>@h", None),
    ("redis://:\x00@h", None),
    ("http://user:pw@h", None),
])
def test_url_password(url, password):
    assert url_password(url) == password


@pytest.mark.parametrize("url, db", [
    ("redis://h:6379/2", 2), ("redis://h:6379", None), ("redis://h/0", 0),
    ("redis://h?db=3", 3), ("unix:///tmp/r.sock?db=1", 1), ("unix:///tmp/r.sock", None),
])
def test_url_db(url, db):
    assert url_db(url) == db


def test_placeholders():
    assert all(map(is_placeholder, ["$PW", "${PW}", "%(pw)s", "<pw>", "****", "{{ pw }}"]))
    assert not any(map(is_placeholder, ["password", "changeme", "hunter2"]))


def test_python_source_that_embeds_a_script_is_not_a_script():
    from redislint.semantic.atomic.scripts import is_redis_lua

    assert is_redis_lua("local n = redis.call('INCR', KEYS[1])\nreturn n")
    assert is_redis_lua("return server.pcall('GET', KEYS[1])")
    assert not is_redis_lua("import redis\nr = redis.Redis()\n"
                            "r.eval(\"return redis.call('GET', 'k')\", 0)\n")
    assert not is_redis_lua("LUA = \"redis.call('GET', 'k')\"\ndef f():\n    return r.eval(LUA, 0)\n")
