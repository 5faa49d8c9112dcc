"""Where a live feed's messages go once its response has begun: the connection itself.

A thousand clients of one feed get the same bytes on every commit. Sent through ASGI, each
piece would cross every middleware's `send` wrapper, Starlette's response and the server's
`send`, at 150 to 300 µs of Python a client; written to the connection's transport it costs a
`write`. So under uvicorn's httptools protocol (what `worktrail serve` runs) a feed's body
pieces, after the first, go straight to its transport (`TransportSink`), framed once for all
the connections that get them (`Chunk`). The response's start and its first piece still
go through the whole stack, which is all the middlewares act on (request id, security
headers, status for the access log; HEAD stops at the first piece, web/methods.py).
Anything else (Starlette's test client, another server) gets `AsgiSink`: the same pieces
through the ASGI `send`, from a queue of the feed's own.

Either way a sink is bounded: `offer` never waits, and refuses a piece while more than
BACKLOG bytes the client has not taken are held for it; the feed then leaves the shared
fan-out and catches up by itself at the client's pace (web/feed.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BACKLOG = 256 * 1024  # bytes held for one client before it has to catch up by itself
SERVER_SEND = "worktrail.server_send"  # the scope key of the server's own `send`
_HTTPTOOLS_CYCLE = "uvicorn.protocols.http.httptools_impl"


class Chunk:
    """A piece of a feed's body, framed for HTTP/1.1 chunked transfer once for all the
    connections that get it."""

    __slots__ = ("_framed", "body")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._framed: bytes | None = None

    @property
    def framed(self) -> bytes:
        if self._framed is None:
            self._framed = b"%x\r\n%b\r\n" % (len(self.body), self.body)
        return self._framed


class Sink(Protocol):
    """A live connection's body, after its first piece."""

    def offer(self, chunk: Chunk) -> bool:
        """Send `chunk` without waiting, unless more than BACKLOG bytes are still held for
        the client: then False, and nothing was sent."""

    async def drain(self) -> None:
        """Until what is held for the client is down to what a connection may hold."""

    async def pump(self) -> None:
        """Whatever has to run beside the feed to move its pieces (until cancelled)."""


class TransportSink:
    """Pieces written to the connection's transport (uvicorn's httptools protocol, with
    chunked transfer: the framing is HTTP's, the cycle's state is left as it is)."""

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle
        self._transport: asyncio.WriteTransport = cycle.transport

    def offer(self, chunk: Chunk) -> bool:
        if self._transport.is_closing():
            return True  # the client left: the feed hears of it from `receive`
        if self._transport.get_write_buffer_size() > BACKLOG:
            return False
        self._transport.write(chunk.framed)
        return True

    async def drain(self) -> None:
        await self._cycle.flow.drain()  # set again when the transport takes writes

    async def pump(self) -> None:
        return


class AsgiSink:
    """Pieces sent through the ASGI `send`, in order, by `pump`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._held: deque[bytes] = deque()
        self._size = 0
        self._more = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def offer(self, chunk: Chunk) -> bool:
        if self._size > BACKLOG:
            return False
        self._held.append(chunk.body)
        self._size += len(chunk.body)
        self._empty.clear()
        self._more.set()
        return True

    async def drain(self) -> None:
        await self._empty.wait()

    async def pump(self) -> None:
        while True:
            await self._more.wait()
            self._more.clear()
            while self._held:
                body = self._held[0]
                await self._send({"type": "http.response.body", "body": body, "more_body": True})
                self._held.popleft()
                self._size -= len(body)
            self._empty.set()


def open_sink(scope: Scope, send: Send) -> Sink:
    """The sink of a response begun through `send` (its start and a first piece sent)."""
    cycle: Any = getattr(scope.get(SERVER_SEND), "__self__", None)
    if (
        type(cycle).__module__ == _HTTPTOOLS_CYCLE
        and getattr(cycle, "chunked_encoding", None) is True
        and cycle.scope.get("method") == "GET"
        and cycle.response_started
        and not cycle.response_complete
    ):
        return TransportSink(cycle)
    return AsgiSink(send)


class ServerSendMiddleware:
    """Keeps the server's own `send` in the scope (SERVER_SEND), for `open_sink`: the
    outermost layer of the application (web/security.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


async def until_disconnected(receive: Receive) -> None:
    """Until the client has gone (the request's body, if any, is read and dropped)."""
    message: Message = await receive()
    while message["type"] != "http.disconnect":
        message = await receive()
