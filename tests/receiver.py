"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that keeps every request
it gets and answers as told (a status per request, or a function of the request)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # what to answer: (status, body) for each request, in turn; when it runs out, `otherwise`
    answers: list[tuple[int, bytes]] = field(default_factory=list)
    otherwise: tuple[int, bytes] = (200, b"ok")
    reply: Callable[[Received], tuple[int, bytes, dict[str, str]]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """The first `count` requests, once they have come (AssertionError if not in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests[:count])
            time.sleep(0.02)
        raise AssertionError(f"{len(self.requests)} of {count} requests came in {timeout} s")

    def answer(self, request: Received) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            self.requests.append(request)
            if self.reply is None:
                status, body = self.answers.pop(0) if self.answers else self.otherwise
                return status, body, {}
        return self.reply(request)  # outside the lock: replies may take their time


@contextmanager
def receiver(**kwargs: Any) -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status, answer, headers = state["r"].answer(got)
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "text/plain", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up (a timeout) or was killed

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_port}/hook", **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()
