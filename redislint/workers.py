"""Worker processes that parse and lint, supervised so no file can take the run down.

libcst's native parser can overflow its stack (and kill its process) on deeply nested code,
and takes quadratic time on some pathological inputs. So parsing never happens in the main
process: each file is one request to a worker; a worker that dies or exceeds the file's time
budget is replaced, and only that file is reported. Requests are handed out one at a time to
idle workers (the biggest files first), so the cores stay busy; in the lint phase a file goes
back to the worker that already holds its tree.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Type

from redislint.config import Settings

if TYPE_CHECKING:
    from redislint.rule import Rule

# (request id, command, payload); command is "summarize", "lint" or "index".
Request = Tuple[int, str, object]


def time_budget(data: bytes) -> float:
    """Seconds a file may take: generous, growing with its size. libcst needs ~20 s for one
    50,000-line module here (its parse grows faster than linearly), slower on Python 3.9 and on a
    busy machine; the budget only exists to stop pathological inputs."""
    return 120.0 + 8.0 * data.count(b"\n") / 1000


# Recursive tree helpers (libcst's codegen and visitors, key and string evaluation) go one
# frame per nesting level: a 2,000-piece implicit string concatenation or a 1,000-term sum
# would exceed Python's default 1,000 frames. Workers serve on a thread with a big stack.
_STACK_BYTES = 256 * 1024 * 1024
_RECURSION_LIMIT = 50_000


def _on_big_stack(target, parent_end, *args) -> None:
    # A forked worker inherits the supervisor's end of its own pipe: close it, or the worker
    # never sees end-of-file when the supervisor dies (SIGKILL, OOM), and lives on, idle,
    # holding its parsed trees (gigabytes for a big file).
    parent_end.close()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), _RECURSION_LIMIT))
    threading.stack_size(_STACK_BYTES)
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        return


class _Process:
    def __init__(self, context, target, args) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_on_big_stack,
                                       args=(target, self.connection, child, *args), daemon=True)
        self.process.start()
        child.close()
        self.busy: Optional[Tuple[Request, float]] = None  # in-flight request, deadline
        self.queue: Deque[Request] = deque()

    def send(self, request: Request, budget: float) -> None:
        self.connection.send(request)
        self.busy = (request, time.monotonic() + budget)

    def stop(self) -> None:
        try:
            self.connection.send((0, "stop", None))
        except (OSError, ValueError):
            pass

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class Supervisor:
    """Runs requests on `jobs` worker processes; reports crashes and time-outs per request."""

    def __init__(self, jobs: int, serve: Callable, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
        import multiprocessing  # only when something needs parsing: a warm run starts faster

        methods = multiprocessing.get_all_start_methods()
        self.context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.args = (settings, rules)
        self.serve = serve
        self.workers = [self._spawn() for _ in range(jobs)]
        self.owner: Dict[int, int] = {}  # source index -> worker position
        self.setup: List[Request] = []  # sent to every (re)spawned worker before its work

    def _spawn(self) -> _Process:
        return _Process(self.context, self.serve, self.args)

    def broadcast(self, command: str, payload: object) -> None:
        """State every worker needs (the project index), also replayed to replacements."""
        self.setup = [(0, command, payload)]
        for worker in self.workers:
            worker.queue.appendleft((0, command, payload))

    def run(self, requests: List[Tuple[int, Request, float]], sticky: bool,
            on_failure: Callable[[Request, str], object]) -> Dict[int, object]:
        """`requests` are (source index, request, time budget). Returns request id -> result."""
        from multiprocessing.connection import wait

        results: Dict[int, object] = {}
        budgets: Dict[int, float] = {}
        pending: Deque[Tuple[int, Request]] = deque()
        for source_index, request, budget in requests:
            budgets[request[0]] = budget
            owner = self.owner.get(source_index) if sticky else None
            if owner is not None:
                self.workers[owner].queue.append(request)
            else:
                pending.append((source_index, request))
        expected = len(requests)
        while len(results) < expected:
            for position, worker in enumerate(self.workers):
                if worker.busy is None:
                    self._feed(position, worker, pending, budgets)
            ready = wait([w.connection for w in self.workers if w.busy is not None], timeout=1.0)
            now = time.monotonic()
            for position, worker in enumerate(self.workers):
                if worker.busy is None:
                    continue
                request, deadline = worker.busy
                if worker.connection in ready:
                    try:
                        reply = worker.connection.recv()
                    except (EOFError, OSError):
                        self._replace(position, request, "crashed", results, on_failure)
                        continue
                    worker.busy = None
                    if request[0]:
                        results[request[0]] = reply
                elif not worker.process.is_alive():
                    self._replace(position, request, "crashed", results, on_failure)
                elif now > deadline:
                    self._replace(position, request, "timed out", results, on_failure)
        return results

    def _feed(self, position: int, worker: _Process, pending, budgets) -> None:
        if worker.queue:
            request = worker.queue.popleft()
        elif pending:
            source_index, request = pending.popleft()
            self.owner[source_index] = position
        else:
            return
        worker.send(request, budgets.get(request[0], 60.0))

    def _replace(self, position: int, request: Request, reason: str, results, on_failure) -> None:
        old = self.workers[position]
        old.kill()
        fresh = self._spawn()
        fresh.queue = deque(self.setup) + old.queue
        self.workers[position] = fresh
        if request[0]:
            results[request[0]] = on_failure(request, reason)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
