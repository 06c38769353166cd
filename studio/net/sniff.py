"""Tell what a downloaded file is from its first bytes, never from its headers.

Qt-free and pure. A result URL that answers 200 with an error page, a JSON
error, or a playlist pointing ffmpeg at other hosts (faults D5, F3) must be
refused before the file gets its final name; ``Content-Type`` is whatever
the CDN felt like, so only magic bytes count.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SNIFF_BYTES", "Sniffed", "sniff"]

# Enough for every signature below, and for an HTML page's leading whitespace.
SNIFF_BYTES = 512

# ISO-BMFF brands that are audio-only; others (isom, mp42, …) may be either.
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_VIDEO_BRANDS = {b"qt  ", b"M4V ", b"M4VH", b"M4VP"}


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say.

    Attributes:
        name: a short human name, e.g. "mp3", "HTML page".
        kinds: the media kinds it can be ("audio", "image", "video"); empty for
            things that are never media (text, markup, playlists).
    """

    name: str
    kinds: frozenset[str]


def _media(name: str, *kinds: str) -> Sniffed:
    return Sniffed(name, frozenset(kinds))


def _text_kind(head: bytes) -> Sniffed | None:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"#extm3u"):
        return Sniffed("HLS playlist", frozenset())
    if text.startswith(b"ffconcat") or text.startswith(b"file "):
        return Sniffed("ffmpeg concat list", frozenset())
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return Sniffed("HTML page", frozenset())
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        if b"<mpd" in text:
            return Sniffed("DASH manifest", frozenset())
        if b"<html" in text:
            return Sniffed("HTML page", frozenset())
        return Sniffed("XML document", frozenset())
    if text.startswith((b"{", b"[")):
        return Sniffed("JSON document", frozenset())
    return None


def sniff(head: bytes) -> Sniffed:
    """Name the file type of ``head`` (the file's first :data:`SNIFF_BYTES` bytes).

    Returns:
        A :class:`Sniffed`; unknown data gets ``kinds`` empty and the name
        "text" or "unknown data".
    """
    if head.startswith(b"ID3"):
        return _media("mp3", "audio")
    if head.startswith(b"\xff\xd8\xff"):
        return _media("JPEG image", "image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _media("PNG image", "image")
    if head.startswith(b"fLaC"):
        return _media("FLAC", "audio")
    if head.startswith(b"OggS"):
        return _media("Ogg", "audio")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _media("WAV", "audio")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _media("WebP image", "image")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _media("WebM/Matroska", "audio", "video")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return _media("M4A", "audio")
        if brand in _VIDEO_BRANDS:
            return _media("MP4 video", "video")
        return _media("MP4", "audio", "video")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync; 0xFFF1/0xFFF9 are ADTS AAC, also audio.
        return _media("mp3" if head[1] & 0x06 else "AAC", "audio")
    textual = _text_kind(head)
    if textual is not None:
        return textual
    if head and all(b in b"\t\n\r" or 32 <= b < 127 or b >= 0x80 for b in head[:64]):
        return Sniffed("text", frozenset())
    return Sniffed("unknown data", frozenset())
