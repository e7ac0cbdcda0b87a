from __future__ import annotations

import time

from redislint.patterns.streams import EventStream, StreamConsumer


def ids(entries):
    return [entry.id for entry in entries]


def test_append_and_read_json_fields(r, name):
    stream = EventStream(r, name, maxlen=1000)
    first = stream.append({"order": 1, "items": ["a"], "note": None})
    consumer = StreamConsumer(r, stream, "billing", "c1", claim_idle=30)
    [entry] = consumer.read(count=10)
    assert entry.id == first
    assert entry.fields == {"order": 1, "items": ["a"], "note": None}
    assert consumer.ack(entry.id) == 1
    assert consumer.read(count=10) == []
    assert r.ttl(stream.key) == -1  # permanent by design, bounded by maxlen


def test_groups_each_get_every_entry_and_consumers_share_one_group(rb, name):
    stream = EventStream(rb, name, maxlen=1000)
    sent = [stream.append({"n": n}) for n in range(6)]
    billing = StreamConsumer(rb, stream, "billing", "b1", claim_idle=30)
    audit = StreamConsumer(rb, stream, "audit", "a1", claim_idle=30)
    other_biller = StreamConsumer(rb, stream, "billing", "b2", claim_idle=30)
    assert ids(audit.read(count=10)) == sent
    first, second = billing.read(count=3), other_biller.read(count=10)
    assert ids(first) + ids(second) == sent


def test_restarted_consumer_rereads_its_pending_entries_first(rb, name):
    stream = EventStream(rb, name, maxlen=1000)
    sent = [stream.append({"n": n}) for n in range(5)]
    consumer = StreamConsumer(rb, stream, "g", "worker-1", claim_idle=30)
    got = consumer.read(count=3)
    consumer.ack(got[0].id)  # crash after processing only the first
    restarted = StreamConsumer(rb, stream, "g", "worker-1", claim_idle=30)
    assert ids(restarted.read(count=1)) == sent[1:2]  # backlog, a page at a time
    assert ids(restarted.read(count=10)) == sent[2:3]
    assert ids(restarted.read(count=10)) == sent[3:]  # then new entries
    assert restarted.read(count=10, block=0.05) == []


def test_stale_entries_of_a_dead_consumer_are_claimed(rb, name):
    stream = EventStream(rb, name, maxlen=1000)
    sent = [stream.append({"n": n}) for n in range(3)]
    dead = StreamConsumer(rb, stream, "g", "dead", claim_idle=0.2)
    assert ids(dead.read(count=10)) == sent
    rescuer = StreamConsumer(rb, stream, "g", "rescuer", claim_idle=0.2)
    assert rescuer.claim_stale() == []  # not idle long enough yet
    time.sleep(0.25)
    claimed = rescuer.claim_stale()
    assert ids(claimed) == sent and claimed[0].fields == {"n": 0}
    assert rescuer.ack(*ids(claimed)) == 3
    assert rb.xpending(stream.key, "g")["pending"] == 0


def test_poison_entry_goes_to_the_dead_letter_stream(rb, name):
    stream = EventStream(rb, name, maxlen=1000)
    poison = stream.append({"bad": True})
    consumer = StreamConsumer(rb, stream, "g", "c", claim_idle=0.05, max_deliveries=3)
    deliveries = len(consumer.read(count=10))
    for _ in range(4):  # crash, restart, re-read: it never gets acked
        time.sleep(0.06)
        deliveries += len(consumer.claim_stale())
    assert deliveries == 3
    [dead] = consumer.dead_letters()
    assert dead.fields == {"bad": True, "_id": poison, "_group": "g", "_deliveries": 3}
    assert rb.xpending(stream.key, "g")["pending"] == 0
    assert rb.ttl(stream.dead_key) == -1


def test_poison_is_dead_lettered_on_restart_too(rb, name):
    stream = EventStream(rb, name, maxlen=1000)
    stream.append({"bad": True})
    deliveries = 0
    for _ in range(4):  # each "process" reads the backlog and crashes
        consumer = StreamConsumer(rb, stream, "g", "c", claim_idle=30, max_deliveries=2)
        deliveries += len(consumer.read(count=10))
    assert deliveries == 2
    assert len(consumer.dead_letters()) == 1


def test_maxlen_trims(rb, name):
    stream = EventStream(rb, name, maxlen=100)
    for n in range(1000):
        stream.append({"n": n})
    assert 100 <= rb.xlen(stream.key) < 300


def test_round_trips(round_trips, name):
    client = round_trips.client
    stream = EventStream(client, name, maxlen=1000)
    consumer = StreamConsumer(client, stream, "g", "c", claim_idle=30)
    assert round_trips(lambda: stream.append({"a": 1})) == 1
    consumer.read(count=10)  # drain the (empty) backlog and the two entries

    def append_read_ack():
        stream.append({"b": 2})
        [entry] = consumer.read(count=10)
        assert consumer.ack(entry.id) == 1

    assert round_trips(append_read_ack) == 3
    assert round_trips(consumer.claim_stale) == 1
