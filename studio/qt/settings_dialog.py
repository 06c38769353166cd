"""Settings: per-engine keys and base URLs, and the archive folder.

Keys go to the credential store (never to preferences); every keyring call is
awaited off the GUI thread. Nothing typed is lost on an error: the dialog stays
open with the message under the field it concerns.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.engines.catalog import ENGINES, CredentialField, EngineInfo
from studio.paths import StudioPaths
from studio.qt.async_tasks import spawn
from studio.secrets import CredentialError, CredentialStore, KeySource, normalize_key
from studio.settings import (
    Preferences,
    PreferencesStore,
    SettingError,
    validate_archive_dir,
    validate_base_url,
)

log = logging.getLogger(__name__)

_SOURCE_TEXT = {
    KeySource.KEYRING: "Saved in the system keyring.",
    KeySource.SESSION: "Kept for this session only (no secure keyring).",
    KeySource.ENVIRONMENT: "Read from the environment variable {env}.",
}


def _error_label(parent: QWidget, object_name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    # A red that reads on light and dark backgrounds.
    label.setStyleSheet("color: #d64541; font-weight: bold;")
    label.setProperty("role", "error")
    label.hide()
    return label


def _show_error(label: QLabel, text: str | None) -> None:
    label.setText(text or "")
    label.setVisible(bool(text))


class CredentialRow(QWidget):
    """A masked entry for one secret, with where the stored one comes from."""

    def __init__(self, engine: EngineInfo, field: CredentialField, parent: QWidget) -> None:
        super().__init__(parent)
        self.engine = engine
        self.field = field
        self.remove_requested = False
        prefix = f"{engine.id}_{field.name}"
        self.edit = QLineEdit(self)
        self.edit.setObjectName(f"{prefix}_edit")
        self.edit.setAccessibleName(f"{engine.name} {field.label}")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setToolTip(f"Paste your {engine.name} {field.label}; it is stored in the "
                             "system keyring, never in a file")
        self.show_button = QPushButton("Show", self)
        self.show_button.setObjectName(f"{prefix}_show")
        self.show_button.setAccessibleName(f"Show {field.label}")
        self.show_button.setToolTip("Show or hide what you typed")
        self.show_button.setCheckable(True)
        self.show_button.toggled.connect(self._on_show_toggled)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName(f"{prefix}_remove")
        self.remove_button.setAccessibleName(f"Remove {field.label}")
        self.remove_button.setToolTip("Forget the stored key when you press Save")
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.source_label = QLabel(self)
        self.source_label.setObjectName(f"{prefix}_source")
        self.source_label.setWordWrap(True)
        self.error_label = _error_label(self, f"{prefix}_error")

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.show_button)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.source_label)
        layout.addWidget(self.error_label)

    def _on_show_toggled(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.edit.setEchoMode(mode)
        self.show_button.setText("Hide" if shown else "Show")

    def _on_remove_clicked(self) -> None:
        self.remove_requested = True
        self.edit.clear()
        self.source_label.setText("Will be removed when you press Save.")
        self.remove_button.setEnabled(False)

    def refresh(self, source: KeySource | None) -> None:
        """Show where the current key comes from; the key itself is never shown."""
        self.remove_requested = False
        if source is None:
            self.source_label.setText("Not set.")
            self.edit.setPlaceholderText(f"Paste your {self.field.label}")
        else:
            env = self.field.env_var(self.engine.id)
            self.source_label.setText(_SOURCE_TEXT[source].format(env=env))
            self.edit.setPlaceholderText("•••••••• stored: type to replace")
        self.remove_button.setEnabled(source in (KeySource.KEYRING, KeySource.SESSION))


class EnginePage(QWidget):
    """One engine's credentials, base URL and connection test."""

    def __init__(
        self,
        engine: EngineInfo,
        prefs: Preferences,
        store: CredentialStore,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.store = store
        self.setObjectName(f"{engine.id}_settingsPage")
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{engine.name}</b><br>{engine.summary}", self)
        title.setWordWrap(True)
        layout.addWidget(title)

        keys_box = QGroupBox("Credentials", self)
        keys_form = QFormLayout(keys_box)
        if len(engine.credential_sets) > 1:
            hint = QLabel(
                "Enter your AccessKey and SecretKey (Studio signs short-lived tokens "
                "with them), or an API key from a reseller.",
                keys_box,
            )
            hint.setWordWrap(True)
            keys_form.addRow(hint)
        self.credential_rows: list[CredentialRow] = []
        for field in engine.credential_fields:
            row = CredentialRow(engine, field, keys_box)
            keys_form.addRow(field.label, row)
            self.credential_rows.append(row)
        layout.addWidget(keys_box)

        url_box = QGroupBox("Server", self)
        url_form = QFormLayout(url_box)
        self.base_url_combo = QComboBox(url_box)
        self.base_url_combo.setObjectName(f"{engine.id}_baseUrl")
        self.base_url_combo.setAccessibleName(f"{engine.name} base URL")
        self.base_url_combo.setToolTip("Where requests go; https:// only, except for localhost")
        self.base_url_combo.setEditable(True)
        self.base_url_combo.addItems([engine.default_base_url, *engine.alternative_base_urls])
        self.base_url_combo.setCurrentText(prefs.base_url(engine.id))
        self.base_url_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        url_line = self.base_url_combo.lineEdit()
        url_line.setObjectName(f"{engine.id}_baseUrlText")
        url_line.setAccessibleName(f"{engine.name} base URL")
        self.reset_url_button = QPushButton("Reset to default", url_box)
        self.reset_url_button.setObjectName(f"{engine.id}_resetBaseUrl")
        self.reset_url_button.setAccessibleName(f"Reset {engine.name} base URL")
        self.reset_url_button.setToolTip(f"Use the vendor's address, {engine.default_base_url}")
        self.reset_url_button.clicked.connect(
            lambda: self.base_url_combo.setCurrentText(engine.default_base_url)
        )
        url_row = QHBoxLayout()
        url_row.addWidget(self.base_url_combo, 1)
        url_row.addWidget(self.reset_url_button)
        url_form.addRow("Base URL", url_row)
        self.base_url_error = _error_label(url_box, f"{engine.id}_baseUrlError")
        url_form.addRow(self.base_url_error)

        self.test_button = QPushButton("Test connection", url_box)
        self.test_button.setObjectName(f"{engine.id}_testConnection")
        self.test_button.setAccessibleName(f"Test connection to {engine.name}")
        self.test_button.setToolTip(
            "Check that the server answers and, if a key is entered or stored, that it is accepted"
        )
        self.test_button.clicked.connect(self._on_test_clicked)
        self.test_result = QLabel(url_box)
        self.test_result.setObjectName(f"{engine.id}_testResult")
        self.test_result.setWordWrap(True)
        url_form.addRow(self.test_button, self.test_result)
        layout.addWidget(url_box)
        layout.addStretch(1)

    def base_url_text(self) -> str:
        return self.base_url_combo.currentText().strip()

    def validated_base_url(self) -> str | None:
        """The base URL if valid; otherwise shows the rule under the field and returns None."""
        try:
            url = validate_base_url(self.base_url_text(), f"{self.engine.name} base URL")
        except SettingError as exc:
            _show_error(self.base_url_error, str(exc))
            return None
        _show_error(self.base_url_error, None)
        return url

    def _on_test_clicked(self) -> None:
        url = self.validated_base_url()
        if url is None:
            self.test_result.setText("")
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("Connecting…")
        self.connection_test = spawn(self._run_test(url), name=f"test {self.engine.id}")

    async def _run_test(self, url: str) -> None:
        # Imported on first use: httpx and the adapters would cost start-up ~150 ms.
        from studio.qt.connection_check import ConnectionReport, check_engine, check_reachable

        report: ConnectionReport
        try:
            credentials = await self._credentials_to_test()
            if credentials is None:
                report = await check_reachable(url)
            else:
                report = await check_engine(self.engine.id, url, credentials)
        except CredentialError as exc:
            report = ConnectionReport(False, exc.message)
        finally:
            self.test_button.setEnabled(True)
        self.test_result.setText(("✓ " if report.ok else "✗ ") + report.message)

    async def _credentials_to_test(self) -> dict[str, str] | None:
        """What is typed in the fields, else what is stored; None when no set is complete."""
        found: dict[str, str] = {}
        for row in self.credential_rows:
            typed = row.edit.text()
            if typed.strip():
                what = f"{self.engine.name} {row.field.label}"
                found[row.field.name] = normalize_key(typed, what)
            elif not row.remove_requested:
                stored = await self.store.aget(self.engine.id, row.field.name)
                if stored is not None:
                    found[row.field.name] = stored
        for group in self.engine.credential_sets:
            if all(field.name in found for field in group):
                return {field.name: found[field.name] for field in group}
        return None


class SettingsDialog(QDialog):
    """Edits preferences and keys; Save validates everything before writing anything."""

    saved = Signal()  # preferences (and maybe some keys) were written

    def __init__(
        self,
        paths: StudioPaths,
        preferences: Preferences,
        preferences_store: PreferencesStore,
        credentials: CredentialStore,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setAccessibleName("Settings")
        self.setWindowTitle("Settings")
        self.resize(760, 560)
        self._paths = paths
        self._preferences = preferences
        self._store = preferences_store
        self._credentials = credentials
        self.save_task = None

        self.engine_list = QListWidget(self)
        self.engine_list.setObjectName("settingsEngineList")
        self.engine_list.setAccessibleName("Engines")
        self.engine_list.setToolTip("Choose the engine to set up")
        self.engine_list.setMaximumWidth(210)
        self.pages = QStackedWidget(self)
        self.pages.setObjectName("settingsEnginePages")
        self.engine_pages: dict[str, EnginePage] = {}
        for engine in ENGINES:
            page = EnginePage(engine, preferences, credentials, self.pages)
            self.engine_pages[engine.id] = page
            self.pages.addWidget(page)
            self.engine_list.addItem(engine.name)
        self.engine_list.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.engine_list.setCurrentRow(0)

        engines_row = QHBoxLayout()
        engines_row.addWidget(self.engine_list)
        engines_row.addWidget(self.pages, 1)

        storage = QGroupBox("Storage", self)
        storage_form = QFormLayout(storage)
        self.archive_edit = QLineEdit(str(preferences.archive_dir or paths.default_archive_dir))
        self.archive_edit.setObjectName("archiveFolderEdit")
        self.archive_edit.setAccessibleName("Archive folder")
        self.archive_edit.setToolTip("Every take's files are downloaded here as soon as they exist")
        browse = QPushButton("Browse…", storage)
        browse.setObjectName("archiveFolderBrowse")
        browse.setAccessibleName("Browse for archive folder")
        browse.setToolTip("Pick the archive folder")
        browse.clicked.connect(self._on_browse_clicked)
        archive_row = QHBoxLayout()
        archive_row.addWidget(self.archive_edit, 1)
        archive_row.addWidget(browse)
        storage_form.addRow("Archive folder", archive_row)
        self.archive_error = _error_label(storage, "archiveFolderError")
        storage_form.addRow(self.archive_error)

        self.notice_label = QLabel(self)
        self.notice_label.setObjectName("settingsKeyringNotice")
        self.notice_label.setWordWrap(True)
        self.notice_label.setText(credentials.notice or "")
        self.notice_label.setVisible(bool(credentials.notice))

        self.status_label = _error_label(self, "settingsStatus")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.setObjectName("settingsButtons")
        save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save_button.setObjectName("settingsSaveButton")
        save_button.setAccessibleName("Save settings")
        cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel_button.setObjectName("settingsCancelButton")
        cancel_button.setAccessibleName("Cancel")
        self.buttons.accepted.connect(self._on_save_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.notice_label)
        layout.addLayout(engines_row, 1)
        layout.addWidget(storage)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.refresh_sources()

    def show_engine(self, engine_id: str) -> None:
        """Open on one engine's page (from the Engines menu)."""
        ids = [engine.id for engine in ENGINES]
        self.engine_list.setCurrentRow(ids.index(engine_id))

    def refresh_sources(self) -> None:
        """Show where each key comes from (the store's cache answers; see open_context)."""
        for page in self.engine_pages.values():
            for row in page.credential_rows:
                try:
                    source = self._credentials.source(row.engine.id, row.field.name)
                except CredentialError as exc:
                    row.refresh(None)
                    _show_error(row.error_label, exc.message)
                    continue
                row.refresh(source)

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Archive folder", self.archive_edit.text())
        if folder:
            self.archive_edit.setText(folder)

    def _on_save_clicked(self) -> None:
        self.buttons.setEnabled(False)
        self.save_task = spawn(self.save(), name="save settings")

    async def save(self) -> bool:
        """Validate every field, then write keys (off the GUI thread) and preferences.

        Returns True and closes the dialog when everything was written.
        """
        try:
            ok = await self._save()
        finally:
            self.buttons.setEnabled(True)
        if ok:
            self.accept()
        return ok

    async def _save(self) -> bool:
        urls: dict[str, str] = {}
        valid = True
        for engine_id, page in self.engine_pages.items():
            url = page.validated_base_url()
            if url is None:
                valid = False
            else:
                urls[engine_id] = url
        try:
            archive = validate_archive_dir(self.archive_edit.text())
            _show_error(self.archive_error, None)
        except SettingError as exc:
            _show_error(self.archive_error, str(exc))
            valid = False
        if not valid:
            self._show_first_error()
            _show_error(self.status_label, "Nothing was saved: fix the fields marked in bold.")
            return False

        key_errors = await self._save_keys()
        for engine_id, url in urls.items():
            self._preferences.set_base_url(engine_id, url)
        default_archive = self._paths.default_archive_dir
        self._preferences.archive_dir = None if archive == default_archive else archive
        try:
            self._store.save(self._preferences)
        except OSError as exc:
            _show_error(self.status_label, f"Preferences could not be written to "
                                           f"{self._store.path}: {exc.strerror or exc}")
            return False
        self.refresh_sources()
        self.saved.emit()  # even with some keys refused: what was written shows at once
        if key_errors:
            self._show_first_error()
            _show_error(self.status_label, "Settings were saved, but some keys were not: "
                                           "see the messages under them.")
            return False
        _show_error(self.status_label, None)
        return True

    async def _save_keys(self) -> int:
        errors = 0
        for page in self.engine_pages.values():
            for row in page.credential_rows:
                value = row.edit.text()
                try:
                    if value.strip():
                        await self._credentials.aset(row.engine.id, row.field.name, value)
                        row.edit.clear()
                    elif row.remove_requested:
                        await self._credentials.adelete(row.engine.id, row.field.name)
                    _show_error(row.error_label, None)
                except CredentialError as exc:
                    # The message names the engine, field and rule; never the key.
                    _show_error(row.error_label, str(exc))
                    errors += 1
        return errors

    def _show_first_error(self) -> None:
        """Bring the first engine page with an error to the front."""
        for index, page in enumerate(self.engine_pages.values()):
            labels = [page.base_url_error] + [row.error_label for row in page.credential_rows]
            if any(not label.isHidden() for label in labels):
                self.engine_list.setCurrentRow(index)
                return

    def current_page(self) -> EnginePage:
        page = self.pages.currentWidget()
        assert isinstance(page, EnginePage)
        return page

