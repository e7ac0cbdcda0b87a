from __future__ import annotations

import base64
import threading
import time

from redislint.patterns.sessions import SessionStore


def test_create_get_update_destroy(r, name):
    store = SessionStore(r, ttl=60, prefix=f"{name}:")
    sid = store.create({"user": 7, "cart": []})
    assert store.get(sid) == {"user": 7, "cart": []}
    assert store.update(sid, cart=["book"], theme="dark")
    assert store.get(sid) == {"user": 7, "cart": ["book"], "theme": "dark"}
    store.destroy(sid)
    assert store.get(sid) is None
    assert not store.update(sid, user=8)  # never resurrects a dead session
    assert r.exists(f"{name}:{{{sid}}}") == 0


def test_empty_session_exists(rb, name):
    store = SessionStore(rb, ttl=60, prefix=f"{name}:")
    sid = store.create({})
    assert store.get(sid) == {}
    assert store.get("no-such-session") is None


def test_ids_have_at_least_128_random_bits(rb, name):
    store = SessionStore(rb, ttl=60, prefix=f"{name}:")
    ids = {store.create({}) for _ in range(200)}
    assert len(ids) == 200
    for sid in ids:
        assert len(base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))) >= 16


def test_get_slides_the_ttl(rb, name):
    store = SessionStore(rb, ttl=0.6, prefix=f"{name}:")
    sid = store.create({"user": 1})
    for _ in range(3):  # 0.9 s in total, longer than the 0.6 s TTL
        time.sleep(0.3)
        assert store.get(sid) == {"user": 1}
        assert rb.pttl(f"{name}:{{{sid}}}") > 500
    time.sleep(0.8)
    assert store.get(sid) is None


def test_rotate_moves_data_and_kills_the_old_id(r, name):
    store = SessionStore(r, ttl=60, prefix=f"{name}:")
    old = store.create({"user": 1})
    new = store.rotate(old)
    assert new is not None and new != old
    assert store.get(new) == {"user": 1}
    assert store.get(old) is None
    assert not store.update(old, user=2)
    assert store.rotate(old) is None
    assert 0 < r.pttl(f"{name}:{{{new}}}") <= 60_000


def test_concurrent_updates_of_different_fields_all_survive(rb, name):
    store = SessionStore(rb, ttl=60, prefix=f"{name}:")
    sid = store.create({"base": 0})
    barrier = threading.Barrier(20)

    def writer(index):
        barrier.wait()
        for round_ in range(5):
            assert store.update(sid, **{f"f{index}": round_})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get(sid) == {"base": 0, **{f"f{i}": 4 for i in range(20)}}


class CollidingStore(SessionStore):
    """Draws a taken id first, as a collision would."""

    def __init__(self, *args, ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.ids = list(ids)

    def new_id(self):
        return self.ids.pop(0)


def test_create_never_overwrites_an_existing_session(rb, name):
    store = CollidingStore(rb, ttl=60, prefix=f"{name}:", ids=["taken", "taken", "fresh"])
    assert store.create({"owner": "alice"}) == "taken"
    assert store.create({"owner": "mallory"}) == "fresh"
    assert store.get("taken") == {"owner": "alice"}


def test_round_trips(round_trips, name):
    store = SessionStore(round_trips.client, ttl=60, prefix=f"{name}:")
    sid = store.create({"a": 1})
    assert round_trips(lambda: store.create({"a": 1})) == 1
    assert round_trips(lambda: store.get(sid)) == 1
    assert round_trips(lambda: store.update(sid, a=2)) == 1
    assert round_trips(lambda: store.destroy(store.create({}))) == 2
    assert round_trips(lambda: store.rotate(store.create({}))) == 3  # create + take + create
