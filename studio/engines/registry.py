"""Every engine's spec and adapter, found by engine id."""

from __future__ import annotations

from collections.abc import Callable

from studio.engines import evolink, kling, mountsea, ttapi
from studio.engines.adapter import EngineAdapter
from studio.engines.spec import EngineSpec

_ADAPTERS: dict[str, Callable[[], EngineAdapter]] = {
    "ttapi": ttapi.TtapiAdapter,
    "mountsea": mountsea.MountseaAdapter,
    "kling": kling.KlingAdapter,
    "evolink": evolink.EvolinkAdapter,
}
SPECS: dict[str, EngineSpec] = {
    "ttapi": ttapi.SPEC,
    "mountsea": mountsea.SPEC,
    "kling": kling.SPEC,
    "evolink": evolink.SPEC,
}


def spec_for(engine_id: str) -> EngineSpec:
    """The declaration of an engine's operations; KeyError names the known engines."""
    try:
        return SPECS[engine_id]
    except KeyError:
        raise KeyError(f"unknown engine {engine_id!r} (known: {', '.join(SPECS)})") from None


def create_adapter(engine_id: str) -> EngineAdapter:
    """A fresh adapter (adapters may cache state, e.g. Kling's signed token)."""
    spec_for(engine_id)
    return _ADAPTERS[engine_id]()
