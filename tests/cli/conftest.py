"""Fixtures of the CLI tests: a sandbox in the test process that outlives every command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio.sandbox.app import Sandbox, SandboxConfig


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """The four offline engines on loopback, fast jobs, long-lived links."""
    with Sandbox(SandboxConfig(task_seconds=0.4, link_ttl_s=600.0, song_seconds=6.0)) as running:
        yield running
