"""Faults the tests inject into a sandbox server, per route, to play faults.md's J, P, D rows.

Qt-free. A test arms a fault with ``server.faults.add(route, fault, times)``; the next
matching request(s) suffer it. Rules are tried in the order they were added and the
first one that matches and still has uses left fires, so a sequence is written as
several rules::

    server.faults.add("create", status(429, headers={"Retry-After": "2"}))  # 1st POST
    server.faults.add("create", status(503), times=2)                      # 2nd, 3rd
    # 4th and later: the engine answers normally

To apply several faults to one request, arm ``combine(delay_after(2), reset_after())``.

Threads: ``add``/``clear``/counters may be called from any thread; ``take`` and every
fault hook run on the server's connection thread handling the request. Hooks that sleep
wait on the server's ``stopping`` event, so ``server.stop()`` never waits for them.
"""

from __future__ import annotations

import http
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from studio.sandbox.server import (
    DropConnection,
    SandboxRequest,
    SandboxResponse,
    compile_pattern,
)

__all__ = [
    "DELETE",
    "Fault",
    "FaultInjector",
    "FaultRule",
    "combine",
    "deep_merge",
    "delay_after",
    "delay_before",
    "html_error",
    "huge_body",
    "ignore_range",
    "malformed_json",
    "override_json",
    "reset_after",
    "reset_before",
    "slow_body",
    "status",
    "truncated_body",
    "wrong_content_range",
]


class Fault:
    """Base of every fault: three hooks around the handler, all no-ops by default.

    Subclasses set ``name``. Hooks run on the connection thread; ``stopping`` is the
    server's stop event (sleep with ``stopping.wait(seconds)``, which returns True when
    the server is stopping).
    """

    name: ClassVar[str] = "fault"

    @property
    def kind(self) -> str:
        """The label recorded in the request log and used by the counters."""
        return self.name

    def on_arrival(self, stopping: threading.Event) -> None:
        """Before the body is read. May sleep, or raise DropConnection to hang up."""

    def before(self, request: SandboxRequest, stopping: threading.Event) -> SandboxResponse | None:
        """Before the handler. A response returned here is sent instead of running it."""
        return None

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        """After the handler (or the ``before`` answer): edit or replace the response."""
        return response


def _body_bytes(body: bytes | str | dict[str, Any] | list[Any] | None, code: int) -> bytes:
    if body is None:
        try:
            phrase = http.HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        return json.dumps({"error": phrase, "status": code}).encode()
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _content_type(body: bytes | str | dict[str, Any] | list[Any] | None) -> str:
    return "text/plain; charset=utf-8" if isinstance(body, bytes | str) else "application/json"


class _Replacing(Fault):
    """A fault that answers instead of the handler, or after it when ``run_handler``."""

    run_handler: bool = False

    def make_response(self) -> SandboxResponse:
        raise NotImplementedError

    def before(self, request: SandboxRequest, stopping: threading.Event) -> SandboxResponse | None:
        return None if self.run_handler else self.make_response()

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        return self.make_response() if self.run_handler else response


@dataclass(frozen=True)
class StatusFault(_Replacing):
    """Answer ``code`` with ``body`` and ``headers``; see :func:`status`."""

    name: ClassVar[str] = "status"
    code: int
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    run_handler: bool = False

    def make_response(self) -> SandboxResponse:
        headers = {"Content-Type": _content_type(self.body), **self.headers}
        return SandboxResponse(self.code, headers, _body_bytes(self.body, self.code))


def status(
    code: int,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    run_handler: bool = False,
) -> StatusFault:
    """Answer with an arbitrary status: 429 + Retry-After, 499, 5xx, Kling 1302/1303...

    Args:
        code: any status code, including non-standard ones (499).
        body: bytes/str sent as is (text/plain unless ``headers`` say otherwise),
            a dict/list sent as JSON; None sends ``{"error": <reason>, "status": code}``.
        headers: extra headers, e.g. ``{"Retry-After": "3"}`` (seconds, HTTP date or
            garbage: the string goes out untouched).
        run_handler: run the engine handler first (the job exists) and discard its answer.
    """
    return StatusFault(code, body, dict(headers or {}), run_handler)


_HTML = """<!DOCTYPE html>
<html><head><title>{code} {phrase}</title></head>
<body><center><h1>{code} {phrase}</h1></center><hr><center>nginx</center></body></html>
"""


@dataclass(frozen=True)
class HtmlErrorFault(_Replacing):
    """A proxy's HTML error page; see :func:`html_error`."""

    name: ClassVar[str] = "html_error"
    code: int = 502
    run_handler: bool = False

    def make_response(self) -> SandboxResponse:
        try:
            phrase = http.HTTPStatus(self.code).phrase
        except ValueError:
            phrase = "Error"
        page = _HTML.format(code=self.code, phrase=phrase).encode()
        return SandboxResponse(self.code, {"Content-Type": "text/html; charset=utf-8"}, page)


def html_error(code: int = 502, *, run_handler: bool = False) -> HtmlErrorFault:
    """Answer ``code`` with an nginx-style HTML page (a gateway in front of the engine)."""
    return HtmlErrorFault(code, run_handler)


@dataclass(frozen=True)
class MalformedJsonFault(_Replacing):
    """JSON that stops mid-string; see :func:`malformed_json`."""

    name: ClassVar[str] = "malformed_json"
    body: bytes = b'{"status": "SUCC'
    code: int = 200
    run_handler: bool = False

    def make_response(self) -> SandboxResponse:
        return SandboxResponse(self.code, {"Content-Type": "application/json"}, self.body)


def malformed_json(
    body: bytes = b'{"status": "SUCC', code: int = 200, *, run_handler: bool = False
) -> MalformedJsonFault:
    """Answer 200 ``application/json`` with a body that is not JSON (correct length)."""
    return MalformedJsonFault(body, code, run_handler)


@dataclass(frozen=True)
class TruncatedBodyFault(Fault):
    """Send part of the body, then close; see :func:`truncated_body`."""

    name: ClassVar[str] = "truncated_body"
    at: int | None = None
    fraction: float = 0.5
    declare_length: bool = True

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        total = len(response.body) if response.stream is None else (response.stream_length or 0)
        keep = self.at if self.at is not None else int(total * self.fraction)
        delivery = replace(
            response.delivery, send_bytes=max(0, keep), declare_length=self.declare_length
        )
        return replace(response, delivery=delivery)


def truncated_body(
    at: int | None = None, fraction: float = 0.5, *, declare_length: bool = True
) -> TruncatedBodyFault:
    """Cut the connection after ``at`` body bytes (default: ``fraction`` of the body).

    With ``declare_length`` the full Content-Length is announced (fault D1); without it
    no length is sent and the close looks like a normal end of body (fault D2).
    """
    return TruncatedBodyFault(at, fraction, declare_length)


@dataclass(frozen=True)
class SlowBodyFault(Fault):
    """Drip the body; see :func:`slow_body`."""

    name: ClassVar[str] = "slow_body"
    bytes_per_chunk: int = 1
    interval_s: float = 1.0

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        delivery = replace(
            response.delivery, chunk_size=self.bytes_per_chunk, chunk_interval_s=self.interval_s
        )
        return replace(response, delivery=delivery)


def slow_body(bytes_per_chunk: int = 1, interval_s: float = 1.0) -> SlowBodyFault:
    """Send headers at once, then ``bytes_per_chunk`` bytes every ``interval_s`` (fault D7)."""
    if bytes_per_chunk <= 0:
        raise ValueError("bytes_per_chunk must be positive")
    return SlowBodyFault(bytes_per_chunk, interval_s)


@dataclass(frozen=True)
class ResetBeforeFault(Fault):
    """Hang up before reading the body; see :func:`reset_before`."""

    name: ClassVar[str] = "reset_before"

    def on_arrival(self, stopping: threading.Event) -> None:
        raise DropConnection(reset=True)


def reset_before() -> ResetBeforeFault:
    """Reset the connection before reading the body or running the handler.

    The server provably did not process the request, but the client may already have
    sent all of it: to the client this is indistinguishable from :func:`reset_after`.
    """
    return ResetBeforeFault()


@dataclass(frozen=True)
class ResetAfterFault(Fault):
    """Run the handler, then hang up; see :func:`reset_after`."""

    name: ClassVar[str] = "reset_after"

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        return replace(response, delivery=replace(response.delivery, drop=True))


def reset_after() -> ResetAfterFault:
    """Run the handler (the job is created), then reset the connection unanswered (J2)."""
    return ResetAfterFault()


@dataclass(frozen=True)
class DelayBeforeFault(Fault):
    """Sleep before the request is handled; see :func:`delay_before`."""

    name: ClassVar[str] = "delay_before"
    seconds: float = 1.0
    drop: bool = False

    def on_arrival(self, stopping: threading.Event) -> None:
        if stopping.wait(self.seconds) or self.drop:
            raise DropConnection(reset=False)


def delay_before(seconds: float, *, drop: bool = False) -> DelayBeforeFault:
    """Wait ``seconds`` before reading the request and running the handler.

    A client read timeout shorter than ``seconds`` fires while no job exists. The
    request is then still handled (a slow queue) unless ``drop``, which closes the
    connection instead, so the job never exists.
    """
    return DelayBeforeFault(seconds, drop)


@dataclass(frozen=True)
class DelayAfterFault(Fault):
    """Sleep between the handler and the answer; see :func:`delay_after`."""

    name: ClassVar[str] = "delay_after"
    seconds: float = 1.0

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        delivery = replace(response.delivery, delay_s=response.delivery.delay_s + self.seconds)
        return replace(response, delivery=delivery)


def delay_after(seconds: float) -> DelayAfterFault:
    """Run the handler, then wait ``seconds`` before answering (read timeout, job exists)."""
    return DelayAfterFault(seconds)


def _junk(size: int) -> Iterator[bytes]:
    """``size`` bytes that start like a JSON document and never close it."""
    head = b'{"data": ['
    unit = b'{"id": "0000000000", "status": "processing", "junk": "xxxxxxxxxxxxxxxx"}, '
    block = unit * (64 * 1024 // len(unit))
    sent = 0
    piece = head
    while sent < size:
        piece = piece[: size - sent]
        yield piece
        sent += len(piece)
        piece = block


@dataclass(frozen=True)
class HugeBodyFault(Fault):
    """Stream a very large body; see :func:`huge_body`."""

    name: ClassVar[str] = "huge_body"
    size: int = 50 * 1024 * 1024
    code: int = 200
    content_type: str = "application/json"
    declare_length: bool = True

    def before(self, request: SandboxRequest, stopping: threading.Event) -> SandboxResponse:
        return SandboxResponse(
            self.code,
            {"Content-Type": self.content_type},
            stream=_junk(self.size),
            stream_length=self.size if self.declare_length else None,
        )


def huge_body(
    size: int = 50 * 1024 * 1024,
    code: int = 200,
    content_type: str = "application/json",
    *,
    declare_length: bool = True,
) -> HugeBodyFault:
    """Answer with ``size`` bytes of JSON-looking junk, streamed (server memory stays flat).

    Without ``declare_length`` there is no Content-Length: an endless-looking body (D6).
    """
    return HugeBodyFault(size, code, content_type, declare_length)


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()
"""Use as a value in :func:`override_json`'s patch to remove that key."""


def deep_merge(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` merged in; neither argument is modified.

    Dicts merge key by key (a :data:`DELETE` value removes the key); a dict patched onto a
    list is merged into each of its dict items (Kling's list endpoint, Mountsea's task
    arrays); anything else is replaced, so ``None`` sets JSON null.
    """
    if isinstance(patch, dict):
        if isinstance(target, list):
            return [deep_merge(item, patch) if isinstance(item, dict) else item for item in target]
        merged = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if value is DELETE:
                merged.pop(key, None)
            else:
                merged[key] = deep_merge(merged.get(key), value)
        return merged
    return patch


@dataclass(frozen=True)
class OverrideJsonFault(Fault):
    """Patch the handler's JSON answer; see :func:`override_json`."""

    name: ClassVar[str] = "override_json"
    patch: dict[str, Any] = field(default_factory=dict)

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        try:
            document = json.loads(response.body)
        except ValueError:
            return response  # not JSON (or streamed): nothing to patch
        body = json.dumps(deep_merge(document, self.patch), ensure_ascii=False).encode("utf-8")
        return replace(response, body=body)


def override_json(patch: dict[str, Any]) -> OverrideJsonFault:
    """Deep-merge ``patch`` into the handler's JSON answer (e.g. an unknown status, P1).

    Example: ``override_json({"data": {"task_status": "paused"}})``.
    """
    return OverrideJsonFault(dict(patch))


@dataclass(frozen=True)
class IgnoreRangeFault(Fault):
    """Drop the request's Range; see :func:`ignore_range`."""

    name: ClassVar[str] = "ignore_range"

    def before(self, request: SandboxRequest, stopping: threading.Event) -> None:
        request.headers.pop("Range", None)
        request.headers.pop("If-Range", None)


def ignore_range() -> IgnoreRangeFault:
    """Serve as if no ``Range`` was asked: a full 200 to a resume request (fault D3)."""
    return IgnoreRangeFault()


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class WrongContentRangeFault(Fault):
    """Lie in Content-Range; see :func:`wrong_content_range`."""

    name: ClassVar[str] = "wrong_content_range"
    shift: int = 1

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        found = _CONTENT_RANGE.fullmatch(response.header("Content-Range") or "")
        if response.status != 206 or found is None:
            return response
        start, end = int(found.group(1)) + self.shift, int(found.group(2)) + self.shift
        edited = replace(response, headers=dict(response.headers))
        edited.set_header("Content-Range", f"bytes {start}-{end}/{found.group(3)}")
        return edited


def wrong_content_range(shift: int = 1) -> WrongContentRangeFault:
    """On a 206, announce a range ``shift`` bytes off the bytes actually sent (fault D3)."""
    return WrongContentRangeFault(shift)


@dataclass(frozen=True)
class CombinedFault(Fault):
    """Several faults on one request; see :func:`combine`."""

    parts: tuple[Fault, ...] = ()

    @property
    def kind(self) -> str:
        return "+".join(part.kind for part in self.parts)

    def on_arrival(self, stopping: threading.Event) -> None:
        for part in self.parts:
            part.on_arrival(stopping)

    def before(self, request: SandboxRequest, stopping: threading.Event) -> SandboxResponse | None:
        for part in self.parts:
            answer = part.before(request, stopping)
            if answer is not None:
                return answer
        return None

    def after(
        self, request: SandboxRequest, response: SandboxResponse, stopping: threading.Event
    ) -> SandboxResponse:
        for part in self.parts:
            response = part.after(request, response, stopping)
        return response


def combine(*faults: Fault) -> CombinedFault:
    """Apply ``faults`` in order to the same request (e.g. delay, then reset)."""
    return CombinedFault(tuple(faults))


@dataclass(eq=False)
class FaultRule:
    """One armed fault. Counters are updated under the injector's lock.

    Attributes:
        route: a route name, "*" for every request, or a path pattern ("/v1/{id}" or
            a regex starting with "^").
        fault: what happens.
        remaining: uses left; None is forever.
        method: only requests with this method, or any when None.
        fired: how many requests it has hit.
    """

    route: str
    fault: Fault
    remaining: int | None
    method: str | None = None
    fired: int = 0
    _pattern: re.Pattern[str] | None = None

    def matches(self, route_name: str | None, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.route == "*":
            return True
        if self._pattern is not None:
            return self._pattern.fullmatch(path) is not None
        return self.route == route_name


class FaultInjector:
    """The armed faults of one server (``server.faults``).

    Every method may be called from any thread (one lock guards the rules and their
    counters); :meth:`take` is called by the server on connection threads.

    Args:
        known_routes: returns the server's route names, to catch typos in ``add``.
    """

    def __init__(self, known_routes: Callable[[], Sequence[str]]) -> None:
        self._known_routes = known_routes
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(
        self, route: str, fault: Fault, times: int | None = 1, *, method: str | None = None
    ) -> FaultRule:
        """Arm ``fault`` for the next ``times`` matching requests (None: every one).

        Any thread.

        Args:
            route: a route name, "*" for all requests, or a path template/regex
                (a string starting with "/" or "^").
            fault: built with the functions of this module.
            times: how many requests it hits; None for all of them.
            method: restrict to one HTTP method.

        Raises:
            ValueError: unknown route name, or ``times`` < 1.
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for forever")
        pattern = compile_pattern(route) if route.startswith(("/", "^")) else None
        if pattern is None and route != "*" and route not in self._known_routes():
            raise ValueError(f"no route named {route!r}; known: {self._known_routes()}")
        rule = FaultRule(route, fault, times, method.upper() if method else None, 0, pattern)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, route_name: str | None, method: str, path: str) -> Fault | None:
        """The fault for this request, if any, consuming one use of its rule.

        Runs on the connection thread, once per request.
        """
        with self._lock:
            for rule in self._rules:
                if rule.remaining != 0 and rule.matches(route_name, method, path):
                    rule.fired += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
        return None

    def fired(self, route: str | None = None, kind: str | None = None) -> int:
        """How many requests the rules for ``route`` (and/or of ``kind``) have hit."""
        with self._lock:
            return sum(
                rule.fired
                for rule in self._rules
                if (route is None or rule.route == route)
                and (kind is None or rule.fault.kind == kind)
            )

    @property
    def rules(self) -> list[FaultRule]:
        """A snapshot of the armed rules, used-up ones included."""
        with self._lock:
            return list(self._rules)

    def pending(self) -> int:
        """Uses left over all finite rules (forever rules are not counted)."""
        with self._lock:
            return sum(rule.remaining or 0 for rule in self._rules)

    def remove(self, rule: FaultRule) -> None:
        """Disarm one rule (its counter stays readable on the object)."""
        with self._lock:
            self._rules = [armed for armed in self._rules if armed is not rule]

    def clear(self) -> None:
        """Disarm every rule and reset the counters."""
        with self._lock:
            self._rules.clear()
