"""Where each engine's requests go, and with which credentials: the vendor or the sandbox.

Qt-free. An engine with a key in the credential store talks to its vendor (or
the base URL the user set). An engine without one talks to the offline sandbox
when the user has turned it on — demo audio, clearly labelled — and is not
available otherwise. Callers ask here instead of deciding themselves, so the
rule lives in one place.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from studio.core.errors import AuthenticationError
from studio.engines.catalog import ENGINES, engine_info
from studio.sandbox.app import Sandbox, SandboxConfig
from studio.secrets import CredentialError, CredentialStore
from studio.settings import Preferences, validate_base_url

if TYPE_CHECKING:
    from studio.engines.client import EngineClient


class Route(enum.StrEnum):
    VENDOR = "vendor"  # the engine's own service, with the user's key
    SANDBOX = "sandbox"  # the offline imitation, with its demo key
    UNAVAILABLE = "unavailable"  # no key and no sandbox


class EngineConnections:
    """Decides each engine's route and builds clients for it.

    Call from the asyncio loop's thread: clients belong to the loop they were made on.
    """

    def __init__(
        self,
        preferences: Preferences,
        credentials: CredentialStore,
        *,
        force_sandbox: bool = False,
    ) -> None:
        self._preferences = preferences
        # The CLI's --sandbox: every engine, even one with a key, so a demo or a test
        # can never spend money by accident.
        self._force_sandbox = force_sandbox
        self._credentials = credentials
        self._sandbox: Sandbox | None = None
        # One client (one connection pool) per engine and address, reused by every task.
        self._clients: dict[tuple[str, str], EngineClient] = {}

    # ------------------------------------------------------------------ sandbox
    @property
    def sandbox(self) -> Sandbox | None:
        return self._sandbox

    def start_sandbox(self, config: SandboxConfig | None = None) -> Sandbox:
        """Start the offline engines (loopback threads) if they are not running."""
        if self._sandbox is None:
            self._sandbox = Sandbox(config).start()
        return self._sandbox

    def stop_sandbox(self) -> None:
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None

    # ------------------------------------------------------------------ routing
    def route(self, engine_id: str) -> Route:
        """Vendor when the user has a key; else the sandbox if it runs; else unavailable."""
        engine_info(engine_id)
        if self._force_sandbox:
            return Route.SANDBOX if self._sandbox is not None else Route.UNAVAILABLE
        try:
            configured = self._credentials.is_configured(engine_id)
        except CredentialError:
            configured = False
        if configured:
            return Route.VENDOR
        if self._sandbox is not None:
            return Route.SANDBOX
        return Route.UNAVAILABLE

    def routes(self) -> dict[str, Route]:
        return {engine.id: self.route(engine.id) for engine in ENGINES}

    def base_url(self, engine_id: str) -> str:
        """The sandbox's address, else ``STUDIO_<ENGINE>_BASE_URL``, else the preference.

        Raises:
            SettingError: the environment variable holds an unusable URL.
        """
        if self.route(engine_id) is Route.SANDBOX and self._sandbox is not None:
            return self._sandbox.base_url(engine_id)
        variable = f"STUDIO_{engine_id.upper()}_BASE_URL"
        from_env = os.environ.get(variable, "").strip()
        if from_env:
            return validate_base_url(from_env, variable)
        return self._preferences.base_url(engine_id)

    def credentials(self, engine_id: str) -> Mapping[str, str]:
        """The credential fields to sign a call with, read fresh on every call."""
        route = self.route(engine_id)
        if route is Route.SANDBOX and self._sandbox is not None:
            return self._sandbox.config.credentials.fields_for(engine_id)
        info = engine_info(engine_id)
        found: dict[str, str] = {}
        for field in info.credential_fields:
            value = self._credentials.get(engine_id, field.name)
            if value is not None:
                found[field.name] = value
        if route is Route.UNAVAILABLE:
            raise AuthenticationError(
                engine_id,
                "no key is set; add one in Settings or turn on the offline sandbox",
                engine_name=info.name,
            )
        return found

    def client(self, engine_id: str) -> EngineClient:
        """The shared client for the engine's current route (its address may change
        when the sandbox is turned on or off; credentials are read on every call)."""
        # Imported here: httpx and the adapters cost ~150 ms, and start-up needs
        # only the routes (benchmarks.md S1).
        from studio.engines.client import EngineClient
        from studio.engines.registry import create_adapter

        key = (engine_id, self.base_url(engine_id))
        client = self._clients.get(key)
        if client is None:
            client = EngineClient(
                create_adapter(engine_id), key[1], lambda: self.credentials(engine_id)
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        """Close every client's connections (on the loop that made them)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

