"""An engine's adapter joined to the transport: submit, poll, look up, list.

Runs on the asyncio loop (qasync's in the GUI, a plain loop in the CLI and
tests); never touches Qt. The adapter stays pure; this is where its requests
are sent (studio/net) and answers are decoded for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from studio.core.errors import (
    AuthenticationError,
    EngineError,
    EngineValidationError,
    NotFoundError,
    PermissionDeniedError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteStatus
from studio.engines.adapter import Answer, ApiRequest, EngineAdapter, SubmitResult
from studio.logs import redact, register_secret
from studio.net.client import make_api_client, send
from studio.net.errors import ResponseTooLargeError, RetriesExhaustedError
from studio.net.retry import Backoff

# Engines answer with small JSON documents; anything bigger is not an answer (faults J8).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
# What of a non-JSON body is kept with the task (an HTML error page, say).
RAW_TEXT_LIMIT = 64 * 1024

Credentials = Callable[[], Mapping[str, str]]
# The job id a key check asks for; no engine has it, so "not found" means "key accepted".
KEY_CHECK_JOB_ID = "studio-key-check"


class EngineClient:
    """Sends one engine's requests with its credentials, read fresh for every call.

    Args:
        adapter: the engine's protocol.
        base_url: where the engine (or the sandbox) lives.
        credentials: returns the credential fields ("api_key", …) when called;
            read on every call so a key changed in Settings applies at once.
        backoff: retry policy for calls that may be retried (see studio/net).
        transport: a custom httpx transport (tests).
        clock: unix time, for signing tokens (tests pass a fake).
        timeout: connect/read/write/pool timeouts (default: studio/net's).
    """

    def __init__(
        self,
        adapter: EngineAdapter,
        base_url: str,
        credentials: Credentials,
        *,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self.adapter = adapter
        self.base_url = base_url
        self._credentials = credentials
        self._backoff = backoff or Backoff()
        self._clock = clock
        # No client-wide auth header: Kling's token changes every ~25 minutes.
        self._http = make_api_client(base_url, transport=transport, timeout=timeout)

    @property
    def engine_id(self) -> str:
        return self.adapter.engine_id

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(
        self, operation_id: str, params: Mapping[str, Any], *, client_key: str
    ) -> SubmitResult:
        """Validate and send a job. Never resent once it may have reached the engine.

        Raises:
            RequestInvalidError: the parameters break the engine's rules (nothing sent).
            OutcomeUnknownError: the request may have arrived; reconcile, do not resend.
            EngineError: the engine refused it (the subclass says why).
        """
        request = self.adapter.build_submit(operation_id, params, client_key=client_key)
        answer = await self._call(request)
        return self.adapter.parse_submit(operation_id, answer)

    async def poll(self, operation_id: str, remote_id: str) -> RemoteStatus:
        """Ask for a job's state (retried with backoff on 429/5xx and timeouts)."""
        answer = await self._call(self.adapter.build_poll(operation_id, remote_id))
        return self.adapter.parse_poll(operation_id, answer)

    async def list_recent(self, page: int, page_size: int) -> list[RemoteStatus]:
        """Refresh many jobs in one call where the engine can (Kling); else []."""
        request = self.adapter.build_list(page, page_size)
        if request is None:
            return []
        return self.adapter.parse_list(await self._call(request))

    async def lookup(self, client_key: str) -> list[RemoteStatus]:
        """Recent jobs to search for ``client_key`` (Kling); [] when the engine has no lookup."""
        request = self.adapter.build_lookup(client_key)
        if request is None:
            return []
        return self.adapter.parse_list(await self._call(request))

    async def check_credentials(self) -> None:
        """Make a harmless authenticated call (a free read) to see whether the key works.

        A "not found" answer means the key was accepted: the probe asks for a job
        that does not exist. Raises AuthenticationError or PermissionDeniedError
        when the engine refuses the key, transport errors when it cannot be reached.
        """
        request = self.adapter.build_list(1, 1)
        if request is None:
            operation = self.adapter.spec.operations[0].id
            request = self.adapter.build_poll(operation, KEY_CHECK_JOB_ID)
        try:
            await self._call(request)
        except (AuthenticationError, PermissionDeniedError):
            raise
        except EngineError as exc:
            if not isinstance(exc, NotFoundError | EngineValidationError):
                raise

    async def _call(self, request: ApiRequest) -> Answer:
        answer = await self._send(request)
        error = self.adapter.error_for(answer)
        if isinstance(error, AuthenticationError) and self._renew_token():
            # A refused token means nothing was accepted, so one retry with a fresh
            # token cannot create a second job.
            answer = await self._send(request)
            error = self.adapter.error_for(answer)
        if error is not None:
            raise error
        return answer

    def _renew_token(self) -> bool:
        """Drop cached signed tokens (Kling) so the next call signs a new one."""
        invalidate = getattr(self.adapter, "invalidate_tokens", None)
        if not callable(invalidate):
            return False
        invalidate()
        return True

    async def _send(self, request: ApiRequest) -> Answer:
        headers = self.adapter.auth_headers(self._credentials(), self._clock())
        for value in headers.values():
            register_secret(value)
        content = None
        if request.json is not None:
            content = json.dumps(request.json, ensure_ascii=False).encode()
            headers = {**headers, "Content-Type": "application/json"}
        http_request = self._http.build_request(
            request.method,
            request.path,
            params=request.query or None,
            content=content,
            headers=headers,
        )
        try:
            response = await send(
                self._http,
                http_request,
                idempotent=request.idempotent,
                backoff=self._backoff,
                max_body=MAX_ANSWER_BYTES,
            )
        except RetriesExhaustedError as exc:
            response = exc.response  # the last 429/5xx: the adapter names it
        except ResponseTooLargeError as exc:
            raise UnexpectedAnswerError(
                self.engine_id,
                f"an answer over {MAX_ANSWER_BYTES // 1024} KiB",
                engine_name=self.adapter.spec.info.name,
                http_status=exc.status_code,
                raw=redact(exc.head[:RAW_TEXT_LIMIT].decode("utf-8", "replace")),
            ) from exc
        return decode_answer(response)


def decode_answer(response: httpx.Response) -> Answer:
    """Decode a body as JSON when it is JSON; otherwise keep capped text for the library."""
    headers = {key.lower(): value for key, value in response.headers.items()}
    try:
        return Answer(response.status_code, json.loads(response.content), headers, True)
    except ValueError:
        text = response.content[:RAW_TEXT_LIMIT].decode("utf-8", "replace")
        return Answer(response.status_code, text, headers, False)

