"""Routing each engine to its vendor or the offline sandbox, and a job end to end."""

from __future__ import annotations

import asyncio

import pytest

from studio.core.errors import AuthenticationError
from studio.core.remote import RemoteState
from studio.engines.connections import EngineConnections, Route
from studio.sandbox.app import SandboxConfig
from studio.secrets import CredentialStore
from studio.settings import Preferences
from tests.sandbox_support import run


@pytest.fixture
def connections():
    conns = EngineConnections(Preferences(), CredentialStore())
    yield conns
    conns.stop_sandbox()


def test_without_keys_or_sandbox_nothing_is_available(connections) -> None:
    assert set(connections.routes().values()) == {Route.UNAVAILABLE}
    with pytest.raises(AuthenticationError, match="offline sandbox"):
        connections.credentials("ttapi")


def test_a_key_routes_to_the_vendor_and_the_rest_to_the_sandbox(connections) -> None:
    connections._credentials.set("mountsea", "api_key", "ms-0123456789abcdef")
    sandbox = connections.start_sandbox(SandboxConfig(task_seconds=0.2, song_seconds=4.0))
    assert connections.route("mountsea") is Route.VENDOR
    assert connections.base_url("mountsea") == "https://api.mountsea.ai"
    assert connections.credentials("mountsea") == {"api_key": "ms-0123456789abcdef"}
    assert connections.route("kling") is Route.SANDBOX
    assert connections.base_url("kling") == sandbox.base_url("kling")
    assert set(connections.credentials("kling")) == {"access_key", "secret_key"}
    connections.stop_sandbox()
    assert connections.route("kling") is Route.UNAVAILABLE


def test_a_sandbox_job_runs_end_to_end_through_the_connections(connections) -> None:
    connections.start_sandbox(SandboxConfig(task_seconds=0.2, song_seconds=4.0))

    async def generate():
        client = connections.client("kling")
        assert connections.client("kling") is client  # one shared client per engine
        try:
            submitted = await client.submit(
                "text-to-audio", {"prompt": "rain on a tin roof", "duration": 3.0}, client_key="k-1"
            )
            for _ in range(100):
                status = await client.poll("text-to-audio", submitted.remote_id)
                if status.state.is_final:
                    return status
                await asyncio.sleep(0.05)
            raise AssertionError("the sandbox job never finished")
        finally:
            await connections.aclose()

    status = run(generate())
    assert status.state is RemoteState.SUCCEEDED
    take = status.outputs[0]
    assert set(take.audio_urls) == {"mp3", "wav"}
    assert take.duration_s == pytest.approx(3.0)
