"""Composer panel: the title, style prompt and lyrics of the next take.

What is typed is autosaved as a draft (debounced, and on close), so a crash or
a quit never loses a line of lyrics.
"""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.library.drafts import Draft, DraftStore

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 600


class ComposerPanel(QWidget):
    """Edits the current draft; shows how to set up an engine while none is."""

    settings_requested = Signal()
    sandbox_toggled = Signal(bool)  # the user wants the offline sandbox on (True) or off
    draft_saved = Signal(str)  # a short status line for the status bar

    def __init__(self, drafts: DraftStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composerPanel")
        self.setAccessibleName("Composer")
        self._drafts = drafts
        self._draft = drafts.load_latest() or Draft()
        self._loading = False

        # Says how generation is set up: no engine yet, or which ones are the sandbox.
        self.setup_banner = QFrame(self)
        self.setup_banner.setObjectName("composerSetupBanner")
        self.setup_banner.setFrameShape(QFrame.Shape.StyledPanel)
        banner_layout = QVBoxLayout(self.setup_banner)
        self.setup_label = QLabel(self.setup_banner)
        self.setup_label.setObjectName("composerSetupLabel")
        self.setup_label.setWordWrap(True)
        banner_layout.addWidget(self.setup_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.sandbox_button = QPushButton(self.setup_banner)
        self.sandbox_button.setObjectName("composerSandboxButton")
        self.sandbox_button.clicked.connect(self._on_sandbox_button_clicked)
        buttons.addWidget(self.sandbox_button)
        self.setup_button = QPushButton("Open Settings…", self.setup_banner)
        self.setup_button.setObjectName("composerOpenSettingsButton")
        self.setup_button.setAccessibleName("Open Settings")
        self.setup_button.setToolTip("Enter an engine's API key and base URL")
        self.setup_button.clicked.connect(self.settings_requested)
        buttons.addWidget(self.setup_button)
        banner_layout.addLayout(buttons)
        self._sandbox_on = False

        self.title_edit = QLineEdit(self)
        self.title_edit.setObjectName("composerTitleEdit")
        self.title_edit.setAccessibleName("Title")
        self.title_edit.setPlaceholderText("Title (optional)")
        self.title_edit.setToolTip("The take's title; also names its archived files")

        self.prompt_edit = self._text_editor(
            "composerPromptEdit",
            "Style prompt",
            "Describe the sound: genre, mood, instruments, tempo, voice…\n"
            "e.g. warm lo-fi hip hop, dusty Rhodes, brushed drums, 82 bpm",
            "The style prompt sent to the engine",
        )
        self.prompt_count = QLabel(self)
        self.prompt_count.setObjectName("composerPromptCount")

        self.lyrics_edit = self._text_editor(
            "composerLyricsEdit",
            "Lyrics",
            "[Verse 1]\nWrite your lyrics here, with section tags…\n\n[Chorus]\n…",
            "Lyrics with section tags such as [Verse 1] and [Chorus]",
        )
        self.lyrics_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.lyrics_count = QLabel(self)
        self.lyrics_count.setObjectName("composerLyricsCount")

        layout = QVBoxLayout(self)
        layout.addWidget(self.setup_banner)
        layout.addWidget(self._caption("Title", self.title_edit))
        layout.addWidget(self.title_edit)
        prompt_header = QHBoxLayout()
        prompt_header.addWidget(self._caption("Style prompt", self.prompt_edit))
        prompt_header.addStretch(1)
        prompt_header.addWidget(self.prompt_count)
        layout.addLayout(prompt_header)
        layout.addWidget(self.prompt_edit, 1)
        lyrics_header = QHBoxLayout()
        lyrics_header.addWidget(self._caption("Lyrics", self.lyrics_edit))
        lyrics_header.addStretch(1)
        lyrics_header.addWidget(self.lyrics_count)
        layout.addLayout(lyrics_header)
        layout.addWidget(self.lyrics_edit, 3)

        self._autosave = QTimer(self)
        self._autosave.setObjectName("composerAutosaveTimer")
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self.save_draft)

        self._show_draft()
        for editor in (self.prompt_edit, self.lyrics_edit):
            editor.textChanged.connect(self._on_text_changed)
        self.title_edit.textChanged.connect(self._on_text_changed)

    def _text_editor(
        self, name: str, accessible: str, placeholder: str, tooltip: str
    ) -> QPlainTextEdit:
        editor = QPlainTextEdit(self)
        editor.setObjectName(name)
        editor.setAccessibleName(accessible)
        editor.setPlaceholderText(placeholder)
        editor.setToolTip(tooltip)
        editor.setTabChangesFocus(True)  # Tab moves on; the keyboard reaches every field
        return editor

    def _caption(self, text: str, buddy: QWidget) -> QLabel:
        label = QLabel(f"<b>{text}</b>", self)
        label.setBuddy(buddy)
        return label

    def show_engine_routes(self, vendor: list[str], sandbox: list[str], sandbox_on: bool) -> None:
        """Explain how generation is set up: vendor engines, sandbox engines, or neither.

        Args:
            vendor: names of engines with the user's key.
            sandbox: names of engines answered by the offline sandbox.
            sandbox_on: whether the user turned the sandbox on.
        """
        self._sandbox_on = sandbox_on
        if sandbox:
            listed = ", ".join(sandbox)
            self.setup_label.setText(
                f"Offline sandbox: {listed} answer with demo audio made on this computer, "
                "not real AI results. Add a key in Settings to use the real engine."
            )
            self._set_sandbox_button("Turn off sandbox", "Stop the offline demo engines")
        elif not vendor:
            self.setup_label.setText(
                "No engine is set up yet. Add an API key in Settings, or try the offline "
                "sandbox (demo audio, no account). Until then, write away: everything here "
                "is saved as you type."
            )
            self._set_sandbox_button(
                "Try the offline sandbox", "Demo engines on this computer, no account needed"
            )
        self.setup_banner.setVisible(bool(sandbox) or not vendor)

    def _set_sandbox_button(self, text: str, tip: str) -> None:
        self.sandbox_button.setText(text)
        self.sandbox_button.setAccessibleName(text)
        self.sandbox_button.setToolTip(tip)

    def _on_sandbox_button_clicked(self) -> None:
        self.sandbox_toggled.emit(not self._sandbox_on)

    def _show_draft(self) -> None:
        self._loading = True
        try:
            self.title_edit.setText(self._draft.title)
            self.prompt_edit.setPlainText(self._draft.prompt)
            self.lyrics_edit.setPlainText(self._draft.lyrics)
        finally:
            self._loading = False
        self._update_counts()

    def _update_counts(self) -> None:
        prompt = self.prompt_edit.toPlainText()
        lyrics = self.lyrics_edit.toPlainText()
        self.prompt_count.setText(f"{len(prompt)} characters")
        lines = [line for line in lyrics.splitlines() if line.strip()]
        self.lyrics_count.setText(f"{len(lines)} lines · {len(lyrics)} characters")

    def _on_text_changed(self) -> None:
        self._update_counts()
        if not self._loading:
            self._autosave.start()

    @property
    def has_unsaved_changes(self) -> bool:
        return self._autosave.isActive()

    def save_draft(self) -> None:
        """Write the editors to the draft store now (also called on close)."""
        self._autosave.stop()
        self._draft.title = self.title_edit.text()
        self._draft.prompt = self.prompt_edit.toPlainText()
        self._draft.lyrics = self.lyrics_edit.toPlainText()
        self._draft = self._drafts.save(self._draft)
        self.draft_saved.emit(f"Draft saved at {datetime.now():%H:%M:%S}")
        log.debug("draft %s saved", self._draft.id)
