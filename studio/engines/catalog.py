"""Who the four engines are: names, vendor base URLs, and the credentials each needs.

This is the identity card of each engine, shared by settings, the credential
store and the Settings dialog. Operations and fields live in each engine's own
module (engines issue); this file holds only what is known before any request.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CredentialField:
    """One secret an engine needs, e.g. an API key or Kling's AccessKey."""

    name: str  # keyring user name suffix and env var suffix, e.g. "api_key"
    label: str  # shown in the Settings dialog

    def env_var(self, engine_id: str) -> str:
        """The environment variable read when no secure keyring exists."""
        return f"STUDIO_{engine_id.upper()}_{self.name.upper()}"


@dataclass(frozen=True)
class EngineInfo:
    """An engine's identity: what the user sees and where it lives."""

    id: str
    name: str
    summary: str
    default_base_url: str
    # Other vendor endpoints the user may pick (e.g. Kling's Beijing region).
    alternative_base_urls: tuple[str, ...]
    # Alternative credential sets: the engine is configured when every field of
    # one set is present. Kling takes an AccessKey + SecretKey pair (we sign a
    # JWT) or a ready bearer key from an aggregator.
    credential_sets: tuple[tuple[CredentialField, ...], ...]

    @property
    def credential_fields(self) -> tuple[CredentialField, ...]:
        """Every distinct credential field, in the order the dialog shows them."""
        seen: dict[str, CredentialField] = {}
        for group in self.credential_sets:
            for field in group:
                seen.setdefault(field.name, field)
        return tuple(seen.values())


API_KEY = CredentialField("api_key", "API key")
ACCESS_KEY = CredentialField("access_key", "AccessKey")
SECRET_KEY = CredentialField("secret_key", "SecretKey")

TTAPI = EngineInfo(
    id="ttapi",
    name="TTAPI Producer",
    summary="Full songs from a style prompt and lyrics, lyric writing, and edits of a take.",
    default_base_url="https://api.ttapi.io",
    alternative_base_urls=(),
    credential_sets=((API_KEY,),),
)
MOUNTSEA = EngineInfo(
    id="mountsea",
    name="Mountsea Producer",
    summary="Songs with Lyria 3 Pro, stem separation, and mp3/m4a/wav export.",
    default_base_url="https://api.mountsea.ai",
    alternative_base_urls=(),
    credential_sets=((API_KEY,),),
)
KLING = EngineInfo(
    id="kling",
    name="Kling text-to-audio",
    summary="Sound effects of 3 to 10 seconds from a text prompt.",
    default_base_url="https://api-singapore.klingai.com",
    alternative_base_urls=("https://api-beijing.klingai.com",),
    credential_sets=((ACCESS_KEY, SECRET_KEY), (API_KEY,)),
)
EVOLINK = EngineInfo(
    id="evolink",
    name="Evolink Seed-Audio 1.0",
    summary="Speech and voice, with preset or reference voices.",
    default_base_url="https://api.evolink.ai",
    alternative_base_urls=(),
    credential_sets=((API_KEY,),),
)

ENGINES: tuple[EngineInfo, ...] = (TTAPI, MOUNTSEA, KLING, EVOLINK)
_BY_ID = {engine.id: engine for engine in ENGINES}


def engine_info(engine_id: str) -> EngineInfo:
    """Look an engine up by id; raises KeyError naming the known ids."""
    try:
        return _BY_ID[engine_id]
    except KeyError:
        known = ", ".join(_BY_ID)
        raise KeyError(f"unknown engine {engine_id!r} (known: {known})") from None
