"""What each business event posts: donations (online, offline, in-kind) and disbursements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.ledger.domain.accounts import (
    BANK,
    expense_account,
    in_kind_account,
    income_account,
)
from services.ledger.domain.journal import Draft, Leg, net_asset_pair


def donation_entry_id(donation_id: str) -> str:
    return f"donation:{donation_id}"


def disbursement_entry_id(disbursement_id: str) -> str:
    return f"disbursement:{disbursement_id}"


def donation_draft(
    *,
    donation_id: str,
    fund: str,
    channel: str,
    amount_fen: int,
    currency: str,
    at: datetime,
    item: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Draft:
    """Money or goods in: the asset against the channel's income, and the fund's net assets
    against the closing account (see ``accounts``). In-kind goods go to ``assets:in-kind:<item>``
    at their stated value."""
    asset = in_kind_account(item or "goods") if channel == "in-kind" else BANK
    legs = (
        Leg(asset, amount_fen, currency),
        Leg(income_account(channel), -amount_fen, currency),
        *net_asset_pair(fund, amount_fen, currency),
    )
    return Draft(
        entry_id=donation_entry_id(donation_id),
        fund=fund,
        kind="donation",
        legs=legs,
        at=at,
        meta={"channel": channel, **(meta or {})},
    )


def disbursement_draft(
    *,
    disbursement_id: str,
    fund: str,
    project: str,
    amount_fen: int,
    currency: str,
    at: datetime,
    source_account: str = BANK,
    payment_ref: str | None = None,
) -> Draft:
    """Spending on a project: the expense against the asset paid out (the bank, or goods
    handed over), and the fund shrinks by the same amount; the request's hold is released."""
    legs = (
        Leg(expense_account(project), amount_fen, currency),
        Leg(source_account, -amount_fen, currency),
        *net_asset_pair(fund, -amount_fen, currency),
    )
    return Draft(
        entry_id=disbursement_entry_id(disbursement_id),
        fund=fund,
        kind="disbursement",
        legs=legs,
        at=at,
        meta={"project": project, "disbursement_id": disbursement_id, "payment_ref": payment_ref},
        releases_hold=disbursement_id,
    )
