"""Magic-byte sniffing (faults D5, F3)."""

from __future__ import annotations

import pytest

from studio.net.sniff import sniff


@pytest.mark.parametrize(
    ("head", "name", "kind"),
    [
        (b"ID3\x04\x00" + b"\x00" * 20, "mp3", "audio"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 20, "mp3", "audio"),
        (b"\xff\xf1\x50\x80" + b"\x00" * 20, "AAC", "audio"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "M4A", "audio"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "MP4", "audio"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "MP4", "video"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "WAV", "audio"),
        (b"fLaC\x00\x00\x00\x22", "FLAC", "audio"),
        (b"OggS\x00\x02", "Ogg", "audio"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG image", "image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image", "image"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP image", "image"),
    ],
)
def test_media_accepted(head: bytes, name: str, kind: str) -> None:
    found = sniff(head)
    assert found.name == name and kind in found.kinds


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"\xef\xbb\xbf  <!DOCTYPE html><html>", "HTML page"),
        (b"<html><body>503</body></html>", "HTML page"),
        (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "XML document"),
        (b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash">', "DASH manifest"),
        (b'{"error": "nope"}', "JSON document"),
        (b"[1, 2]", "JSON document"),
        (b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://evil/seg.ts\n", "HLS playlist"),
        (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "ffmpeg concat list"),
        (b"file '/etc/passwd'\n", "ffmpeg concat list"),
        (b"just some words", "text"),
        (b"\x00\x01\x02\x03", "unknown data"),
        (b"", "unknown data"),
    ],
)
def test_non_media_refused(head: bytes, name: str) -> None:
    found = sniff(head)
    assert found.name == name and not found.kinds
