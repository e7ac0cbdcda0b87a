"""Does this code (this module, or any module of the project) use Redis Cluster?

- `CLUSTER_CLASSES`: the qualified names of the cluster client classes (redis-py, valkey).
- `imports_cluster(facts)`: the module imports one of them (to build a client, or to test
  `isinstance(client, RedisCluster)`: either way it runs against a cluster).
- `project_uses_cluster(index)`: some module of the project binds a cluster client to a
  global or returns one from a function (from the solved project index).
"""

from __future__ import annotations

from typing import Optional

from redislint.semantic.clients.objects import RedisObject
from redislint.semantic.facts import ModuleFacts
from redislint.semantic.redispy import CONSTRUCTORS

CLUSTER_CLASSES = frozenset(qual for qual, made in CONSTRUCTORS.items()
                            if made.cluster and not qual.endswith(".from_url"))


def imports_cluster(facts: ModuleFacts) -> bool:
    return any(qual in CLUSTER_CLASSES for qual in facts.imports.names.values())


def project_uses_cluster(index: Optional[object]) -> bool:
    clients = getattr(index, "clients", None)
    if clients is None:
        return False
    return any(isinstance(value, RedisObject) and value.cluster
               for symbol, values in clients.values.items() if symbol[0] in "mr"
               for value in values)
