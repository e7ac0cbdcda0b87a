"""Reference implementations of classic Redis patterns, each proven by live tests.

Every redislint finding points to one of these as "use instead". Import the module you need,
for example ``from redislint.patterns.locks import Lock``; ``redislint patterns`` lists them.

Each pattern takes a ``redis.Redis`` or a ``redis.cluster.RedisCluster`` client and behaves the
same on both: the tests run every one on a single server and on a three-primary Redis Cluster,
and through a replica's promotion. Each module's "Keys and hash tags" says which keys share a
Cluster slot, and why. Every decision (a lock, a limit, a lease, a delivery) is a script and
runs on the primary, even through a client set to read from replicas; plain reads (a
leaderboard's top, a unique count, dead letters) may then come from a replica, a little behind.
"""
