"""Shared analysis every rule asks instead of re-deriving, one room per question.

- `clients/`: is this expression a Redis client (and how sure are we)? The heart: start here.
- `keys/`: which key a command touches, and what the project does to keys of that shape.
- `flow/`: where values and calls go inside one scope: bindings, results, loops, order.
- `atomic/`: what runs as one step: pipelines, transactions, Lua scripts, locks.
- `context/`: where the code runs and what else it talks to: frameworks, databases, pub/sub.
- `fixes/`: building replacement code, and the questions a fix asks before it is offered.

Beside them: `model.py` (the traversal's state and the calls rules receive), `facts.py` (what a
module defines, gathered before the traversal), `names.py` (dotted names and imports) and
`redispy.py` (what redis-py looks like: constructors and command families).
"""
