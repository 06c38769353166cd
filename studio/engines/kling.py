"""Kling text-to-audio: sound effects of 3 to 10 seconds from a prompt.

Protocol: providers.md, section 3 (vendor page: tests/engines/seeds/kling_text_to_audio.md).

* Auth is ``Authorization: Bearer <JWT>`` signed from an AccessKey/SecretKey pair
  (studio/engines/jwt.py), or ``Bearer <api_key>`` for aggregators that resell
  the API with a ready key. The pair wins when both are configured.
* A create call carries our client key as ``external_task_id``, so a submit
  whose answer was lost can be found again: :meth:`KlingAdapter.build_lookup`
  lists recent tasks and :func:`find_by_client_key` picks ours out.
* The list endpoint refreshes up to 500 tasks in one call.
* Every status this adapter returns is a :class:`KlingStatus`, a
  ``RemoteStatus`` that also carries the task's ``external_task_id``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from studio.core.errors import (
    AuthenticationError,
    BillingError,
    ConcurrencyLimitError,
    ContentPolicyError,
    EngineError,
    EngineValidationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.engines.adapter import Answer, ApiRequest, EngineAdapter, SubmitResult
from studio.engines.answers import api_key, bearer, retry_after, safe_detail, unexpected
from studio.engines.catalog import KLING
from studio.engines.jwt import KlingTokenMinter
from studio.engines.spec import EngineSpec, FieldSpec, FieldType, OperationSpec

__all__ = [
    "KNOWN_CODES",
    "LIST_PAGE_MAX",
    "LIST_PAGE_SIZE_MAX",
    "LOOKUP_PAGE_SIZE",
    "SPEC",
    "IpNotAllowedError",
    "KlingAdapter",
    "KlingStatus",
    "TokenExpiredError",
    "find_by_client_key",
]

BASE_PATH = "/v1/audio/text-to-audio"
LIST_PAGE_MAX = 1000
LIST_PAGE_SIZE_MAX = 500
# A lookup follows a submit whose answer was lost, so our task is among the
# newest; 100 leaves room for a burst of later submits without a large answer.
LOOKUP_PAGE_SIZE = 100
# Engine text shown to the user or kept on an error is cut to this length.
_MESSAGE_MAX = 500
_RAW_TEXT_MAX = 4096
# Minters kept per adapter: one per key pair; the oldest is dropped past this
# (a user who swaps keys back and forth does not grow the cache forever).
_MINTERS_MAX = 4


# --------------------------------------------------------------------------- spec

CREATE = OperationSpec(
    id="text-to-audio",
    label="Sound effect",
    method="POST",
    path=BASE_PATH,
    fields=(
        FieldSpec(
            "prompt",
            "Prompt",
            FieldType.TEXT,
            required=True,
            max_length=200,
            help="Describe the sound, e.g. 'rain on a tin roof, distant thunder'.",
        ),
        FieldSpec(
            "duration",
            "Duration (seconds)",
            FieldType.NUMBER,
            required=True,
            default=5.0,
            minimum=3.0,
            maximum=10.0,
            step=0.1,
            help="Length of the sound effect, 3.0 to 10.0 seconds, one decimal.",
        ),
        # external_task_id is deliberately not a field: the adapter always sends
        # the studio's client key there, which is what makes recovery possible.
        FieldSpec(
            "callback_url",
            "Callback URL",
            FieldType.URL,
            help="Kling calls this address when the task changes state. Studio polls "
            "instead, so leave it empty unless you run your own receiver.",
            advanced=True,
        ),
    ),
    help="A sound effect of 3 to 10 seconds from a text prompt, as mp3 and wav.",
)

QUERY = OperationSpec(
    id="query",
    label="Look up a task",
    method="GET",
    path=BASE_PATH + "/{id}",
    fields=(
        FieldSpec(
            "id",
            "Task id",
            FieldType.STRING,
            required=True,
            help="Kling's task id (or the external task id it was created with).",
        ),
    ),
    # The answer is the task's state at once; nothing new starts on the server.
    synchronous=True,
    paid=False,
    help="Ask Kling for one task's state and results.",
)

SPEC = EngineSpec(info=KLING, operations=(CREATE, QUERY))

_STATES: dict[str, RemoteState] = {
    "submitted": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "succeed": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
}


# --------------------------------------------------------------------------- errors


class TokenExpiredError(AuthenticationError):
    """Kling code 1003/1004: the JWT is not valid yet or has expired.

    The key pair itself may be fine: renew the token once
    (:meth:`KlingAdapter.invalidate_tokens`) and repeat the call. Only when the
    fresh token is refused too is this shown; then the computer's clock is the
    likely culprit, which the message says.
    """

    summary = (
        "{engine} did not accept Studio's sign-in token (not yet valid or expired); "
        "check that this computer's date and time are right."
    )


class IpNotAllowedError(PermissionDeniedError):
    """Kling code 1304: the account only accepts calls from allow-listed IP addresses."""

    summary = (
        "Your {engine} account only accepts calls from allow-listed IP addresses; "
        "add this computer's address in the Kling console."
    )


_CODE_ERRORS: dict[int, type[EngineError]] = {
    1000: AuthenticationError,  # authentication failed
    1001: AuthenticationError,  # Authorization header empty
    1002: AuthenticationError,  # Authorization invalid
    1003: TokenExpiredError,  # token not yet valid
    1004: TokenExpiredError,  # token expired
    1100: BillingError,  # account problem
    1101: BillingError,  # account in arrears
    1102: BillingError,  # resource pack used up or expired
    1103: PermissionDeniedError,  # no permission for this model or API
    1200: EngineValidationError,  # invalid request
    1201: EngineValidationError,  # invalid parameter
    1202: NotFoundError,  # wrong method (the path does not exist as called)
    1203: NotFoundError,  # resource not found
    1300: ContentPolicyError,  # platform policy
    1301: ContentPolicyError,  # content safety
    1302: RateLimitError,  # rate limit
    1303: ConcurrencyLimitError,  # concurrency over the resource pack's limit
    1304: IpNotAllowedError,  # IP allow-list
    5000: ServerError,  # server error
    5001: ServerError,  # maintenance
    5002: ServerError,  # server timeout
}

#: Every code of providers.md's table, for the sandbox and tests.
KNOWN_CODES: tuple[int, ...] = tuple(_CODE_ERRORS)


def _error_for_http(status: int) -> type[EngineError]:
    """The error an HTTP status means when the engine's code does not say more."""
    if status == 401:
        return AuthenticationError
    if status == 402:
        return BillingError
    if status == 403:
        return PermissionDeniedError
    if status in (404, 410):
        return NotFoundError
    if status in (400, 422):
        return EngineValidationError
    if status == 429:
        return RateLimitError
    if status == 408 or status >= 500:
        return ServerError
    if 400 <= status < 500:
        return EngineError
    # 1xx/3xx: the transport follows no redirects, so these are not the API talking.
    return UnexpectedAnswerError


# --------------------------------------------------------------------------- status


@dataclass
class KlingStatus(RemoteStatus):
    """A ``RemoteStatus`` that also carries the task's ``external_task_id``.

    ``external_task_id`` is the studio client key the task was created with
    (``task_info.external_task_id``); :func:`find_by_client_key` matches on it.
    ``raw`` keeps the task's JSON as well, so statuses reloaded from the library
    as plain ``RemoteStatus`` can still be matched.
    """

    external_task_id: str | None = None


def _external_id_in(raw: Any) -> str | None:
    """``external_task_id`` from a task object, or from an envelope around one."""
    if isinstance(raw, Mapping) and isinstance(raw.get("data"), Mapping):
        raw = raw["data"]
    if not isinstance(raw, Mapping):
        return None
    info = raw.get("task_info")
    if not isinstance(info, Mapping):
        return None
    return _text(info.get("external_task_id"))


def find_by_client_key(statuses: Iterable[RemoteStatus], client_key: str) -> RemoteStatus | None:
    """The status of the task created with ``client_key``, or None if absent.

    Args:
        statuses: what :meth:`KlingAdapter.parse_list` returned for the lookup
            request (plain ``RemoteStatus`` objects are matched by their raw JSON).
        client_key: the key the studio sent as ``external_task_id``.
    """
    if not client_key:
        return None
    for status in statuses:
        external: str | None
        if isinstance(status, KlingStatus) and status.external_task_id is not None:
            external = status.external_task_id
        else:
            external = _external_id_in(status.raw)
        if external == client_key:
            return status
    return None


# --------------------------------------------------------------------------- reading helpers


def _text(value: Any) -> str | None:
    """A non-empty string from JSON text or a number; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        try:
            return str(value)
        except ValueError:  # an integer too long to print
            return None
    return None


def _seconds(value: Any) -> float | None:
    """A duration from Kling's string (or a number); None unless finite and >= 0."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, str):
            number = float(value.strip())
        elif isinstance(value, int | float):
            number = float(value)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _message(value: Any) -> str | None:
    """Engine text made safe to show: capped, and stripped of anything secret-looking."""
    if not isinstance(value, str) or not value.strip():
        return None
    return safe_detail(value, _MESSAGE_MAX)


def _code(value: Any) -> int | None:
    """The envelope's ``code`` as an int; None when absent.

    Raises:
        ValueError: present but not a whole number (number or numeric text).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("code is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError("code is not a whole number")
    if isinstance(value, str):
        # int() raises ValueError itself for text that is not a number.
        return int(value.strip())
    raise ValueError("code is not a number")


def _capped_raw(answer: Answer) -> Any:
    if isinstance(answer.body, str) and len(answer.body) > _RAW_TEXT_MAX:
        return answer.body[:_RAW_TEXT_MAX]
    if isinstance(answer.body, bytes):
        return answer.body[:_RAW_TEXT_MAX].decode("utf-8", "replace")
    return answer.body


def _take(item: Any) -> TakeOutput | None:
    """One entry of ``task_result.audios``; None when it holds no usable URL."""
    if not isinstance(item, Mapping):
        return None
    urls: dict[str, str] = {}
    for fmt in ("mp3", "wav"):
        url = item.get(f"url_{fmt}")
        if isinstance(url, str) and url.strip():
            urls[fmt] = url.strip()
    if not urls:
        return None
    duration = _seconds(item.get("duration_mp3"))
    if duration is None:
        duration = _seconds(item.get("duration_wav"))
    return TakeOutput(
        remote_id=_text(item.get("id")),
        audio_urls=urls,
        duration_s=duration,
        raw=dict(item),
    )


def _status_from_task(task: Mapping[str, Any], raw: Any) -> KlingStatus:
    """Normalise one task object (the ``data`` of a submit/poll, or a list item)."""
    word = task.get("task_status")
    engine_status = word if isinstance(word, str) else None
    state = _STATES.get((engine_status or "").strip().lower(), RemoteState.UNKNOWN)
    outputs: list[TakeOutput] = []
    result = task.get("task_result")
    if isinstance(result, Mapping) and isinstance(result.get("audios"), list):
        outputs = [take for take in map(_take, result["audios"]) if take is not None]
    return KlingStatus(
        state=state,
        remote_id=_text(task.get("task_id")),
        engine_status=engine_status,
        engine_message=_message(task.get("task_status_msg")),
        cost=_text(task.get("final_unit_deduction")),
        outputs=outputs,
        raw=raw,
        external_task_id=_external_id_in(task),
    )


# --------------------------------------------------------------------------- adapter

_E = TypeVar("_E", bound=EngineError)


class KlingAdapter(EngineAdapter):
    """Kling text-to-audio's protocol: pure request building and answer parsing.

    One instance per engine is expected; it caches one token minter per
    AccessKey/SecretKey pair so a JWT is reused until it nears expiry.
    """

    spec = SPEC

    def __init__(self) -> None:
        self._minters: dict[tuple[str, str], KlingTokenMinter] = {}
        self._lock = threading.Lock()

    def _error(self, cls: type[_E], detail: str | None, **extra: Any) -> _E:
        return cls(self.engine_id, detail, engine_name=self.spec.info.name, **extra)

    # ---------------------------------------------------------------- auth

    def auth_headers(self, credentials: Mapping[str, str], now: float) -> dict[str, str]:
        """``Authorization: Bearer …`` from the key pair (a JWT) or from a ready key.

        Args:
            credentials: may hold ``access_key`` + ``secret_key`` and/or ``api_key``.
            now: unix seconds; decides whether the cached JWT is still fresh.

        Raises:
            AuthenticationError: neither a complete pair nor an API key, naming
                what is missing; or an API key that cannot be sent in a header.
        """
        access = (credentials.get("access_key") or "").strip()
        secret = (credentials.get("secret_key") or "").strip()
        if access and secret:
            return bearer(self._minter(access, secret).token(now))
        if (credentials.get("api_key") or "").strip():
            return bearer(api_key(KLING, credentials))
        if access:
            detail = "the SecretKey is missing (or set an API key instead)"
        elif secret:
            detail = "the AccessKey is missing (or set an API key instead)"
        else:
            detail = "set an AccessKey and SecretKey, or an API key"
        raise self._error(AuthenticationError, detail)

    def _minter(self, access: str, secret: str) -> KlingTokenMinter:
        with self._lock:
            minter = self._minters.get((access, secret))
            if minter is None:
                if len(self._minters) >= _MINTERS_MAX:
                    del self._minters[next(iter(self._minters))]
                minter = KlingTokenMinter(access, secret)
                self._minters[(access, secret)] = minter
            return minter

    def invalidate_tokens(self) -> None:
        """Drop every cached JWT, e.g. after a :class:`TokenExpiredError`.

        The next :meth:`auth_headers` call mints a fresh token. Renew once per
        refusal: a second 1003/1004 with a fresh token means a wrong clock.
        """
        with self._lock:
            for minter in self._minters.values():
                minter.invalidate()

    # ---------------------------------------------------------------- requests

    def build_submit(
        self, operation_id: str, params: Mapping[str, Any], *, client_key: str
    ) -> ApiRequest:
        """Validate and build a create (POST) or query (GET) request.

        ``create`` sends ``client_key`` as ``external_task_id``; ``query`` ignores it.

        Raises:
            RequestInvalidError: a field breaks the declared limits.
            KeyError: an unknown operation.
            ValueError: an empty ``client_key`` for ``create``.
        """
        operation = self.operation(operation_id)
        body = operation.validate(params)
        if operation is QUERY:
            return ApiRequest("GET", f"{BASE_PATH}/{_segment(body['id'])}")
        if not client_key:
            raise ValueError("a client key is needed: it is sent as external_task_id")
        # Sent with one decimal: 3.0 + 0.1 * 3 is 3.3000000000000003 in binary,
        # and the engine allows one decimal place only.
        body["duration"] = round(float(body["duration"]), 1)
        body["external_task_id"] = client_key
        return ApiRequest(operation.method, operation.path, json=body)

    def build_poll(self, operation_id: str, remote_id: str) -> ApiRequest:
        """``GET /v1/audio/text-to-audio/{task_id}`` (for either operation)."""
        self.operation(operation_id)  # an unknown operation is a caller bug: KeyError
        if not remote_id:
            raise ValueError("a task id is needed to poll")
        return ApiRequest("GET", f"{BASE_PATH}/{_segment(remote_id)}")

    def build_lookup(self, client_key: str) -> ApiRequest:
        """The recent-tasks list; match the answer with :func:`find_by_client_key`.

        The single-task endpoint is documented to take an external id too, but
        not how the server tells the two kinds of id apart (providers.md), so
        recovery goes through the list.
        """
        return self.build_list(1, LOOKUP_PAGE_SIZE)

    def build_list(self, page: int, page_size: int) -> ApiRequest:
        """``GET /v1/audio/text-to-audio?pageNum=&pageSize=``.

        Raises:
            ValueError: ``page`` outside 1–1000 or ``page_size`` outside 1–500.
        """
        if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= LIST_PAGE_MAX:
            raise ValueError(f"page must be a whole number from 1 to {LIST_PAGE_MAX}")
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= LIST_PAGE_SIZE_MAX
        ):
            raise ValueError(f"page_size must be a whole number from 1 to {LIST_PAGE_SIZE_MAX}")
        return ApiRequest(
            "GET", BASE_PATH, query={"pageNum": str(page), "pageSize": str(page_size)}
        )

    # ---------------------------------------------------------------- answers

    def error_for(self, answer: Answer) -> EngineError | None:
        """The error an answer means, or None for a ``code: 0`` envelope with a 2xx status.

        Kling's own ``code`` decides when it is in providers.md's table, whatever
        the HTTP status; otherwise the HTTP status decides. Bodies that are not
        a JSON object give UnexpectedAnswerError (retryable when the status is
        429 or 5xx: a gateway's HTML page in front of a busy server).
        """
        status = answer.status
        ok = 200 <= status < 300
        # Delay-seconds only: an HTTP date is left to the transport (studio/net).
        wait = retry_after(answer, dates=False)
        body = answer.body
        if not answer.is_json or not isinstance(body, Mapping):
            kind = "not JSON" if not answer.is_json else "not a JSON object"
            error = self._error(
                UnexpectedAnswerError,
                f"HTTP {status}, {kind}",
                http_status=status,
                retry_after=wait,
                raw=_capped_raw(answer),
            )
            # Instance-level: the HTTP status says "try later" even though the
            # body is unreadable; the class default stays "do not retry".
            error.retryable = status == 429 or status >= 500
            return error
        message = _message(body.get("message"))
        try:
            code = _code(body.get("code"))
        except ValueError:
            return self._error(
                UnexpectedAnswerError,
                f"HTTP {status}, the answer's code is not a number",
                http_status=status,
                retry_after=wait,
                raw=body,
            )
        extra: dict[str, Any] = {
            "http_status": status,
            "code": None if code is None else str(code),
            "retry_after": wait,
            "raw": body,
        }
        if code is not None and code in _CODE_ERRORS:
            return self._error(_CODE_ERRORS[code], message, **extra)
        if code is None or code == 0:
            # Aggregators may leave the code out of a success; the parsers
            # still insist on finding the task in ``data``.
            return None if ok else self._error(_error_for_http(status), message, **extra)
        if ok:
            # A refusal we have no entry for, dressed as a success.
            detail = f"code {code}: {message}" if message else f"code {code}"
            return self._error(EngineError, detail, **extra)
        return self._error(_error_for_http(status), message, **extra)

    def _data(self, answer: Answer) -> Any:
        """The envelope's ``data`` after raising the error the answer means."""
        error = self.error_for(answer)
        if error is not None:
            raise error
        # error_for returns None only for a JSON object.
        body: Mapping[str, Any] = answer.body
        return body.get("data")

    def _unexpected(self, answer: Answer, detail: str) -> UnexpectedAnswerError:
        return unexpected(KLING, detail, answer, raw=_capped_raw(answer))

    def _task_status(self, answer: Answer) -> KlingStatus:
        data = self._data(answer)
        if not isinstance(data, Mapping):
            raise self._unexpected(answer, "the answer has no task in 'data'")
        return _status_from_task(data, answer.body)

    def parse_submit(self, operation_id: str, answer: Answer) -> SubmitResult:
        """The task id and initial status of a create, or the task a query found.

        Raises:
            EngineError: the error the answer means; UnexpectedAnswerError when
                it carries no task id.
        """
        self.operation(operation_id)
        status = self._task_status(answer)
        if status.remote_id is None:
            raise self._unexpected(answer, "the answer has no task_id")
        return SubmitResult(remote_id=status.remote_id, status=status)

    def parse_poll(self, operation_id: str, answer: Answer) -> KlingStatus:
        """The task's state and, once it succeeded, its audio takes.

        Raises:
            EngineError: the error the answer means (code 1203 → NotFoundError).
        """
        self.operation(operation_id)
        return self._task_status(answer)

    def parse_list(self, answer: Answer) -> list[RemoteStatus]:
        """Every task in a list answer that has a task id, as :class:`KlingStatus`.

        ``raw`` of each is that task's JSON (not the whole page), and
        ``external_task_id`` is set, for :func:`find_by_client_key`.
        """
        data = self._data(answer)
        if data is None:
            return []
        if not isinstance(data, list):
            raise self._unexpected(answer, "'data' of a task list is not a list")
        statuses: list[RemoteStatus] = []
        for task in data:
            if isinstance(task, Mapping):
                status = _status_from_task(task, dict(task))
                if status.remote_id is not None:
                    statuses.append(status)
        return statuses


def _segment(value: str) -> str:
    """A task id as one path segment: nothing in it can climb or add a query."""
    segment = quote(str(value).strip(), safe="")
    # quote() leaves dots alone, and "." or ".." would be resolved away as a
    # relative path, turning a poll into the list call or worse.
    return segment.replace(".", "%2E") if segment in (".", "..") else segment
