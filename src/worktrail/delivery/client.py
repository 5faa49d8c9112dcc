"""The HTTP client of deliveries: aiohttp, for its throughput (a delivery worker posts
thousands a second from one process), with keep-alive connections per endpoint, through the
guard (guard.py), without following redirects, reading at most RESPONSE_LIMIT bytes of an
answer and giving up after the timeout."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from .. import __version__
from .guard import GuardedResolver, is_inside

RESPONSE_LIMIT = 64 * 1024  # bytes of an answer read at most
KEPT_BODY = 1024  # characters of it kept in the delivery log
USER_AGENT = f"worktrail-webhooks/{__version__}"


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered, or why it did not."""

    status: int | None  # None: no answer (connection error, timeout, refused target)
    body: bytes
    latency_ms: int
    error: str | None
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class DeliveryClient:
    """One per worker: a connection pool shared by every endpoint (`limit` connections in
    all, `per_host` to one host)."""

    def __init__(
        self, *, timeout: float, allow_private: bool, limit: int = 256, per_host: int = 16
    ) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._limit, self._per_host = limit, per_host
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._per_host,
                resolver=GuardedResolver(self.allow_private),
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
                auto_decompress=False,
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST `body` to `url`; never raises for anything the endpoint or network does."""
        started = time.perf_counter()
        refused = self._refused(url)
        if refused is not None:
            return Answer(None, b"", 0, refused)
        try:
            async with self._open().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                answer = await response.content.read(RESPONSE_LIMIT)
                headers = {k.lower(): v for k, v in response.headers.items()}
                return Answer(response.status, answer, _since(started), None, headers)
        except TimeoutError:
            return Answer(None, b"", _since(started), f"no answer within {self.timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Answer(None, b"", _since(started), _describe(exc))

    def _refused(self, url: str) -> str | None:
        """Why a URL whose host is an IP address is refused (the resolver does not see
        those), if it is."""
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None
        if not self.allow_private and is_inside(host):
            return f"{host} is inside a private network"
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # let the connector close its transports


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(exc: BaseException) -> str:
    """A short, useful reason (the endpoint's problem, never worktrail's internals)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    text = str(exc) or type(exc).__name__
    return text[:300]
