"""The fetcher's connections: every address checked against the address policy, every socket operation
within the response's deadline. An httpcore network backend, under httpx's own transport.

- Addresses: the host is resolved here (getaddrinfo, on a worker thread so the deadline holds while the
  resolver waits) and each address is judged by `ingest.addresses`; only allowed addresses are connected
  to, and the socket connects to the very address that was checked, so a name cannot resolve to a public
  address for the check and to an internal one for the connection (DNS rebinding). TLS still names the
  host (SNI and the certificate check); the Host header is httpx's. Every hop of a redirect opens its
  connection here, so every hop is checked.
- Deadline: `GuardedBackend.deadline(at)` sets, for the calling thread, the moment by which the response
  must be whole. Every resolve, connect, TLS handshake, read and write then waits at most until then, so a
  server that trickles its headers or body a byte at a time is cut off at the deadline however it paces
  them (httpx's own timeouts bound each operation alone). A pooled connection reused by another request
  obeys that request's deadline: the deadline is looked up at each operation.

Left out: proxies (the check could not see the address a proxy connects to, so the fetcher uses none) and
Unix sockets.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from .addresses import AddressPolicy

__all__ = ["AddressRefused", "GuardedBackend", "GuardedTransport"]

_Address = tuple[int, str]  # (address family, IP address as text)


class AddressRefused(Exception):
    """The host resolves to no address the policy allows (raised before any connection is made)."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} resolves to {address}, {why}")
        self.host = host
        self.address = address
        self.why = why


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects (see the module docstring). Thread-safe; `close()` stops its resolver
    threads."""

    def __init__(self, policy: AddressPolicy, resolvers: int = 4) -> None:
        self.policy = policy
        self._plain = httpcore.SyncBackend()
        self._local = threading.local()
        self._resolver = ThreadPoolExecutor(resolvers, thread_name_prefix="resolve")

    def close(self) -> None:
        self._resolver.shutdown(wait=False, cancel_futures=True)

    @contextmanager
    def deadline(self, at: float) -> Iterator[None]:
        """Within the block, every network operation of this thread ends by `at` (`time.monotonic()`)."""
        previous = getattr(self._local, "at", None)
        self._local.at = at
        try:
            yield
        finally:
            self._local.at = previous

    def wait_limit(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """`timeout` cut to what is left before the deadline; `expired` is raised once it has passed."""
        at: float | None = getattr(self._local, "at", None)
        if at is None:
            return timeout
        left = at - time.monotonic()
        if left <= 0:
            raise expired("the response's deadline passed")
        return left if timeout is None else min(timeout, left)

    # --- addresses ------------------------------------------------------------------------------------------
    def allowed_addresses(self, host: str, port: int, timeout: float | None = None) -> list[_Address]:
        """The addresses of `host` the policy allows, in the resolver's order; `AddressRefused` when there
        is none (naming the first address refused)."""
        allowed: list[_Address] = []
        refused: tuple[str, str] | None = None
        for family, address in self._resolve(host, port, timeout):
            why = self.policy.refusal(host, ipaddress.ip_address(address.partition("%")[0]))
            if why is None:
                allowed.append((family, address))
            elif refused is None:
                refused = (address, why)
        if not allowed and refused is not None:
            raise AddressRefused(host, *refused)
        return allowed

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[_Address]:
        limit = self.wait_limit(timeout, httpcore.ConnectTimeout)
        future = self._resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            found = future.result(timeout=limit)
        except FutureTimeout:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host} ({exc})") from None
        addresses = [(int(family), str(sockaddr[0])) for family, _, _, _, sockaddr in found]
        return list(dict.fromkeys(addresses))

    # --- httpcore's NetworkBackend --------------------------------------------------------------------------
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for _, address in self.allowed_addresses(host, port, timeout):
            try:
                stream = self._plain.connect_tcp(
                    address,  # the address checked: a literal, so nothing is resolved again
                    port,
                    timeout=self.wait_limit(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next address
                continue
            return _DeadlineStream(stream, self)
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation waits at most until the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, backend: GuardedBackend) -> None:
        self._stream = stream
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._backend.wait_limit(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._backend.wait_limit(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        limit = self._backend.wait_limit(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, limit), self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport (request and response mapping, errors, TLS settings) over a `GuardedBackend`.

    httpx 0.28 has no argument for the network backend of its transport (encode/httpx#3749 adds one), so
    the connection pool it builds is replaced by one built alike with the backend given; the fetcher's
    refusal tests fail at once should a later httpx build its pool otherwise."""

    def __init__(self, backend: GuardedBackend, *, max_connections: int = 100) -> None:
        super().__init__(trust_env=False)
        if not isinstance(self._pool, httpcore.ConnectionPool):
            raise TypeError("httpx's transport no longer holds an httpcore ConnectionPool")
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )
