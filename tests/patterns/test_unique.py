from __future__ import annotations

import pytest
from redis.crc import key_slot

from redislint.patterns.unique import UniqueTracker


def test_exact_mode(r, name):
    visitors = UniqueTracker(r, name, tag=name)
    assert visitors.add("ann", "bob", "ann") == 2
    assert visitors.add("bob", "cy") == 1
    assert visitors.add() == 0
    assert visitors.count() == 3
    assert visitors.contains("cy") and not visitors.contains("dee")
    other = UniqueTracker(r, f"{name}-2", tag=name)  # one slot: counted together
    other.add("cy", "dee")
    assert visitors.union_count(other) == 4


@pytest.mark.parametrize("approximate", [False, True])
def test_union_of_untagged_trackers_in_several_slots(rb, backend, name, approximate):
    left = UniqueTracker(rb, f"{name}-a", approximate=approximate)
    right = UniqueTracker(rb, f"{name}-b", approximate=approximate)
    assert key_slot(left.key.encode()) != key_slot(right.key.encode())  # a fair test
    left.add("x", "y")
    right.add("y", "z")
    if not backend.cluster:
        assert left.union_count(right) == 3  # one server: any keys can be counted together
        return
    with pytest.raises(ValueError, match="same tag="):
        left.union_count(right)


def test_many_items_in_one_call_and_ttl(rb, name):
    tracker = UniqueTracker(rb, name, ttl=60)
    assert tracker.add(*range(5000)) == 5000
    assert tracker.count() == 5000
    assert 0 < rb.pttl(tracker.key) <= 60_000


def test_hyperloglog_error_within_2_percent_at_100k(rb, name):
    tracker = UniqueTracker(rb, name, approximate=True)
    batch = 10_000
    added = 0
    for start in range(0, 100_000, batch):
        added += tracker.add(*(f"user-{i}" for i in range(start, start + batch)))
    assert abs(tracker.count() - 100_000) / 100_000 < 0.02
    assert abs(added - 100_000) / 100_000 < 0.02
    assert tracker.add("user-5") == 0  # already seen: the estimate does not move
    with pytest.raises(ValueError):
        tracker.contains("user-5")
    assert rb.strlen(tracker.key) <= 12 * 1024 + 64  # constant memory


def test_hyperloglog_union(rb, name):
    left = UniqueTracker(rb, f"{name}-l", approximate=True, tag=name)
    right = UniqueTracker(rb, f"{name}-r", approximate=True, tag=name)
    left.add(*range(0, 600))
    right.add(*range(400, 1000))
    assert abs(left.union_count(right) - 1000) <= 20
    with pytest.raises(ValueError):
        left.union_count(UniqueTracker(rb, name))


def test_round_trips(round_trips, name):
    tracker = UniqueTracker(round_trips.client, name, ttl=60)
    approximate = UniqueTracker(round_trips.client, f"{name}-hll", approximate=True)
    assert round_trips(lambda: tracker.add(*range(3000))) == 1
    assert round_trips(lambda: approximate.add(*range(3000))) == 1
    assert round_trips(tracker.count) == 1
    assert round_trips(lambda: tracker.contains(5)) == 1
    assert round_trips(lambda: tracker.union_count(UniqueTracker(round_trips.client, name))) == 1
