"""The transport layer: shared httpx clients, retry/backoff, Retry-After, downloads.

Qt-free (enforced by the import-linter contract in ``pyproject.toml``). Engine
semantics live in :mod:`studio.engines`; this package only knows HTTP:

* :mod:`studio.net.errors` — transport errors (sent or not, refused, too large);
* :mod:`studio.net.retry` — ``parse_retry_after`` and the ``Backoff`` policy;
* :mod:`studio.net.client` — API and download clients, and ``send``;
* :mod:`studio.net.sniff` — file type from magic bytes;
* :mod:`studio.net.partfile` — the `.part` file: private writes, resume metadata, publish;
* :mod:`studio.net.download` — resumable, validated, atomic downloads.
"""
