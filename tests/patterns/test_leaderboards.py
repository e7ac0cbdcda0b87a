from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from redislint.patterns.leaderboards import Leaderboard

MEMBERS = st.sampled_from(["ann", "bob", "cy", "dee", "éva", "Zed", "a b"])
SCORES = st.integers(min_value=-1000, max_value=1000)


class Model:
    """A plain-Python leaderboard: highest score first, ties by member bytes descending."""

    def __init__(self):
        self.scores = {}

    def ordered(self):
        return sorted(self.scores.items(), key=lambda item: (item[1], item[0].encode()), reverse=True)


def test_rank_is_one_based_highest_first_with_deterministic_ties(r, name):
    board = Leaderboard(r, name)
    for member, score in [("carol", 5), ("alice", 9), ("bob", 5), ("dave", 1)]:
        board.add(member, score)
    assert board.top(10) == [("alice", 9.0), ("carol", 5.0), ("bob", 5.0), ("dave", 1.0)]
    assert [board.rank(m) for m in ("alice", "carol", "bob", "dave")] == [1, 2, 3, 4]
    assert board.rank("nobody") is None and board.score("nobody") is None
    assert board.around("bob", 1) == [("carol", 5.0), ("bob", 5.0), ("dave", 1.0)]
    assert board.around("alice", 1) == [("alice", 9.0), ("carol", 5.0)]
    assert board.around("nobody", 3) == []
    assert board.incr("dave", 10.5) == 11.5
    assert board.rank("dave") == 1
    assert r.ttl(board.key) == -1  # permanent by design


def test_round_trips(round_trips, name):
    board = Leaderboard(round_trips.client, name)
    board.add("a", 1)
    for operation in (
        lambda: board.add("a", 2),
        lambda: board.incr("a", 1),
        lambda: board.top(10),
        lambda: board.rank("a"),
        lambda: board.score("a"),
        lambda: board.around("a", 5),
    ):
        assert round_trips(operation) == 1


class LeaderboardMachine(RuleBasedStateMachine):
    client = None

    @initialize()
    def start(self):
        self.board = Leaderboard(self.client, f"hyp-{uuid.uuid4().hex}")
        self.model = Model()

    @rule(member=MEMBERS, score=SCORES)
    def add(self, member, score):
        self.board.add(member, score)
        self.model.scores[member] = float(score)

    @rule(member=MEMBERS, delta=SCORES)
    def incr(self, member, delta):
        expected = self.model.scores.get(member, 0.0) + delta
        self.model.scores[member] = expected
        assert self.board.incr(member, delta) == expected

    @rule(n=st.integers(min_value=0, max_value=8))
    def top(self, n):
        assert self.board.top(n) == self.model.ordered()[:n]

    @rule(member=MEMBERS)
    def rank_and_score(self, member):
        names = [m for m, _ in self.model.ordered()]
        assert self.board.rank(member) == (names.index(member) + 1 if member in names else None)
        assert self.board.score(member) == self.model.scores.get(member)

    @rule(member=MEMBERS, n=st.integers(min_value=0, max_value=3))
    def around(self, member, n):
        ordered = self.model.ordered()
        names = [m for m, _ in ordered]
        expected = []
        if member in names:
            index = names.index(member)
            expected = ordered[max(0, index - n): index + n + 1]
        assert self.board.around(member, n) == expected

    @invariant()
    def sizes_match(self):
        if hasattr(self, "board"):
            assert self.client.zcard(self.board.key) == len(self.model.scores)

    def teardown(self):
        if hasattr(self, "board"):
            self.client.delete(self.board.key)


def test_leaderboard_matches_a_python_model(backend):
    LeaderboardMachine.client = backend.connect()
    try:
        LeaderboardMachine.TestCase.settings = settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        LeaderboardMachine.TestCase().runTest()
    finally:
        LeaderboardMachine.client.close()
