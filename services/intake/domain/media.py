"""Photos: what we accept is decided by the bytes (magic numbers), never by the client."""

from __future__ import annotations

from services.intake.domain.text import ReportRejected


def sniff_image(data: bytes) -> str | None:
    """``image/jpeg``, ``image/png`` or ``image/webp`` by signature, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: bytes, max_bytes: int, field: str = "file") -> str:
    if not data:
        raise ReportRejected(field, "empty", "the file is empty")
    if len(data) > max_bytes:
        raise ReportRejected(field, "too_large", f"at most {max_bytes} bytes")
    kind = sniff_image(data)
    if kind is None:
        raise ReportRejected(field, "unsupported_type", "only JPEG, PNG or WebP images")
    return kind
