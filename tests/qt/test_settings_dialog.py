"""Settings: keys to the keyring only, base URLs validated, nothing lost on an error."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.qt.settings_dialog import SettingsDialog
from studio.secrets import KeySource

CANARY = "sk-CANARY-5f3c9e0a7b"


@pytest.fixture
def dialog(qtbot, context, async_loop) -> SettingsDialog:
    dlg = SettingsDialog(
        context.paths, context.preferences, context.preferences_store, context.credentials
    )
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_key_goes_to_keyring_and_nowhere_else(dialog, context, async_loop, isolated) -> None:
    row = dialog.engine_pages["ttapi"].credential_rows[0]
    row.edit.setText(f"  {CANARY}\n")
    assert async_loop.run_until_complete(dialog.save()) is True
    assert isolated.secrets[("studio", "ttapi.api_key")] == CANARY
    assert context.credentials.source("ttapi", "api_key") is KeySource.KEYRING
    assert row.edit.text() == ""  # the key is not kept on screen
    assert "stored" in row.edit.placeholderText()
    for path in context.paths.data_dir.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_plain_http_base_url_is_refused_and_nothing_is_lost(dialog, context, async_loop) -> None:
    page = dialog.engine_pages["mountsea"]
    page.base_url_combo.setCurrentText("http://api.mountsea.ai")
    key_row = dialog.engine_pages["evolink"].credential_rows[0]
    key_row.edit.setText("ev-key-1234567890")
    assert async_loop.run_until_complete(dialog.save()) is False
    assert dialog.isVisible()
    assert "Mountsea Producer base URL" in page.base_url_error.text()
    assert "https://" in page.base_url_error.text()
    assert dialog.current_page() is page
    # What the user typed is still there, and nothing was written.
    assert key_row.edit.text() == "ev-key-1234567890"
    assert context.credentials.source("evolink", "api_key") is None
    assert not context.paths.preferences_file.exists()


def test_loopback_http_and_reset_to_default(dialog, context, async_loop) -> None:
    page = dialog.engine_pages["kling"]
    page.base_url_combo.setCurrentText("http://127.0.0.1:8765/")
    assert async_loop.run_until_complete(dialog.save()) is True
    assert context.preferences.base_url("kling") == "http://127.0.0.1:8765"
    saved = context.preferences_store.load()
    assert saved.base_url("kling") == "http://127.0.0.1:8765"

    page.reset_url_button.click()
    assert page.base_url_text() == "https://api-singapore.klingai.com"


def test_bad_key_is_reported_under_its_field_without_echoing_it(dialog, async_loop) -> None:
    row = dialog.engine_pages["kling"].credential_rows[1]  # SecretKey
    row.edit.setText("abc def" + "x" * 20)
    assert async_loop.run_until_complete(dialog.save()) is False
    message = row.error_label.text()
    assert "SecretKey" in message and "abc def" not in message
    assert row.edit.text().startswith("abc def")


def test_relative_archive_folder_is_refused(dialog, async_loop) -> None:
    dialog.archive_edit.setText("music/archive")
    assert async_loop.run_until_complete(dialog.save()) is False
    assert "absolute" in dialog.archive_error.text()


def test_remove_forgets_a_stored_key(dialog, context, async_loop) -> None:
    context.credentials.set("mountsea", "api_key", "ms-abcdef1234567890")
    dialog.refresh_sources()
    row = dialog.engine_pages["mountsea"].credential_rows[0]
    assert row.remove_button.isEnabled()
    row.remove_button.click()
    assert async_loop.run_until_complete(dialog.save()) is True
    assert context.credentials.get("mountsea", "api_key") is None


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_test_connection_reaches_a_loopback_server(dialog, async_loop) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = dialog.engine_pages["evolink"]
        page.base_url_combo.setCurrentText(f"http://127.0.0.1:{server.server_port}")
        page.test_button.click()
        async_loop.run_until_complete(page.connection_test)
        assert page.test_result.text().startswith("✓")
        assert "HTTP 404" in page.test_result.text()
    finally:
        server.shutdown()


def test_test_connection_reports_a_refused_connection(dialog, async_loop) -> None:
    page = dialog.engine_pages["ttapi"]
    page.base_url_combo.setCurrentText("http://127.0.0.1:9")
    page.test_button.click()
    async_loop.run_until_complete(page.connection_test)
    assert page.test_result.text().startswith("✗ Could not connect to 127.0.0.1:9")


@pytest.mark.parametrize(
    ("engine_id", "accepted"), [("evolink", True), ("kling", True), ("ttapi", False)]
)
def test_test_connection_checks_the_key_with_the_engine(
    dialog, async_loop, engine_id, accepted
) -> None:
    from tests.sandbox_support import running_site, sandbox_credentials

    with running_site(engine_id) as site:
        page = dialog.engine_pages[engine_id]
        page.base_url_combo.setCurrentText(site.base_url)
        fields = sandbox_credentials(engine_id)
        for row in page.credential_rows:
            if row.field.name in fields:
                value = fields[row.field.name] if accepted else "wrong-key-0123456789"
                row.edit.setText(value)
        page.test_button.click()
        async_loop.run_until_complete(page.connection_test)
    result = page.test_result.text()
    if accepted:
        assert result.startswith("✓") and "accepted the key" in result, result
    else:
        assert result.startswith("✗ TTAPI Producer did not accept the API key"), result
