"""Which arguments of a Redis command are key names, in protocol order (the order of
`redis.call(...)` in Lua and of `execute_command`), after the command name.

`key_positions(command, count, literal)` answers for the common commands and None for the rest
(an unknown command is never guessed at). `literal(i)` gives the text of argument `i` when it
is a literal, for commands whose key count is itself an argument (`ZUNIONSTORE dest 2 a b`).
"""

from __future__ import annotations

from typing import Callable, List, Optional

# The key is the first argument.
FIRST = frozenset("""
GET SET SETEX PSETEX SETNX GETSET GETDEL GETEX INCR INCRBY INCRBYFLOAT DECR DECRBY APPEND STRLEN
SETRANGE GETRANGE SUBSTR SETBIT GETBIT BITCOUNT BITPOS BITFIELD BITFIELD_RO LCS
EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME TTL PTTL PERSIST TYPE DUMP RESTORE
HGET HSET HSETNX HMSET HMGET HGETALL HDEL HEXISTS HINCRBY HINCRBYFLOAT HKEYS HVALS HLEN HSTRLEN
HSCAN HRANDFIELD HEXPIRE HPEXPIRE HTTL HPERSIST HGETDEL HGETEX HSETEX
SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SSCAN
LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE LLEN LTRIM LREM LINDEX LSET LINSERT LPOS
ZADD ZREM ZINCRBY ZSCORE ZMSCORE ZRANK ZREVRANK ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE
ZRANGEBYLEX ZREVRANGEBYLEX ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZCARD ZCOUNT
ZLEXCOUNT ZPOPMIN ZPOPMAX ZSCAN ZRANDMEMBER
XADD XTRIM XLEN XRANGE XREVRANGE XDEL XACK XCLAIM XAUTOCLAIM XPENDING XSETID
PFADD GEOADD GEOPOS GEODIST GEOHASH GEORADIUS GEORADIUSBYMEMBER GEOSEARCH
SORT SORT_RO
""".split())
# Every argument is a key.
ALL = frozenset("""
DEL UNLINK EXISTS TOUCH MGET WATCH SDIFF SINTER SUNION SDIFFSTORE SINTERSTORE SUNIONSTORE
PFCOUNT PFMERGE
""".split())
# Keys and values alternate: key, value, key, value...
PAIRS = frozenset({"MSET", "MSETNX"})
# The first two arguments are keys (source, destination).
FIRST_TWO = frozenset({"RPOPLPUSH", "BRPOPLPUSH", "LMOVE", "BLMOVE", "SMOVE", "RENAME",
                       "RENAMENX", "COPY", "ZRANGESTORE", "GEOSEARCHSTORE"})
# Every argument but the last (a timeout) is a key.
ALL_BUT_LAST = frozenset({"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"})
# command -> (keys before the count, position of the count): `ZUNIONSTORE dest 2 a b`.
NUMKEYS = {"ZUNIONSTORE": (1, 1), "ZINTERSTORE": (1, 1), "ZDIFFSTORE": (1, 1),
           "ZUNION": (0, 0), "ZINTER": (0, 0), "ZDIFF": (0, 0), "ZINTERCARD": (0, 0),
           "SINTERCARD": (0, 0), "LMPOP": (0, 0), "ZMPOP": (0, 0),
           "BLMPOP": (0, 1), "BZMPOP": (0, 1)}
# A subcommand first, then the key: `XGROUP CREATE key ...`, `OBJECT ENCODING key`.
SECOND = frozenset({"XGROUP", "XINFO", "OBJECT", "MEMORY"})
# Commands that name no key at all.
KEYLESS = frozenset("""
PING ECHO TIME INFO PUBLISH SCRIPT CLUSTER CONFIG DBSIZE RANDOMKEY SCAN KEYS FLUSHALL FLUSHDB
READONLY READWRITE SELECT WAIT COMMAND LASTSAVE ROLE CLIENT SLOWLOG DEBUG LOG
""".split())


def key_positions(command: str, count: int, literal: Callable[[int], Optional[str]]
                  ) -> Optional[List[int]]:
    """Indices (0 = first argument after the command) of the key arguments, or None when the
    command is unknown or its layout depends on an argument that is not a literal."""
    name = command.upper()
    if name in KEYLESS:
        return []
    if name in FIRST:
        return [0] if count >= 1 else []
    if name in ALL:
        return list(range(count))
    if name in PAIRS:
        return list(range(0, count, 2))
    if name in FIRST_TWO:
        return [i for i in (0, 1) if i < count]
    if name in ALL_BUT_LAST:
        return list(range(max(0, count - 1)))
    if name in SECOND:
        return [1] if count >= 2 else []
    if name == "BITOP":
        return list(range(1, count))
    if name in NUMKEYS:
        before, at = NUMKEYS[name]
        text = literal(at)
        if text is None or not text.strip().isdigit():
            return None
        keys = int(text)
        if at + 1 + keys > count:
            return None
        return list(range(before)) + list(range(at + 1, at + 1 + keys))
    if name in ("XREAD", "XREADGROUP"):
        for index in range(count):
            text = literal(index)
            if text is not None and text.upper() == "STREAMS":
                rest = count - index - 1
                if rest % 2:
                    return None
                return list(range(index + 1, index + 1 + rest // 2))
        return None
    return None
