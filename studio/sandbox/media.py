"""Result files behind signed, expiring links, served the way S3/CloudFront serves them.

Qt-free. Engines put finished audio, stems, covers and videos here and hand out the URL.
A link carries ``X-Expires`` and an HMAC ``X-Signature``; once expired it answers 403 with
S3's "Request has expired" XML (fault D4), and :meth:`MediaStore.refresh` issues a fresh
link, as the engines' "download again" endpoints do. GET supports ``Range`` and
``If-Range`` (resume, D1/D3) and HEAD. The route is named "media" by default, so
``server.faults.add("media", truncated_body())`` and friends apply to downloads too.

Threads: ``put``/``refresh``/``expire_all`` from any thread; the GET handler runs on the
server's connection threads. All state is guarded by one lock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from xml.sax.saxutils import escape

from studio.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["MediaStore", "parse_range"]


@dataclass(frozen=True)
class _MediaObject:
    data: bytes
    content_type: str
    ext: str
    name_hint: str
    etag: str
    last_modified: float


class _Unsatisfiable(Exception):
    pass


_SPEC = re.compile(r"(\d*)-(\d*)")


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks for, or None to serve everything.

    Malformed, non-byte and multi-range requests are ignored (RFC 9110 allows it; S3 and
    most CDNs do the same for multi-range).

    Raises:
        _Unsatisfiable: the range starts past the end (the caller answers 416).
    """
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    found = _SPEC.fullmatch(spec.strip())
    if found is None or found.group(0) == "-":
        return None
    first, last = found.group(1), found.group(2)
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, min(end, size - 1)


def _s3_error(code: str, message: str, status: int, **extra: str) -> SandboxResponse:
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()
    return SandboxResponse(status, {"Content-Type": "application/xml"}, body)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _disposition(name_hint: str, ext: str) -> str:
    filename = name_hint if name_hint.lower().endswith(f".{ext.lower()}") else f"{name_hint}.{ext}"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


class MediaStore:
    """Objects served from ``server`` behind signed links that expire after ``link_ttl_s``.

    Args:
        server: the sandbox server whose routes serve the objects.
        link_ttl_s: lifetime of a link in seconds (assignable later as ``link_ttl_s``).
        secret: HMAC key; a random one when None.
        prefix: path prefix of the links.
        route_name: the route's name, for faults and the request log.
        clock: wall-clock seconds; tests may pass a fake to expire links without waiting.
    """

    def __init__(
        self,
        server: SandboxServer,
        link_ttl_s: float = 3600.0,
        secret: bytes | str | None = None,
        *,
        prefix: str = "/media",
        route_name: str = "media",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.link_ttl_s = link_ttl_s
        raw = secret if secret is not None else secrets.token_bytes(32)
        self._secret = raw.encode() if isinstance(raw, str) else raw
        self._prefix = prefix.rstrip("/")
        self._clock = clock
        self._objects: dict[str, _MediaObject] = {}
        self._issued: set[str] = set()
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        server.route("GET", self._prefix + "/{file}", self._serve, name=route_name)

    # -- API (any thread) ------------------------------------------------------------

    def put(self, data: bytes, content_type: str, ext: str, name_hint: str = "") -> str:
        """Store ``data`` and return a signed absolute URL for it. Any thread.

        Args:
            data: the file's bytes.
            content_type: sent as Content-Type.
            ext: the link's extension, without a dot ("mp3").
            name_hint: a title for Content-Disposition (any text, even a hostile one).
        """
        token = secrets.token_hex(12)
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        obj = _MediaObject(data, content_type, ext.lstrip("."), name_hint, etag, self._clock())
        with self._lock:
            self._objects[token] = obj
        return self._sign(token, obj.ext)

    def refresh(self, url: str) -> str:
        """A fresh link to the object behind ``url`` (expired or not). Any thread.

        Raises:
            KeyError: ``url`` is not one of this store's objects.
        """
        token, _ = self._parse(url)
        with self._lock:
            obj = self._objects[token]
        return self._sign(token, obj.ext)

    def expire_all(self) -> None:
        """Make every link issued so far answer "Request has expired". Any thread."""
        with self._lock:
            self._revoked |= self._issued

    def expire(self, url: str) -> None:
        """Make one link answer "Request has expired". Any thread."""
        signature = dict(_query(url)).get("X-Signature", "")
        with self._lock:
            self._revoked.add(signature)

    def data_for(self, url: str) -> bytes:
        """The bytes behind ``url`` (for tests; any thread). Raises KeyError when unknown."""
        token, _ = self._parse(url)
        with self._lock:
            return self._objects[token].data

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    # -- internals ---------------------------------------------------------------------

    def _signature(self, file: str, expires: str, nonce: str) -> str:
        message = f"{self._prefix}/{file}\n{expires}\n{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _sign(self, token: str, ext: str) -> str:
        file = f"{token}.{ext}"
        expires = str(math.ceil(self._clock() + self.link_ttl_s))
        # The nonce keeps two links issued in the same second distinct, so expiring
        # one never expires its refreshed successor.
        nonce = secrets.token_hex(4)
        signature = self._signature(file, expires, nonce)
        with self._lock:
            self._issued.add(signature)
        query = urlencode({"X-Expires": expires, "X-Nonce": nonce, "X-Signature": signature})
        return f"{self.server.base_url}{self._prefix}/{file}?{query}"

    def _parse(self, url: str) -> tuple[str, str]:
        path = urlsplit(url).path
        if not path.startswith(self._prefix + "/"):
            raise KeyError(url)
        token, _, ext = path[len(self._prefix) + 1 :].rpartition(".")
        return token, ext

    def _serve(self, request: SandboxRequest) -> SandboxResponse:
        """GET/HEAD handler; runs on a connection thread."""
        file = request.params["file"]
        expires = request.query.get("X-Expires")
        signature = request.query.get("X-Signature")
        if expires is None or signature is None:
            return _s3_error(
                "AccessDenied",
                "Query-string authentication requires the X-Signature and X-Expires parameters",
                403,
            )
        expected = self._signature(file, expires, request.query.get("X-Nonce", ""))
        if not hmac.compare_digest(expected, signature):
            return _s3_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                403,
            )
        now = self._clock()
        with self._lock:
            revoked = signature in self._revoked
            obj = self._objects.get(file.rpartition(".")[0])
        if revoked or not expires.isdigit() or now > int(expires):
            shown = _iso(int(expires)) if expires.isdigit() else expires
            return _s3_error(
                "AccessDenied", "Request has expired", 403, Expires=shown, ServerTime=_iso(now)
            )
        if obj is None:
            return _s3_error("NoSuchKey", "The specified key does not exist.", 404)
        return _ranged(request, obj)


def _ranged(request: SandboxRequest, obj: _MediaObject) -> SandboxResponse:
    """The full object, a 206 slice or a 416, following Range and If-Range."""
    size = len(obj.data)
    headers = {
        "Content-Type": obj.content_type,
        "ETag": obj.etag,
        "Last-Modified": formatdate(obj.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(obj.name_hint or "media", obj.ext),
    }
    wanted = request.headers.get("Range")
    if wanted is None or not _if_range_holds(request.headers.get("If-Range"), obj):
        return SandboxResponse(200, headers, obj.data)
    try:
        span = parse_range(wanted, size)
    except _Unsatisfiable:
        error = _s3_error("InvalidRange", "The requested range is not satisfiable", 416)
        error.headers["Content-Range"] = f"bytes */{size}"
        return error
    if span is None:
        return SandboxResponse(200, headers, obj.data)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return SandboxResponse(206, headers, obj.data[start : end + 1])


def _if_range_holds(value: str | None, obj: _MediaObject) -> bool:
    """True when there is no If-Range, or it names the current object (ETag or date)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        # If-Range needs a strong match; a weak tag never matches.
        return value == obj.etag
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return False
    return int(when) == int(obj.last_modified)


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)
