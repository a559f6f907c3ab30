"""A report's photo as the console shows it: only one stored by intake (``/api/v1/media/<id>``
at whatever address the reporter used), served again from the console's own origin; any
other address is named, never loaded (the pages load nothing from elsewhere)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MEDIA_PATH = re.compile(r"^/api/v1/media/(med_[0-9a-z]{26})$")
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


def media_id_of(url: str | None) -> str | None:
    """Intake's id of the photo at ``url``; None when it is not one of intake's."""
    if not url:
        return None
    try:
        found = MEDIA_PATH.match(urlsplit(url).path)
    except ValueError:
        return None
    return found.group(1) if found else None
