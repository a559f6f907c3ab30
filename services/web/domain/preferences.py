"""The residents' preferences form, pure: the posted fields as notify's preferences body,
or each field's word key when it is wrong."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

CHANNELS = ("inbox", "sms")  # the ones a phone sign-in can reach
LANGUAGES = ("zh-CN", "en")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# message kinds a resident may turn off (urgent ones always come through)
OPT_OUTS = ("issue.acknowledged", "issue.progressed", "issue.reminded", "receipt.issued",
            "consult.poll-reminder")  # fmt: skip


def preferences_body(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """(notify's preferences body, errors). A webhook set over the API is not kept: the page
    offers the channels a phone sign-in can reach."""
    errors: dict[str, str] = {}
    channels = [c for c in form.getlist("channels") if c in CHANNELS]
    if len(channels) != len(form.getlist("channels")) or not channels:
        errors["channels"] = "r.choice"
    language = form.get("language")
    if language not in LANGUAGES:
        errors["language"] = "r.choice"
    start, end = str(form.get("quiet_start", "")).strip(), str(form.get("quiet_end", "")).strip()
    quiet = None
    if start or end:
        if not (HHMM.match(start) and HHMM.match(end)) or start == end:
            errors["quiet"] = "r.choice"
        quiet = {"start": start, "end": end}
    opt_outs = list(dict.fromkeys(form.getlist("opt_outs")))
    if any(kind not in OPT_OUTS for kind in opt_outs):
        errors["opt_outs"] = "r.choice"
    body = {"channels": channels, "language": language, "quiet_hours": quiet,
            "opt_outs": opt_outs}  # fmt: skip
    return body, errors
