"""What the headless commands print: JSON documents and readable tables.

Qt-free and pure apart from the library reads. The JSON shapes are the CLI
contract (issue 4): a task has at least ``id``, ``client_key``, ``engine``,
``operation``, ``state``, ``remote_id``, ``error`` and ``takes``; a take has
``id``, ``title``, ``files`` (format → absolute path), ``stems`` (name →
absolute path) and ``parent``. Further keys may be added, never renamed.

``files`` and ``stems`` name only files that are on disk; a file known but not
(yet) downloaded, or expired, appears in ``file_details`` with ``path`` null.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from studio.engines.spec import EngineSpec, FieldSpec, OperationSpec
from studio.library.takes import Take, TakeFile, TakeStore
from studio.tasks.ledger import TaskRecord

__all__ = [
    "engine_doc",
    "engines_table",
    "is_status_call",
    "print_json",
    "take_doc",
    "takes_table",
    "task_doc",
    "task_summary",
    "tasks_table",
]

# Non-stem file kinds, in the order that wins when two files share a format.
_KIND_ORDER = ("audio", "export", "video", "cover", "lyrics")


def is_status_call(operation: OperationSpec) -> bool:
    """A GET the studio makes itself to follow a job (TTAPI fetch, Kling query…).

    Such operations are in the specs so every call is declared once, but a user
    never submits them: they create nothing and cost nothing.
    """
    return operation.method.upper() == "GET"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _path(file: TakeFile) -> str | None:
    # Stored absolute by TakeStore; absolute() again costs nothing and makes it a rule here.
    return None if file.local_path is None else str(Path(file.local_path).absolute())


def _jsonable(value: Any) -> Any:
    """A spec default or choice as JSON has it (they are plain values; be safe anyway)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return str(value)


# --------------------------------------------------------------------------- engines


def _field_doc(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type.value,
        "required": spec.required,
        "default": _jsonable(spec.default),
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "step": spec.step,
        "choices": [_jsonable(choice) for choice in spec.choices],
        "max_length": spec.max_length,
        "help": spec.help,
    }


def _operation_doc(op: OperationSpec) -> dict[str, Any]:
    status_call = is_status_call(op)
    return {
        "id": op.id,
        "label": op.label,
        # "submit": `studio generate --op` accepts it; "status": the studio's own poll.
        "kind": "status" if status_call else "submit",
        "submittable": not status_call,
        "method": op.method,
        "path": op.path,
        "synchronous": op.synchronous,
        "paid": op.paid,
        "parent_field": op.parent_field,
        "fields": [_field_doc(spec) for spec in op.fields],
        "at_least_one": [list(group) for group in op.at_least_one],
        "mutually_exclusive": [list(group) for group in op.mutually_exclusive],
        "constants": {name: _jsonable(value) for name, value in op.constants.items()},
        "help": op.help,
    }


def engine_doc(spec: EngineSpec) -> dict[str, Any]:
    """An engine and every operation and field of its spec."""
    return {
        "id": spec.info.id,
        "name": spec.info.name,
        "operations": [_operation_doc(op) for op in spec.operations],
    }


def _field_brief(spec: FieldSpec) -> str:
    text = f"{spec.name}{'*' if spec.required else ''} ({spec.type.value}"
    if spec.choices:
        text += ": " + "|".join(str(choice) for choice in spec.choices)
    elif spec.describe_range():
        text += ", " + spec.describe_range()
    return text + ")"


def engines_table(specs: Sequence[EngineSpec]) -> str:
    """Every engine, its operations and their fields, for reading (``*`` = required)."""
    lines: list[str] = []
    for spec in specs:
        lines.append(f"{spec.info.id} — {spec.info.name}")
        for op in spec.operations:
            notes = []
            if is_status_call(op):
                notes.append("status call, used by Studio to follow jobs; not submittable")
            if op.parent_field:
                notes.append(f"parent: --parent TAKE_ID fills {op.parent_field}")
            if op.synchronous and not is_status_call(op):
                notes.append("answers at once")
            if not op.paid:
                notes.append("free")
            suffix = f"  [{'; '.join(notes)}]" if notes else ""
            lines.append(f"  {op.id:<20} {op.label}{suffix}")
            if not is_status_call(op):
                for field_spec in op.fields:
                    lines.append(f"      {_field_brief(field_spec)}")
                for group in op.at_least_one:
                    lines.append(f"      at least one of: {', '.join(group)}")
                for group in op.mutually_exclusive:
                    lines.append(f"      at most one of: {', '.join(group)}")
        lines.append("")
    lines.append("* required. Give fields as --param NAME=VALUE (lists: a,b or JSON).")
    return "\n".join(lines)


# --------------------------------------------------------------------------- takes


def take_doc(take: Take, takes: TakeStore) -> dict[str, Any]:
    """A take with its local files and stems (contract keys first)."""
    all_files = takes.files_for(take.id)
    stems = takes.stems_for(take.id)
    stem_ids = {file.id for file in stems.values()}
    files: dict[str, str] = {}
    ranked = sorted(
        (file for file in all_files if file.id not in stem_ids and file.kind != "stem"),
        key=lambda file: _KIND_ORDER.index(file.kind) if file.kind in _KIND_ORDER else 99,
    )
    for file in ranked:
        path = _path(file)
        if path is not None and file.format and file.format not in files:
            files[file.format] = path
    stem_paths = {name: path for name, file in stems.items() if (path := _path(file)) is not None}
    return {
        "id": take.id,
        "title": take.title,
        "files": files,
        "stems": stem_paths,
        "parent": take.parent_take_id,
        "engine": take.engine,
        "operation": take.operation,
        "task_id": take.task_id,
        "remote_id": take.remote_id,
        "archive_state": take.archive_state,
        "duration_s": take.duration_s,
        "created_at": _time(take.created_at),
        "file_details": [
            {
                "id": file.id,
                "kind": file.kind,
                "format": file.format,
                "path": _path(file),
                "size_bytes": file.size_bytes,
                "sha256": file.sha256,
                "downloaded_at": _time(file.downloaded_at),
            }
            for file in all_files
        ],
    }


def takes_table(docs: Sequence[dict[str, Any]]) -> str:
    """Takes as a table, each followed by its files and stems."""
    if not docs:
        return "No takes yet."
    header = f"{'ID':>5}  {'ENGINE':<9} {'OPERATION':<18} {'STATE':<9} {'PARENT':>6}  TITLE"
    lines = [header]
    for doc in docs:
        parent = "" if doc["parent"] is None else str(doc["parent"])
        lines.append(
            f"{doc['id']:>5}  {doc['engine']:<9} {doc['operation']:<18} "
            f"{doc['archive_state']:<9} {parent:>6}  {_clip(doc['title'] or '(untitled)', 50)}"
        )
        lines.extend(_file_lines(doc, indent="         "))
    return "\n".join(lines)


def _file_lines(doc: dict[str, Any], indent: str) -> list[str]:
    lines = [f"{indent}{fmt:<6} {path}" for fmt, path in doc["files"].items()]
    lines += [f"{indent}stem {name}: {path}" for name, path in doc["stems"].items()]
    missing = [d for d in doc["file_details"] if d["path"] is None]
    if missing:
        kinds = ", ".join(f"{d['kind']} {d['format'] or ''}".strip() for d in missing)
        lines.append(f"{indent}not on disk: {kinds}")
    return lines


# --------------------------------------------------------------------------- tasks


def task_doc(task: TaskRecord, takes: TakeStore) -> dict[str, Any]:
    """A ledger row with its takes (contract keys first)."""
    return {
        "id": task.id,
        "client_key": task.client_key,
        "engine": task.engine,
        "operation": task.operation,
        "state": task.state.value,
        "remote_id": task.remote_id,
        "error": task.last_error,
        "takes": [take_doc(take, takes) for take in takes.takes_for_task(task.id)],
        "engine_message": task.engine_message,
        "progress": task.progress,
        "cost": task.cost,
        "attempts": task.attempts,
        "params": task.params,
        "parent_take": task.parent_take_id,
        "retry_of": task.retry_of_task_id,
        "created_at": _time(task.created_at),
        "submitted_at": _time(task.submitted_at),
        "finished_at": _time(task.finished_at),
    }


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _excerpt(doc: dict[str, Any]) -> str:
    params = doc["params"]
    for name in ("title", "prompt", "sound_prompt", "soundPrompt", "lyrics_text", "lyrics"):
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def tasks_table(docs: Sequence[dict[str, Any]]) -> str:
    """The ledger as a table, newest first as given; errors on their own line."""
    if not docs:
        return "No tasks yet."
    header = (
        f"{'ID':>5}  {'ENGINE':<9} {'OPERATION':<18} {'STATE':<16} {'TAKES':>5}  "
        f"{'CREATED':<19}  PROMPT"
    )
    lines = [header]
    for doc in docs:
        created = (doc["created_at"] or "")[:19].replace("T", " ")
        lines.append(
            f"{doc['id']:>5}  {doc['engine']:<9} {doc['operation']:<18} {doc['state']:<16} "
            f"{len(doc['takes']):>5}  {created:<19}  {_clip(_excerpt(doc), 40)}"
        )
        if doc["error"]:
            lines.append(f"{'':7}{_clip(doc['error'], 110)}")
    return "\n".join(lines)


def task_summary(doc: dict[str, Any]) -> str:
    """One task in full, for ``generate``: state, ids, error, every take and file."""
    lines = [f"Task {doc['id']} ({doc['engine']} {doc['operation']}): {doc['state']}"]
    if doc["remote_id"]:
        lines.append(f"  remote id: {doc['remote_id']}")
    if doc["error"]:
        lines.append(f"  {doc['error']}")
    for take in doc["takes"]:
        lines.append(f"  take {take['id']}: {take['title'] or '(untitled)'}")
        lines.extend(_file_lines(take, indent="    "))
    return "\n".join(lines)


def print_json(document: Any, stream: IO[str] | None = None) -> None:
    """Print one JSON document (UTF-8 text kept readable, not \\u-escaped)."""
    out = stream or sys.stdout
    out.write(json.dumps(document, ensure_ascii=False, indent=2, default=str))
    out.write("\n")
    out.flush()
