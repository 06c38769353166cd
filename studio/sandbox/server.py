"""A loopback HTTP server that the four engine imitations plug their routes into.

Qt-free. Each :class:`SandboxServer` owns a ``ThreadingHTTPServer`` on 127.0.0.1 served
from a background thread, one daemon thread per connection (HTTP/1.1 keep-alive). Engine
modules register handlers with :meth:`SandboxServer.route`; tests inject faults through
``server.faults`` (studio/sandbox/faults.py) and read ``server.requests_log`` to prove
what did or did not reach the server (one POST, no credential header, ...).

Threads: the public API may be called from any thread. Handlers and fault hooks run on
the connection thread that received the request, concurrently with other connections,
so shared engine state goes through ``server.state`` under ``server.lock``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from studio.sandbox.faults import FaultInjector

__all__ = [
    "DEFAULT_MAX_BODY",
    "BadJson",
    "Delivery",
    "DropConnection",
    "Handler",
    "Headers",
    "LoggedRequest",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "bytes_response",
    "json_response",
    "text_response",
]

logger = logging.getLogger(__name__)

# Larger than any engine's JSON request; uploads travel by URL, not in the body.
DEFAULT_MAX_BODY = 8 * 1024 * 1024
# Beyond the cap we still read and discard this much, so the client gets its 413
# instead of a write error; past it we simply hang up.
_DRAIN_FACTOR = 4
_CHUNK = 64 * 1024


class BadJson(ValueError):
    """The request body is not a JSON document; each engine maps this to its own error."""


class DropConnection(Exception):
    """Raised by a fault hook to hang up without answering.

    Args:
        reset: True sends a TCP RST (the client sees "connection reset"); False a plain
            FIN (the client sees "server disconnected without a response").
    """

    def __init__(self, reset: bool = True) -> None:
        super().__init__("connection dropped by a sandbox fault")
        self.reset = reset


class Headers(MutableMapping[str, str]):
    """Case-insensitive header mapping that keeps the spelling it was given.

    Repeated request headers are joined with ", " (RFC 9110 list syntax).
    """

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                value = f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        """A detached copy (the request log must not see later edits by faults)."""
        return Headers((name, value) for name, value in self._items.values())

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class SandboxRequest:
    """One parsed request, as a handler sees it.

    Attributes:
        method: upper-case method ("GET", "POST", ...). A HEAD served by a GET route keeps
            "HEAD" here; the server drops the body it returns.
        path: the path as sent, without the query string (not percent-decoded).
        query: first value of each query parameter (decoded).
        headers: case-insensitive request headers.
        body: the raw body (at most the server's ``max_body`` bytes).
        params: path parameters from the route template or regex groups (decoded).
        route: the name of the matched route.
        query_all: every value of each query parameter.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    route: str | None = None
    query_all: dict[str, list[str]] = field(default_factory=dict)

    def json(self) -> Any:
        """Decode the body as UTF-8 JSON.

        Runs on the connection thread.

        Raises:
            BadJson: empty body, invalid UTF-8 or invalid JSON.
        """
        if not self.body.strip():
            raise BadJson("empty body")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadJson(str(exc)) from None


@dataclass
class Delivery:
    """How a response goes on the wire; faults edit this, handlers normally don't.

    Attributes:
        delay_s: wait this long before sending anything (the job already exists).
        drop: hang up (RST) instead of answering.
        send_bytes: send only this many body bytes, then close.
        declare_length: send Content-Length (of the full body). False closes the
            connection to mark the end of the body instead.
        chunk_size: write the body in pieces of this size ...
        chunk_interval_s: ... waiting this long between them.
    """

    delay_s: float = 0.0
    drop: bool = False
    send_bytes: int | None = None
    declare_length: bool = True
    chunk_size: int | None = None
    chunk_interval_s: float = 0.0


@dataclass
class SandboxResponse:
    """What a handler returns.

    Content-Length is always computed by the server from ``body`` (or ``stream_length``);
    a handler's own Content-Length, Connection or Transfer-Encoding header is ignored.

    Attributes:
        status: HTTP status code; any integer 100-999 is sent as is (499 included).
        headers: response headers.
        body: the body bytes, unless ``stream`` is set.
        stream: an iterable of chunks for bodies too large to hold in memory.
        stream_length: the length of ``stream``; None closes the connection at its end.
        delivery: wire-level behaviour, set by faults.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterable[bytes] | None = None
    stream_length: int | None = None
    delivery: Delivery = field(default_factory=Delivery)

    def header(self, name: str) -> str | None:
        """The value of ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def set_header(self, name: str, value: str | None) -> None:
        """Replace ``name`` (case-insensitive); None removes it."""
        for key in [k for k in self.headers if k.lower() == name.lower()]:
            del self.headers[key]
        if value is not None:
            self.headers[name] = value


def json_response(
    obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> SandboxResponse:
    """A JSON answer (UTF-8, ``application/json``)."""
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return SandboxResponse(status, {"Content-Type": "application/json", **(headers or {})}, body)


def text_response(
    text: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "text/plain; charset=utf-8",
) -> SandboxResponse:
    """A text answer (UTF-8)."""
    return SandboxResponse(
        status, {"Content-Type": content_type, **(headers or {})}, text.encode("utf-8")
    )


def bytes_response(
    data: bytes,
    content_type: str = "application/octet-stream",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> SandboxResponse:
    """A binary answer."""
    return SandboxResponse(status, {"Content-Type": content_type, **(headers or {})}, data)


Handler = Callable[[SandboxRequest], SandboxResponse]


@dataclass
class LoggedRequest:
    """One entry of :attr:`SandboxServer.requests_log`.

    Recorded when the request line and headers arrive, then updated in place (body,
    handled, status) as the request proceeds.

    Attributes:
        method, path, query, headers, body: as received (headers are a copy; the body
            is empty when a fault hung up before reading it, or it was over the cap).
        time: wall-clock arrival time (``time.time()``).
        route: the matched route's name, or None (404).
        fault: the kind of the fault that fired for this request, or None.
        handled: whether the route's handler ran to its end (a job may exist).
        status: the status sent; None while in flight or when no answer was sent.
        peer: the client's "host:port"; the same for requests on one keep-alive connection.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    time: float
    route: str | None = None
    fault: str | None = None
    handled: bool = False
    status: int | None = None
    peer: str = ""


@dataclass(frozen=True)
class _Route:
    name: str
    method: str
    regex: re.Pattern[str]
    handler: Handler


_TEMPLATE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::path)?\}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Turn a route pattern into a regex matched against the whole path.

    A pattern starting with "^" is a regex (named groups become path params); otherwise
    it is a template where ``{name}`` matches one path segment and ``{name:path}`` the
    rest of the path.
    """
    if pattern.startswith("^"):
        return re.compile(pattern)
    parts: list[str] = []
    pos = 0
    for match in _TEMPLATE_PARAM.finditer(pattern):
        parts.append(re.escape(pattern[pos : match.start()]))
        rest = match.group(0).endswith(":path}")
        parts.append(f"(?P<{match.group(1)}>{'.+' if rest else '[^/]+'})")
        pos = match.end()
    parts.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(parts) + "$")


class SandboxServer:
    """A loopback HTTP/1.1 server with routes, a request log, faults and shared state.

    Binds in the constructor, so :attr:`base_url` is valid before :meth:`start`.

    Args:
        name: a short label for threads and logs ("kling", "ttapi", ...).
        host: the address to bind; loopback unless a demo wants otherwise.
        port: 0 picks a free port.
        max_body: request bodies over this answer 413.
        idle_timeout_s: a keep-alive connection idle this long is closed.
        log_limit: the request log keeps this many most recent entries.
    """

    def __init__(
        self,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        idle_timeout_s: float = 30.0,
        log_limit: int = 10_000,
    ) -> None:
        # Imported here: faults.py builds SandboxResponse objects from this module.
        from studio.sandbox.faults import FaultInjector

        self.name = name
        self.max_body = max_body
        self.idle_timeout_s = idle_timeout_s
        self.state: dict[str, Any] = {}
        self.lock = threading.RLock()
        self._routes: list[_Route] = []
        self._routes_lock = threading.Lock()
        self._log: deque[LoggedRequest] = deque(maxlen=log_limit)
        self._log_cond = threading.Condition()
        self._stopping = threading.Event()
        self._serve_thread: threading.Thread | None = None
        self._stopped = False
        self.faults: FaultInjector = FaultInjector(self.route_names)
        self._httpd = _Httpd((host, port), _make_handler_class(self))

    # -- lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` of the bound socket."""
        host = self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def host(self) -> str:
        """The bound address."""
        host = self._httpd.server_address[0]
        return host.decode() if isinstance(host, bytes | bytearray) else str(host)

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        """``base_url`` + ``path`` (which starts with "/")."""
        return self.base_url + path

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`stop` begins; long fault sleeps wait on it to end early."""
        return self._stopping

    def start(self) -> SandboxServer:
        """Start serving on a background daemon thread. Call from any thread, once."""
        if self._serve_thread is not None or self._stopped:
            raise RuntimeError(f"sandbox server {self.name!r} was already started")
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.5},
            name=f"sandbox-{self.name}",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut every open connection and join all server threads.

        Runs on the caller's thread; idempotent. In-flight fault sleeps and drips end at
        once (they wait on :attr:`stopping`); a handler stuck in its own code is given
        ``timeout`` seconds and then abandoned (its thread is a daemon).
        """
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._serve_thread is not None:
            self._shut_serve_loop(timeout)
        self._httpd.server_close()
        threads = self._httpd.cut_connections()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _shut_serve_loop(self, timeout: float) -> None:
        """End serve_forever without waiting out its poll interval.

        ``shutdown()`` only raises a flag that the loop reads after its select() returns;
        a throw-away connection makes select() return at once. Runs on the caller's thread.
        """
        assert self._serve_thread is not None
        shutter = threading.Thread(target=self._httpd.shutdown, daemon=True)
        shutter.start()
        deadline = time.monotonic() + timeout
        while shutter.is_alive() and time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                pass
            shutter.join(0.01)
        self._serve_thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- routes --------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler, name: str | None = None) -> str:
        """Register ``handler`` for ``method`` on paths matching ``pattern``.

        Routes are tried in registration order. A GET route also serves HEAD unless a
        HEAD route matches first. Call from any thread, normally before :meth:`start`.

        Args:
            method: an HTTP method, or "*" for any.
            pattern: a template ("/v1/tasks/{id}") or a regex starting with "^".
            handler: called on the connection thread with the parsed request.
            name: the route's name for faults and the log; defaults to "METHOD pattern".

        Returns:
            The route's name.

        Raises:
            ValueError: the name is already taken.
        """
        method = method.upper()
        route_name = name or f"{method} {pattern}"
        with self._routes_lock:
            if any(r.name == route_name for r in self._routes):
                raise ValueError(f"route name {route_name!r} already registered")
            self._routes.append(_Route(route_name, method, compile_pattern(pattern), handler))
        return route_name

    def route_names(self) -> list[str]:
        """Names of the registered routes, in order. Any thread."""
        with self._routes_lock:
            return [r.name for r in self._routes]

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], list[str]]:
        """Find the route for ``method`` + ``path``; also return the methods the path allows."""
        with self._routes_lock:
            routes = list(self._routes)
        allowed: list[str] = []
        fallback: tuple[_Route, dict[str, str]] | None = None
        for candidate in routes:
            found = candidate.regex.fullmatch(path)
            if found is None:
                continue
            params = {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
            if candidate.method in (method, "*"):
                return candidate, params, allowed
            if method == "HEAD" and candidate.method == "GET" and fallback is None:
                fallback = (candidate, params)
            allowed.append(candidate.method)
        if fallback is not None:
            return fallback[0], fallback[1], allowed
        return None, {}, allowed

    # -- request log ---------------------------------------------------------------

    @property
    def requests_log(self) -> list[LoggedRequest]:
        """A snapshot of the received requests, oldest first. Any thread."""
        with self._log_cond:
            return list(self._log)

    def requests(
        self, method: str | None = None, path: str | None = None, route: str | None = None
    ) -> list[LoggedRequest]:
        """The logged requests filtered by method, exact path and/or route name. Any thread."""
        return [
            entry
            for entry in self.requests_log
            if (method is None or entry.method == method.upper())
            and (path is None or entry.path == path)
            and (route is None or entry.route == route)
        ]

    def clear_log(self) -> None:
        """Forget every logged request. Any thread."""
        with self._log_cond:
            self._log.clear()

    def wait_for_requests(
        self, predicate: Callable[[list[LoggedRequest]], bool], timeout: float = 5.0
    ) -> bool:
        """Block until ``predicate(requests_log)`` holds; False after ``timeout`` seconds.

        Runs on the caller's (test) thread.
        """
        with self._log_cond:
            return self._log_cond.wait_for(lambda: predicate(list(self._log)), timeout)

    def _record(self, entry: LoggedRequest) -> None:
        with self._log_cond:
            self._log.append(entry)
            self._log_cond.notify_all()

    def _update(self) -> None:
        with self._log_cond:
            self._log_cond.notify_all()

    # -- dispatch (connection threads) ----------------------------------------------

    def _dispatch(self, conn: _Connection) -> None:
        """Serve one parsed request on its connection thread."""
        split = urlsplit(conn.path)
        path = split.path or "/"
        query_all = parse_qs(split.query, keep_blank_values=True)
        query = {k: v[0] for k, v in query_all.items()}
        headers = Headers((k, v) for k, v in conn.headers.items())
        method = conn.command.upper()
        route, params, allowed = self._match(method, path)
        fault = self.faults.take(route.name if route else None, method, path)
        entry = LoggedRequest(
            method, path, dict(query), headers.copy(), b"", time.time(),
            route.name if route else None, fault.kind if fault else None,
            peer=f"{conn.client_address[0]}:{conn.client_address[1]}",
        )  # fmt: skip
        # Logged on arrival, so a test sees a request that a fault is holding.
        self._record(entry)
        if fault is not None:
            try:
                fault.on_arrival(self._stopping)
            except DropConnection as drop:
                conn.hang_up(drop.reset)
                return
        body = conn.read_body(self.max_body)
        if body is None:
            self._send(conn, entry, text_response("request body too large", 413), method)
            return
        entry.body = body
        self._update()
        request = SandboxRequest(
            method, path, query, headers, body, params, route.name if route else None, query_all
        )
        try:
            response = fault.before(request, self._stopping) if fault else None
            if response is None:
                response = self._handle(request, route, allowed, entry)
            if fault is not None:
                response = fault.after(request, response, self._stopping)
        except DropConnection as drop:
            self._update()
            conn.hang_up(drop.reset)
            return
        self._send(conn, entry, response, method)

    def _handle(
        self,
        request: SandboxRequest,
        route: _Route | None,
        allowed: list[str],
        entry: LoggedRequest,
    ) -> SandboxResponse:
        if route is None:
            if allowed:
                allow = ", ".join(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))
                return json_response({"error": "method not allowed"}, 405, {"Allow": allow})
            return json_response({"error": "not found"}, 404)
        try:
            return route.handler(request)
        except Exception as exc:
            # A bug in an engine imitation must show up as a 500, not kill the server.
            logger.exception("sandbox %s: handler %s failed", self.name, route.name)
            return text_response(f"sandbox handler error: {type(exc).__name__}", 500)
        finally:
            # Set only once the handler has returned, so a test waiting on it can
            # read the engine state the handler wrote.
            entry.handled = True
            self._update()

    def _send(
        self, conn: _Connection, entry: LoggedRequest, response: SandboxResponse, method: str
    ) -> None:
        delivery = response.delivery
        if delivery.delay_s > 0 and self._stopping.wait(delivery.delay_s):
            conn.hang_up(reset=False)
            return
        if delivery.drop:
            self._update()
            conn.hang_up(reset=True)
            return
        entry.status = response.status
        self._update()
        try:
            conn.write_response(response, head_only=method == "HEAD", stopping=self._stopping)
        except OSError:
            # The client gave up (a read timeout in a test, usually): nothing to answer.
            conn.close_connection = True


class _Connection(BaseHTTPRequestHandler):
    """The per-connection handler; every method runs on that connection's thread."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the client's delayed
    # ACK adds ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "StudioSandbox/1"
    sandbox: SandboxServer

    def handle_one_request(self) -> None:
        # Mirrors BaseHTTPRequestHandler.handle_one_request, minus the do_METHOD lookup:
        # routes decide which methods exist (unknown ones get 404/405, not 501).
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.sandbox._dispatch(self)
            if not self.wfile.closed:
                self.wfile.flush()
        except OSError:  # idle timeout, reset by the client, or cut by stop()
            self.close_connection = True

    def read_body(self, limit: int) -> bytes | None:
        """Read the request body; None when it is over ``limit`` (then drained or dropped)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > limit:
            self._discard(length)
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self, limit: int) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            size = int(size_line or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                break
            total += size
            if total > limit:
                self.close_connection = True
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)
        return b"".join(parts)

    def _discard(self, length: int) -> None:
        self.close_connection = True
        remaining = length
        if remaining > self.sandbox.max_body * _DRAIN_FACTOR:
            return
        while remaining > 0:
            chunk = self.rfile.read(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)

    def hang_up(self, reset: bool) -> None:
        """Close the socket without answering: RST when ``reset``, else FIN."""
        self.close_connection = True
        try:
            if reset:
                # Linger 0 turns close() into an RST. rfile holds a reference that would
                # otherwise keep the socket open past close().
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.rfile.close()
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def write_response(
        self, response: SandboxResponse, head_only: bool, stopping: threading.Event
    ) -> None:
        """Write status, headers and body, honouring ``response.delivery``."""
        delivery = response.delivery
        length = len(response.body) if response.stream is None else response.stream_length
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if delivery.declare_length and length is not None:
            self.send_header("Content-Length", str(length))
        elif not head_only:
            self.close_connection = True
        if delivery.send_bytes is not None:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if head_only:
            return
        chunks: Iterable[bytes] = (response.body,) if response.stream is None else response.stream
        budget = delivery.send_bytes
        first = True
        for chunk in _rechunk(chunks, delivery.chunk_size):
            if budget is not None:
                chunk = chunk[:budget]
                budget -= len(chunk)
            if (
                not first
                and delivery.chunk_interval_s > 0
                and stopping.wait(delivery.chunk_interval_s)
            ):
                self.hang_up(reset=False)
                return
            if stopping.is_set():
                self.hang_up(reset=False)
                return
            first = False
            if chunk:
                self.wfile.write(chunk)
            if budget == 0:
                break
        if delivery.send_bytes is not None:
            # Close now so the client sees the short body at once, not at idle timeout.
            self.hang_up(reset=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The request line carries signed-URL query strings: log the path only.
        logger.debug(
            "sandbox %s: %s %s -> %s",
            self.sandbox.name,
            self.command,
            urlsplit(self.path).path,
            code,
        )

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s: %s", self.sandbox.name, format % args)


def _rechunk(chunks: Iterable[bytes], size: int | None) -> Iterator[bytes]:
    """Re-cut ``chunks`` into pieces of ``size`` bytes (a drip); None keeps them as is."""
    if size is None or size <= 0:
        yield from chunks
        return
    for chunk in chunks:
        for start in range(0, len(chunk), size):
            yield chunk[start : start + size]


def _make_handler_class(server: SandboxServer) -> type[_Connection]:
    class _Bound(_Connection):
        sandbox = server
        # StreamRequestHandler applies it to the socket: idle keep-alive connections close.
        timeout = server.idle_timeout_s

    return _Bound


class _Httpd(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers its connections so stop() can cut them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler_class: type[BaseHTTPRequestHandler]
    ) -> None:
        self._live: dict[socket.socket, threading.Thread] = {}
        self._live_lock = threading.Lock()
        super().__init__(address, handler_class)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs on the serve thread: one daemon thread per connection, tracked for stop().
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"{threading.current_thread().name}-conn",
            daemon=True,
        )
        with self._live_lock:
            self._live[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(request, None)

    def cut_connections(self) -> list[threading.Thread]:
        """Shut down every open connection socket; return their threads to join."""
        with self._live_lock:
            live = list(self._live.items())
        for sock, _ in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in live]
