"""A ballot form as consult takes it, and the ballot key a device keeps. Pure: the form's
values in, the choice (option ids in rank order) or the reason out.

- single choice: one radio ``choice``;
- multiple choice: checkboxes ``choice`` (at most the poll's maximum);
- ranked choice, with no script: a select ``rank-<option>`` per option holding 1..n or
  nothing; the ranks given must be distinct, and the choice is the options in rank order.

The ballot key (README: secret and verifiable ballots) is made here for a first ballot and
kept by the voter's browser in a cookie sent only to the poll's pages, never by the web: the
same key changes the ballot later; the receipt page shows it to note for another device."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

KEY = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
POLL_ID = r"^poll_[0-9a-z_-]{3,60}$"


class BadChoice(ValueError):
    """The form's choice does not fit the poll; ``str(exc)`` says why (for the page)."""


def new_ballot_key() -> str:
    return secrets.token_urlsafe(32)


def usable_key(text: Any) -> str | None:
    """A ballot key as typed or kept; None when it is no key at all."""
    return text.strip() if isinstance(text, str) and KEY.match(text.strip()) else None


def key_cookie(poll_id: str) -> str:
    return f"linli_ballot_{poll_id}"


def receipt_cookie(poll_id: str) -> str:
    return f"linli_receipt_{poll_id}"


def choice_of(poll: Mapping[str, Any], values: Mapping[str, Sequence[str]]) -> list[str]:
    """The choice a posted form makes (``values``: each field's values)."""
    ids = [o["id"] for o in poll["options"]]
    kind = poll["kind"]
    if kind == "ranked":
        return _ranking(ids, values)
    chosen = [v for v in values.get("choice", ()) if v]
    unknown = [v for v in chosen if v not in ids]
    if unknown:
        raise BadChoice(f"choice: no option {unknown[0]}")
    if not chosen:
        raise BadChoice("choice: choose at least one option")
    most = 1 if kind == "single" else int(poll.get("max_choices") or 1)
    if len(set(chosen)) > most:
        raise BadChoice(f"choice: at most {most}")
    return list(dict.fromkeys(chosen))


def _ranking(ids: list[str], values: Mapping[str, Sequence[str]]) -> list[str]:
    ranks: dict[int, str] = {}
    for option in ids:
        given = [v for v in values.get(f"rank-{option}", ()) if v]
        if not given:
            continue
        if len(given) > 1 or not given[0].isdigit() or not 1 <= int(given[0]) <= len(ids):
            raise BadChoice(f"rank-{option}: a rank from 1 to {len(ids)}")
        rank = int(given[0])
        if rank in ranks:
            raise BadChoice(f"rank-{option}: rank {rank} is given twice")
        ranks[rank] = option
    if not ranks:
        raise BadChoice("choice: rank at least one option")
    return [ranks[r] for r in sorted(ranks)]


def turnout_share(results: Mapping[str, Any]) -> int:
    """The turnout as a whole percentage of the roll frozen at opening."""
    roll = results.get("roll_size") or 0
    return round(100 * results.get("turnout", 0) / roll) if roll else 0


def receipt_status(receipt: str, ballots: Sequence[Mapping[str, Any]]) -> str:
    """``found`` (counted), ``replaced`` (a later ballot of the household names it as the one
    it replaced) or ``missing``."""
    if any(b.get("prev") == receipt for b in ballots):
        return "replaced"
    if any(b.get("receipt") == receipt for b in ballots):
        return "found"
    return "missing"
