"""TTAPI Producer: songs with the FUZZ / Lyria models, lyrics, and edits of a take.

providers.md §1 and seed 002. Auth is one header, ``TT-API-KEY``. Every
operation but lyrics and generate-video answers with a job id, polled with
``GET /producer/v1/fetch?jobId=…``. The operations and their fields live in
``ttapi_spec`` (re-exported here as ``SPEC``); the answer readers in ``ttapi_parse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.core.errors import (
    EngineError,
    FieldProblem,
    RequestInvalidError,
)
from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.engines import ttapi_parse as parse
from studio.engines.adapter import Answer, ApiRequest, EngineAdapter, SubmitResult
from studio.engines.answers import api_key, unexpected
from studio.engines.catalog import TTAPI
from studio.engines.ttapi_spec import (
    DEFAULT_MODEL,
    FUZZ_MODELS,
    MUSIC_MODELS,
    PATH_PREFIX,
    SPEC,
)

__all__ = [
    "AUTH_HEADER",
    "DEFAULT_MODEL",
    "FETCH_PATH",
    "FUZZ_MODELS",
    "MUSIC_MODELS",
    "SPEC",
    "TtapiAdapter",
]

AUTH_HEADER = "TT-API-KEY"
FETCH_PATH = f"{PATH_PREFIX}/fetch"


class TtapiAdapter(EngineAdapter):
    """TTAPI Producer's protocol: pure request building and answer reading."""

    spec = SPEC

    # ------------------------------------------------------------------ requests

    def auth_headers(self, credentials: Mapping[str, str], now: float) -> dict[str, str]:
        """``TT-API-KEY: <api_key>``; the key never expires, so ``now`` is unused.

        Raises:
            AuthenticationError: no ``api_key`` is set, or it cannot be a header value.
        """
        return {AUTH_HEADER: api_key(TTAPI, credentials)}

    def build_submit(
        self, operation_id: str, params: Mapping[str, Any], *, client_key: str
    ) -> ApiRequest:
        """Validate ``params`` and build the call; unset fields are left out.

        ``client_key`` is unused: TTAPI has no field for a caller's own id.

        Raises:
            RequestInvalidError: a field breaks the spec (each problem names it).
            KeyError: ``operation_id`` is not a TTAPI operation.
        """
        op = self.operation(operation_id)
        body = op.validate(params)
        if op.method.upper() == "GET":
            query = {name: parse.ident(value) or str(value) for name, value in body.items()}
            return ApiRequest(method="GET", path=op.path, query=query)
        return ApiRequest(method=op.method.upper(), path=op.path, json=body)

    def build_poll(self, operation_id: str, remote_id: str) -> ApiRequest:
        """``GET /producer/v1/fetch?jobId=…`` (free) for any operation's job."""
        if not remote_id or not remote_id.strip():
            raise RequestInvalidError(
                self.operation("fetch").label, [FieldProblem("jobId", "is required")]
            )
        return ApiRequest(method="GET", path=FETCH_PATH, query={"jobId": remote_id.strip()})

    # ------------------------------------------------------------------ answers

    def error_for(self, answer: Answer) -> EngineError | None:
        """HTTP errors, refusal envelopes, and 2xx bodies that are not JSON objects."""
        return parse.error_for(answer)

    def parse_submit(self, operation_id: str, answer: Answer) -> SubmitResult:
        """The job id, or the whole result for lyrics and generate-video.

        Raises:
            EngineError: the answer is an error, or holds no job id or result.
        """
        error = self.error_for(answer)
        if error is not None:
            raise error
        body: Mapping[str, Any] = answer.body  # error_for guarantees an object
        if operation_id == "fetch":
            status = self.parse_poll(operation_id, answer)
            return SubmitResult(remote_id=status.remote_id, status=status)
        data = body.get("data")
        data = data if isinstance(data, Mapping) else {}
        remote_id = parse.job_id(body)
        if operation_id == "lyrics":
            lyrics = parse.text(data.get("lyrics"))
            if lyrics is not None:
                take = TakeOutput(
                    title=parse.text(data.get("title")), lyrics=lyrics, raw=dict(data)
                )
                return SubmitResult(remote_id, self._done(remote_id, body, take))
        elif operation_id == "generate-video":
            video = parse.url(data.get("videoUrl"))
            if video is not None:
                take = TakeOutput(video_url=video, raw=dict(data))
                return SubmitResult(remote_id, self._done(remote_id, body, take))
        if remote_id is None:
            raise self._unexpected(answer, "the answer holds no job id")
        # A synchronous call that answered with a job id only: poll it like the rest.
        return SubmitResult(remote_id=remote_id)

    def parse_poll(self, operation_id: str, answer: Answer) -> RemoteStatus:
        """A fetch body as a RemoteStatus; unknown status words give UNKNOWN.

        Raises:
            EngineError: the answer is an HTTP error, a refusal, or not a JSON object.
        """
        error = self.error_for(answer)
        if error is not None:
            raise error
        body: Mapping[str, Any] = answer.body
        raw_data = body.get("data")
        data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
        word = body.get("status")
        engine_status = word if isinstance(word, str) else None
        # Case-insensitive: "success" is the same word; anything else means keep polling.
        state = parse.STATES.get(parse.status_word(body), RemoteState.UNKNOWN)
        fraction = parse.progress(data.get("progress", body.get("progress")))
        if state is RemoteState.SUCCEEDED and fraction is None:
            fraction = 1.0
        status = RemoteStatus(
            state=state,
            remote_id=parse.job_id(body),
            progress=fraction,
            engine_status=engine_status,
            engine_message=parse.text(body.get("message")),
            cost=parse.ident(data.get("quota")),
            raw=body,
        )
        # Outputs are read in every state: a queued job already names its musicIds.
        status.outputs = parse.takes(self._action(operation_id, data), data)
        return status

    # ------------------------------------------------------------------ helpers

    def _action(self, operation_id: str, data: Mapping[str, Any]) -> str | None:
        """What the job was: the operation asked about, else the body's ``action``."""
        if operation_id != "fetch" and any(op.id == operation_id for op in SPEC.operations):
            return operation_id
        action = parse.text(data.get("action"))
        return action.strip().lower() if action else None

    @staticmethod
    def _done(remote_id: str | None, body: Mapping[str, Any], take: TakeOutput) -> RemoteStatus:
        word = body.get("status")
        return RemoteStatus(
            state=RemoteState.SUCCEEDED,
            remote_id=remote_id,
            progress=1.0,
            engine_status=word if isinstance(word, str) else None,
            engine_message=parse.text(body.get("message")),
            outputs=[take],
            raw=body,
        )

    @staticmethod
    def _unexpected(answer: Answer, detail: str) -> EngineError:
        return unexpected(
            TTAPI, detail, answer, code=str(answer.status), raw=parse.cap_raw(answer)
        )
