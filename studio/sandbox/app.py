"""The whole offline sandbox: the four engines on loopback ports, with shared settings.

Qt-free. Each engine gets its own ``SandboxServer`` (its own base URL, like the
real services) and ``MediaStore`` for result links. Engine modules under
studio/sandbox/engines/ install their routes on the server they are given.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from studio.sandbox.media import MediaStore
from studio.sandbox.server import SandboxServer

ENGINE_IDS = ("ttapi", "mountsea", "kling", "evolink")


@dataclass(frozen=True)
class SandboxCredentials:
    """The keys the sandbox accepts; anything else gets the engine's real 401 answer."""

    api_keys: Mapping[str, str] = field(
        default_factory=lambda: {
            "ttapi": "sandbox-ttapi-key",
            "mountsea": "sandbox-mountsea-key",
            "kling": "sandbox-kling-key",
            "evolink": "sandbox-evolink-key",
        }
    )
    kling_access_key: str = "sandbox-kling-access"
    kling_secret_key: str = "sandbox-kling-secret"

    def fields_for(self, engine_id: str) -> dict[str, str]:
        """The credential fields the studio sends for an engine (Kling signs with a pair)."""
        if engine_id == "kling":
            return {"access_key": self.kling_access_key, "secret_key": self.kling_secret_key}
        return {"api_key": self.api_keys[engine_id]}


@dataclass
class SandboxConfig:
    """How the sandbox behaves.

    Attributes:
        task_seconds: how long a job takes from submit to success (seconds for a
            demo; tests use a fraction of a second).
        link_ttl_s: how long a result link stays valid before it answers 403.
        song_seconds: the length of synthesized songs.
        credentials: the keys accepted.
    """

    task_seconds: float = 6.0
    link_ttl_s: float = 3600.0
    song_seconds: float = 30.0
    credentials: SandboxCredentials = field(default_factory=SandboxCredentials)


@dataclass
class EngineSite:
    """One imitated engine: its server, its result links, and the shared config."""

    engine_id: str
    server: SandboxServer
    media: MediaStore
    config: SandboxConfig

    @property
    def base_url(self) -> str:
        return self.server.base_url


Installer = Callable[[EngineSite], None]


def installer(engine_id: str) -> Installer:
    """The function that puts an engine's routes on a server (imported on demand)."""
    module = importlib.import_module(f"studio.sandbox.engines.{engine_id}")
    install: Installer = module.install
    return install


def make_site(
    engine_id: str, config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0
) -> EngineSite:
    """One imitated engine on its own server (not started)."""
    server = SandboxServer(f"sandbox-{engine_id}", host=host, port=port)
    media = MediaStore(server, link_ttl_s=config.link_ttl_s)
    site = EngineSite(engine_id, server, media, config)
    installer(engine_id)(site)
    return site


class Sandbox:
    """Starts and stops the four offline engines together.

    Args:
        config: shared behaviour (timings, link lifetime, accepted keys).
        ports: a fixed port per engine id; 0 or missing picks a free one.
        host: the loopback address to bind.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        ports: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.config = config or SandboxConfig()
        self.sites = {
            engine_id: make_site(
                engine_id, self.config, host=host, port=(ports or {}).get(engine_id, 0)
            )
            for engine_id in ENGINE_IDS
        }

    def base_url(self, engine_id: str) -> str:
        return self.sites[engine_id].base_url

    def base_urls(self) -> dict[str, str]:
        return {engine_id: site.base_url for engine_id, site in self.sites.items()}

    def start(self) -> Sandbox:
        for site in self.sites.values():
            site.server.start()
        return self

    def stop(self) -> None:
        for site in self.sites.values():
            site.server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
