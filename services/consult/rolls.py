"""The community office's rolls: import from CSV (a report of rejected lines), and the
paper one-time codes for households without phones."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from services.consult.domain.polls import Refused
from services.consult.domain.rolls import parse_roll
from services.consult.store import ConsultStore
from shared.reference.tree import Tree
from shared.residents import normalise_contact, resident_ref


def code_hash(code: str) -> str:
    return hashlib.sha256(f"linli-paper-code\x1f{code.strip().upper()}".encode()).hexdigest()


class Rolls:
    def __init__(self, store: ConsultStore, tree: Tree, resident_secret: str):
        self._store, self._tree, self._secret = store, tree, resident_secret

    def _building_check(self, office_node: str):
        def check(building: str) -> str | None:
            node = self._tree.get(building)
            if node is None:
                return f"no building {building!r} in the tree"
            if node.level != "building":
                return f"{building} is a {node.level}, not a building"
            if not self._tree.is_within(building, office_node):
                return f"{building} is outside {office_node}"
            return None

        return check

    async def import_csv(self, text: str, office_node: str) -> dict[str, Any]:
        """Replace the listed households' lines; rejected lines are reported, not stored."""
        report = parse_roll(text, self._building_check(office_node))
        docs = []
        for household in report.households:
            refs = sorted(
                {resident_ref(self._secret, normalise_contact(p, None)) for p in household.phones}
            )
            docs.append(
                {
                    "_id": household.key,
                    "building": household.building,
                    "household": household.household,
                    "resident_refs": refs,
                    "language": household.language,
                }
            )
        await self._store.put_households(docs)
        return {"accepted": len(docs), "rejected": report.rejected}

    async def paper_codes(self, poll_id: str, households: list[str]) -> list[dict[str, str]]:
        """One printed one-time code per household on the poll's frozen roll."""
        codes = []
        for household in households:
            if not await self._store.roll(poll_id).find_one({"_id": household}, {"_id": 1}):
                raise Refused("not_on_roll", f"{household} is not on this poll's roll", "body")
            code = "-".join(secrets.token_hex(2).upper() for _ in range(4))
            await self._store.papercodes.insert_one(
                {"_id": code_hash(code), "poll_id": poll_id, "household": household, "used": False}
            )
            codes.append({"household": household, "code": code})
        return codes

    async def paper_household(self, poll_id: str, code: str) -> tuple[str, Callable]:
        """The household a printed code stands for, and the claim to make once the ballot
        passed its checks: the code is bound to the first ballot key that uses it (a retry
        with that key after a crash or a refusal goes through; another key is refused).
        Nothing is written here, so a refused ballot leaves the code as it was."""
        hashed = code_hash(code)
        doc = await self._store.papercodes.find_one({"_id": hashed})
        if doc is None or doc["poll_id"] != poll_id:
            raise Refused("bad_code", "unknown or already used paper code", "body.paper_code")

        async def claim(commitment: str) -> None:
            if not await self._store.claim_paper_code(hashed, commitment):
                raise Refused("bad_code", "unknown or already used paper code", "body.paper_code")

        return doc["household"], claim
