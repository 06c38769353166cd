"""User preferences: typed, declared once, validated, stored as JSON.

Preferences (engine base URLs, archive folder) are apart from UI state (window
geometry, dock layout), which the Qt layer keeps in QSettings. Secrets never
come here: API keys live in the credential store (studio/secrets.py).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from studio.durable import replace_durably
from studio.engines.catalog import ENGINES, engine_info

log = logging.getLogger(__name__)

PREFERENCES_VERSION = 1


class SettingError(ValueError):
    """A preference value broke a rule; the message names the field and the rule."""

    def __init__(self, field_label: str, rule: str) -> None:
        super().__init__(f"{field_label}: {rule}")
        self.field_label = field_label
        self.rule = rule


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_base_url(value: str, field_label: str = "Base URL") -> str:
    """Check an engine base URL and return it normalised (no trailing slash).

    Plain http is refused except for loopback (the sandbox), because the API
    key would cross the network in clear text (faults J10).
    """
    text = value.strip()
    if not text:
        raise SettingError(field_label, "must not be empty")
    parts = urlsplit(text)
    if parts.scheme not in {"https", "http"}:
        raise SettingError(field_label, "must start with https://")
    host = parts.hostname or ""
    if not host:
        raise SettingError(field_label, "must name a host, e.g. https://api.example.com")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise SettingError(
            field_label, "must use https:// (plain http:// is allowed only for localhost)"
        )
    if parts.username or parts.password:
        raise SettingError(field_label, "must not contain a user name or password")
    if parts.query or parts.fragment:
        raise SettingError(field_label, "must not contain a query (?…) or fragment (#…)")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise SettingError(field_label, "has an invalid port number") from None
    return text.rstrip("/")


def validate_archive_dir(
    value: str | os.PathLike[str], field_label: str = "Archive folder"
) -> Path:
    """Check the archive folder: an absolute path that is (or can become) a folder."""
    text = os.fspath(value).strip()
    if not text:
        raise SettingError(field_label, "must not be empty")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise SettingError(field_label, "must be an absolute path")
    if path.exists() and not path.is_dir():
        raise SettingError(field_label, f"{path} exists and is not a folder")
    return path


@dataclass
class Preferences:
    """What the user chose. ``None`` means "the default" so defaults can evolve."""

    base_urls: dict[str, str] = field(default_factory=dict)
    archive_dir: Path | None = None
    # Engines without a key use the offline sandbox (demo audio) when this is on.
    use_sandbox: bool = False

    def base_url(self, engine_id: str) -> str:
        """The URL to use for an engine: the user's override or the vendor default."""
        return self.base_urls.get(engine_id) or engine_info(engine_id).default_base_url

    def set_base_url(self, engine_id: str, url: str | None) -> None:
        """Set (validated) or reset (None) an engine's base URL."""
        info = engine_info(engine_id)
        if url is None or url.strip().rstrip("/") == info.default_base_url:
            self.base_urls.pop(engine_id, None)
            return
        self.base_urls[engine_id] = validate_base_url(url, f"{info.name} base URL")

    def archive_folder(self, default: Path) -> Path:
        """The folder takes are archived to: the user's choice, else ``default``."""
        return self.archive_dir or default

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PREFERENCES_VERSION,
            "base_urls": dict(sorted(self.base_urls.items())),
            "archive_dir": str(self.archive_dir) if self.archive_dir else None,
            "use_sandbox": self.use_sandbox,
        }


class PreferencesStore:
    """Loads and saves preferences atomically; a bad value falls back with a notice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notices: list[str] = []

    def load(self) -> Preferences:
        """Read the file; unknown or invalid entries are dropped and reported."""
        prefs = Preferences()
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return prefs
        except (OSError, ValueError) as exc:
            self.notices.append(f"Preferences file {self.path} could not be read ({exc}); "
                                "defaults are used and the file is rewritten on the next save.")
            return prefs
        if not isinstance(raw, dict):
            self.notices.append(f"Preferences file {self.path} is not a JSON object; "
                                "defaults are used.")
            return prefs
        known = {engine.id for engine in ENGINES}
        base_urls = raw.get("base_urls") or {}
        if isinstance(base_urls, dict):
            for engine_id, url in base_urls.items():
                if engine_id not in known or not isinstance(url, str):
                    continue
                try:
                    prefs.set_base_url(engine_id, url)
                except SettingError as exc:
                    self.notices.append(f"{exc}; the vendor default is used instead.")
        archive = raw.get("archive_dir")
        if isinstance(archive, str) and archive:
            try:
                prefs.archive_dir = validate_archive_dir(archive)
            except SettingError as exc:
                self.notices.append(f"{exc}; the default archive folder is used instead.")
        use_sandbox = raw.get("use_sandbox", False)
        if isinstance(use_sandbox, bool):
            prefs.use_sandbox = use_sandbox
        else:
            self.notices.append("Preferences: use_sandbox must be true or false; it is off.")
        return prefs

    def save(self, prefs: Preferences) -> None:
        """Write atomically (temp file, fsync, rename, fsync of the folder): never half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(prefs.to_json(), indent=2, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".preferences-", suffix=".part", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
            replace_durably(Path(tmp), self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("preferences saved to %s", self.path)
