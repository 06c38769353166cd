"""Schema version 1: the task ledger, takes, their files and stems, drafts, presets.

Frozen once released: a later change is a new migration, never an edit here,
because libraries already at version 1 will not run this again.

Conventions (so later code does not have to guess):

- Timestamps are ISO-8601 UTC text with milliseconds, ``2024-05-01T12:30:00.250Z``
  (``studio.library.timestamps``); the same width everywhere, so they sort as text.
- ``*_json`` columns written by us hold a JSON object; CHECKs keep it that way.
- ``cost`` is text because engines report credits as strings ("quota", units).
- No key, JWT or signed-URL query string is ever stored (faults.md): URLs are kept
  without their signature, raw bodies are redacted before they are written.
- Booleans are INTEGER 0/1 with a CHECK; enumerations are TEXT with a CHECK listing them.
"""

from __future__ import annotations

SCHEMA_V1 = """
-- The ledger: one row per paid request, committed *before* its POST is sent, so
-- a crash or a lost answer can be reconciled instead of silently resubmitted.
CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY,
    -- uuid we generate before submitting; sent as Kling's external_task_id.
    client_key        TEXT    NOT NULL UNIQUE,
    engine            TEXT    NOT NULL,
    operation         TEXT    NOT NULL,
    -- submitting: intent stored, POST maybe sent; submitted: engine gave remote_id;
    -- archiving: results being downloaded; needs_attention: past the local deadline
    -- or unconfirmed, the user decides (never silently resubmitted).
    state             TEXT    NOT NULL DEFAULT 'submitting' CHECK (state IN (
                          'submitting', 'submitted', 'running', 'archiving', 'done',
                          'failed', 'needs_attention', 'expired', 'cancelled')),
    remote_id         TEXT,
    -- Every request parameter, so a retry or an edit rebuilds the same request.
    params_json       TEXT    NOT NULL
                          CHECK (json_valid(params_json) AND json_type(params_json) = 'object'),
    parent_take_id    INTEGER REFERENCES takes(id) ON DELETE SET NULL,
    -- "Try again" is a new task with a new client key, linked to the old one.
    retry_of_task_id  INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error        TEXT,
    engine_message    TEXT,
    -- Fraction done, 0..1; NULL while the engine says nothing.
    progress          REAL    CHECK (progress IS NULL OR progress BETWEEN 0 AND 1),
    cost              TEXT,
    -- Last raw answer as received (size-capped, redacted). Not CHECKed as JSON:
    -- an engine may answer with an HTML error page, which is kept too (faults J8).
    raw_response_json TEXT,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    submitted_at      TEXT,
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at       TEXT,
    -- Past this moment a running task "needs attention" rather than failing (faults P2).
    deadline_at       TEXT,
    next_poll_at      TEXT
);
CREATE INDEX tasks_by_state ON tasks (state);
CREATE INDEX tasks_by_remote_id ON tasks (engine, remote_id);
CREATE INDEX tasks_by_parent_take ON tasks (parent_take_id);
CREATE INDEX tasks_by_retry_of ON tasks (retry_of_task_id);

-- A take: one piece of audio an engine made (or the user imported).
CREATE TABLE takes (
    id             INTEGER PRIMARY KEY,
    -- NULL for imported audio; a take outlives the ledger row that produced it.
    task_id        INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    engine         TEXT    NOT NULL,
    model          TEXT,
    operation      TEXT    NOT NULL,
    -- The engine's music/audio id, needed for extend, cover, stems, downloads.
    remote_id      TEXT,
    parent_take_id INTEGER REFERENCES takes(id) ON DELETE SET NULL,
    title          TEXT    NOT NULL DEFAULT '',
    prompt         TEXT    NOT NULL DEFAULT '',
    lyrics         TEXT    NOT NULL DEFAULT '',
    params_json    TEXT    NOT NULL DEFAULT '{}'
                       CHECK (json_valid(params_json) AND json_type(params_json) = 'object'),
    -- Text: TTAPI sends seeds as strings, and a seed is an identifier, not a number.
    seed           TEXT,
    duration_s     REAL    CHECK (duration_s IS NULL OR duration_s >= 0),
    cost           TEXT,
    -- The engine's own description of this result, so a misread shape can be re-parsed.
    raw_json       TEXT,
    image_url      TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    favourite      INTEGER NOT NULL DEFAULT 0 CHECK (favourite IN (0, 1)),
    -- 0 means unrated; typeof() refuses 2.5, which BETWEEN alone would let by.
    rating         INTEGER NOT NULL DEFAULT 0
                       CHECK (typeof(rating) = 'integer' AND rating BETWEEN 0 AND 5),
    -- archived: every file is local; partial: some are; pending: not yet tried;
    -- expired: the engine's links died before we got them; missing: local files vanished.
    archive_state  TEXT    NOT NULL DEFAULT 'pending' CHECK (archive_state IN (
                       'archived', 'partial', 'expired', 'missing', 'pending')),
    -- Archiving a task twice must not duplicate its takes (NULLs stay distinct).
    UNIQUE (task_id, remote_id)
);
CREATE INDEX takes_by_remote_id ON takes (engine, remote_id);
CREATE INDEX takes_by_parent ON takes (parent_take_id);
CREATE INDEX takes_by_created ON takes (created_at);

-- Local (or still remote) files of a take: the mix, stems, cover art, video, exports.
CREATE TABLE files (
    id            INTEGER PRIMARY KEY,
    take_id       INTEGER NOT NULL REFERENCES takes(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN (
                      'audio', 'stem', 'cover', 'video', 'lyrics', 'export')),
    format        TEXT,               -- 'mp3', 'wav', 'm4a', 'png', 'mp4', ...
    remote_url    TEXT,               -- without any signature query string
    -- NULL until downloaded. UNIQUE so two takes can never share (overwrite) a file.
    local_path    TEXT    UNIQUE,
    size_bytes    INTEGER CHECK (size_bytes IS NULL OR size_bytes >= 0),
    sha256        TEXT    CHECK (sha256 IS NULL OR length(sha256) = 64),
    downloaded_at TEXT,
    -- When the engine's link stops working (Evolink: 24 h), to fetch in time.
    expires_at    TEXT
);
CREATE INDEX files_by_take ON files (take_id);

-- Named stems of a take; each points at its file once downloaded.
CREATE TABLE stems (
    id             INTEGER PRIMARY KEY,
    take_id        INTEGER NOT NULL REFERENCES takes(id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,  -- 'vocals', 'drums', 'bass', 'other', ...
    file_id        INTEGER REFERENCES files(id) ON DELETE SET NULL,
    -- Alignment against the take's mix, in samples; engines may pad stems.
    offset_samples INTEGER NOT NULL DEFAULT 0,
    UNIQUE (take_id, name)
);
CREATE INDEX stems_by_file ON stems (file_id);

-- Autosaved composer state, so a crash never loses a prompt being written.
CREATE TABLE drafts (
    id             INTEGER PRIMARY KEY,
    engine         TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    title          TEXT    NOT NULL DEFAULT '',
    prompt         TEXT    NOT NULL DEFAULT '',
    lyrics         TEXT    NOT NULL DEFAULT '',
    params_json    TEXT    NOT NULL DEFAULT '{}'
                       CHECK (json_valid(params_json) AND json_type(params_json) = 'object'),
    parent_take_id INTEGER REFERENCES takes(id) ON DELETE SET NULL,
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX drafts_by_engine ON drafts (engine, updated_at);
CREATE INDEX drafts_by_updated ON drafts (updated_at);
CREATE INDEX drafts_by_parent_take ON drafts (parent_take_id);

-- Named parameter sets the user saved for an engine.
CREATE TABLE presets (
    id          INTEGER PRIMARY KEY,
    engine      TEXT    NOT NULL,
    name        TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    operation   TEXT    NOT NULL,
    params_json TEXT    NOT NULL DEFAULT '{}'
                    CHECK (json_valid(params_json) AND json_type(params_json) = 'object'),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (engine, name)
);
"""
