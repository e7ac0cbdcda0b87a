"""A throwaway redis-server for live tests: on a free loopback port, no persistence.

Set ``REDIS_URL`` (loopback only) to run against your own server instead; it is then used as
is, never restarted or flushed. Test modules and conftests take the `redis_server` fixture by
importing it (``from redis_server import redis_server``): `tests/` is on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest
import redis

LOOPBACK = "127.0.0.1"
SHARED_PORT = 6379  # the machine's own instance: never used by these tests


def free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
        if port != SHARED_PORT:
            return port


class RedisServer:
    """A redis-server process owned by the tests: no persistence, loopback only."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.restartable = True

    def start(self) -> None:
        command = [
            self.binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "yes",
            "--logfile", str(self.workdir / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server did not start on {self.port}:\n{log}")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port: all data and loaded scripts are gone."""
        self.stop()
        self.start()


class ExternalServer:
    """A server the user pointed REDIS_URL at: used as is, never restarted or flushed."""

    restartable = False

    def __init__(self, url: str) -> None:
        host = urlparse(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            pytest.exit(f"REDIS_URL must point at a loopback address, not {host!r}", 2)
        self.url = url

    def restart(self) -> None:
        pytest.skip("cannot restart the server given by REDIS_URL")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield ExternalServer(url)
        return
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        pytest.fail(
            "redis-server not found: install it (apt-get install redis-server) or set "
            "REDIS_URL to a loopback server",
            pytrace=False,
        )
    with tempfile.TemporaryDirectory(prefix="redislint-tests-") as workdir:
        server = RedisServer(binary, Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()
