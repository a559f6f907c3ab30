"""The ballot records and how they are derived; see the README's "Secret and verifiable
ballots" for the argument.

- An eligibility **token** per household and poll, ``_id = token_id(server key, poll,
  household)``, created when the poll opens. Casting binds it once to ``H(ballot key)``,
  where the ballot key is a secret the voter's device (or paper sheet) holds and the service
  never stores.
- A **ballot** ``_id = ballot_id(ballot key, token, n)`` for the household's n-th ballot,
  holding only the choice, its receipt and the receipt of the ballot it replaces (``prev``).
  Inserting it is the single atomic write that casts (n = 1) or changes (n > 1) a ballot; a
  second insert of the same n collides on ``_id``, so a household's ballots form one chain.
- **Counting**: the heads of the chains, i.e. ballots no other ballot names as ``prev``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

KEY_MIN_CHARS = 32


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def token_id(server_key: str, poll_id: str, household: str) -> str:
    """The household's eligibility record: unreadable as a household without the key."""
    return "t_" + _mac(server_key.encode(), "token", poll_id, household)[:40]


def key_commitment(ballot_key: str) -> str:
    """What the token stores of the voter's key: enough to recognise it, not to use it."""
    return hashlib.sha256(f"linli-ballot-key\x1f{ballot_key}".encode()).hexdigest()


def ballot_id(ballot_key: str, token: str, n: int) -> str:
    return "b_" + _mac(ballot_key.encode(), "ballot", token, str(n))[:40]


def receipt(ballot: str, choice: tuple[str, ...]) -> str:
    """Published beside the choice; the voter keeps it to find their ballot in the list."""
    text = json.dumps([ballot, list(choice)], separators=(",", ":"))
    return "r_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def heads(ballots: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ballots that count: those no other ballot replaced (one per household's chain)."""
    items = list(ballots)
    replaced = {b["prev"] for b in items if b.get("prev")}
    return [b for b in items if b["receipt"] not in replaced]


# A batch of ballots as stored for counting: one document per batch of concurrent casts, its
# ballots as lines ``receipt<TAB>prev<TAB>choice,choice`` sorted by receipt (so the order inside
# says nothing of when each was cast), the whole batch one string (one value to decode). The
# count works on these lines as they are: a receipt has a fixed width, so the receipt, the one
# it replaced and the choice are slices of the line.
Packed = tuple[str, str | None, tuple[str, ...]]
RECEIPT_CHARS = 34  # "r_" and 32 hex digits
_PREV = RECEIPT_CHARS + 1  # where the replaced receipt starts (a tab, when there is none)


def line(receipt_: str, prev: str | None, choice: Iterable[str]) -> str:
    return f"{receipt_}\t{prev or ''}\t{','.join(choice)}"


def pack(ballots: Iterable[Packed]) -> str:
    return "\n".join(sorted(line(r, p, c) for r, p, c in ballots))


def unpack(text: str) -> list[Packed]:
    rows: list[Packed] = []
    for item in text.split("\n"):
        receipt_, prev, choice = item.split("\t")
        rows.append((receipt_, prev or None, tuple(choice.split(","))))
    return rows


def counted_choices(lines: set[str]) -> Counter[str]:
    """How many counted ballots chose each ranking (as its ``a,b,c`` text): the heads of the
    chains, i.e. the lines whose receipt no other line names as replaced."""
    replaced = {x[_PREV : _PREV + RECEIPT_CHARS] for x in lines if x[_PREV] != "\t"}
    return Counter(
        x[_PREV + 1 :] if x[_PREV] == "\t" else x[_PREV + RECEIPT_CHARS + 1 :]
        for x in lines
        if x[:RECEIPT_CHARS] not in replaced
    )


def digest(lines: set[str]) -> str:
    """SHA-256 of the published list in its canonical form: its lines sorted, one per line."""
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def published_rows(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The published list: each ballot once (a batch written twice by a retry holds the same
    ballots), sorted by receipt."""
    rows = []
    for r, p, c in unpack("\n".join(sorted(set(lines)))):
        rows.append({"receipt": r, "prev": p, "choice": list(c)})
    return rows


def lines_of(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """A published list back to its lines (what a recount counts)."""
    return {line(r["receipt"], r.get("prev"), r["choice"]) for r in rows}
