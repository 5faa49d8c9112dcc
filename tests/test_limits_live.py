"""Size limits and connection handling on a real `worktrail serve`, over raw sockets: a
gigabyte body is refused without the server reading it into memory, and a connection that
got a 4xx keeps serving the next request."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from worktrail.auth import create_token
from worktrail.config import Settings
from worktrail.store import open_store
from worktrail.testing.server import LiveServer, serve
from worktrail.write import create_organization

GIB = 1 << 30


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    tmp = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{tmp / 'limits.db'}"
    store = open_store(Settings(database_url=url))
    store.migrate()
    org = create_organization(store, "Acme", "Owner", "owner@acme.test")
    _, token = create_token(store, org.org_id, org.owner_id, "limits")
    store.close()
    with serve(url, tmp) as server:
        yield server, token


def rss_kib(server: LiveServer) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect(server: LiveServer) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body[:length]


def request(path: str, token: str, body: bytes = b"", method: str = "POST") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_a_declared_gigabyte_is_refused_before_it_is_sent(live: tuple[LiveServer, str]) -> None:
    server, token = live
    with connect(server) as sock:
        sock.sendall(
            f"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {GIB}\r\n\r\n".encode()
        )
        status, headers, body = read_response(sock)
    assert status == 413 and headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    assert orjson.loads(body)["limit"] == 1_048_576


def test_a_streamed_gigabyte_does_not_move_the_servers_memory(
    live: tuple[LiveServer, str],
) -> None:
    server, token = live
    before = rss_kib(server)
    chunk = b"x" * (1 << 20)
    with connect(server) as sock:
        sock.sendall(
            f"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        sent = 0
        try:
            while sent < GIB:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the rest is never read
        status, headers, _ = read_response(sock)
    assert status == 413 and headers["connection"] == "close"
    assert sent < GIB, "the server read the whole gigabyte"
    time.sleep(0.2)
    assert rss_kib(server) - before < 8 * 1024  # a few MB at most


def test_a_connection_that_got_a_4xx_serves_the_next_request(
    live: tuple[LiveServer, str],
) -> None:
    server, token = live
    hostile = [
        request("/api/v1/tasks", token, b'{"name": "\\ud800"}'),
        request("/api/v1/tasks", token, b"[" * 1000 + b"]" * 1000),
        request("/api/v1/events?cursor=%C3%A9.%C3%A9", token, method="GET"),
        request("/api/v1/tasks", token, b'{"name": 1e400}'),
        request("/api/1.0/projects/99999999999999999999999/events", token, method="GET"),
    ]
    with connect(server) as sock:
        for raw in hostile:
            sock.sendall(raw)
            status, headers, _ = read_response(sock)
            assert 400 <= status < 500, (raw[:80], status)
            assert headers.get("connection") != "close"
        sock.sendall(request("/api/v1/me", token, method="GET"))
        status, _, body = read_response(sock)
    assert status == 200 and orjson.loads(body)["role"] == "owner"
