"""What the public sees and what auditors load: the quarterly disclosure (CSV and a printable
page) and the journal in hledger's format. Pure text rendering of parsed entry bodies; no donor
data beyond the name a donor chose to show."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from typing import Any

ANONYMOUS = "匿名 anonymous"
CSV_HEADER = ("date", "campaign", "kind", "detail", "amount_yuan", "currency", "donor", "entry")


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _amount(body: dict[str, Any]) -> int:
    """The entry's effect on its fund, positive for money in."""
    return sum(-f for a, f, _ in body["legs"] if a.startswith("funds:"))


def disclosure_rows(bodies: Iterable[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for b in bodies:
        meta = b.get("meta") or {}
        if b["kind"] == "donation":
            detail, donor = meta.get("channel", ""), meta.get("donor_name") or ANONYMOUS
        elif b["kind"] == "disbursement":
            detail, donor = meta.get("project", ""), ""
        else:
            detail, donor = f"reverses {b.get('reverses')}", ""
        currency = b["legs"][0][2]
        rows.append(
            (b["at"][:10], b["fund"], b["kind"], detail, yuan(_amount(b)), currency, donor, b["id"])
        )
    return rows


def disclosure_csv(quarter: str, summaries: list[dict[str, Any]], rows: list[tuple]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        (
            "section",
            "quarter",
            "campaign",
            "raised_online",
            "raised_offline",
            "raised_in_kind",
            "raised_total",
            "spent",
            "balance_now",
            "held_now",
            "available_now",
        )
    )
    for s in summaries:
        q = s["quarters"].get(quarter, {"raised": {}, "spent": 0})
        r = q["raised"]
        w.writerow(
            (
                "summary",
                quarter,
                s["id"],
                yuan(r.get("online", 0)),
                yuan(r.get("offline", 0)),
                yuan(r.get("in-kind", 0)),
                yuan(r.get("total", 0)),
                yuan(q["spent"]),
                yuan(s["balance_fen"]),
                yuan(s["held_fen"]),
                yuan(s["available_fen"]),
            )
        )
    w.writerow(())
    w.writerow(("section", *CSV_HEADER))
    for row in rows:
        w.writerow(("entry", *row))
    return out.getvalue()


def disclosure_html(quarter: str, summaries: list[dict[str, Any]], rows: list[tuple]) -> str:
    e = html.escape
    head = "".join(
        f"<tr><td>{e(s['name'])}</td>"
        + "".join(
            f"<td class=n>{yuan(v)}</td>"
            for v in (
                s["quarters"].get(quarter, {}).get("raised", {}).get(ch, 0)
                for ch in ("online", "offline", "in-kind", "total")
            )
        )
        + f"<td class=n>{yuan(s['quarters'].get(quarter, {}).get('spent', 0))}</td>"
        f"<td class=n>{yuan(s['balance_fen'])}</td><td class=n>{yuan(s['held_fen'])}</td>"
        f"<td class=n>{yuan(s['available_fen'])}</td>"
        f"<td class=h>{e(s['chain']['head'][:16])}…</td></tr>"
        for s in summaries
    )
    lines = "".join(
        "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>嘉州社区发展公益慈善基金 {e(quarter)} 信息公开 / Quarterly disclosure</title>
<style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #999;padding:.25em .5em}} .n{{text-align:right}}
.h{{font-family:monospace}} @media print{{body{{margin:0}}}}
</style></head><body>
<h1>嘉州社区发展公益慈善基金 · {e(quarter)} 信息公开</h1>
<p>Quarterly disclosure of the community-development charity fund (amounts in yuan). Donors are
anonymous unless they chose to be named. The chain head lets anyone check later that these
entries were not changed.</p>
<table><tr><th>campaign</th><th>online</th><th>offline</th><th>in-kind</th><th>raised</th>
<th>spent</th><th>balance</th><th>held</th><th>available</th><th>chain head</th></tr>{head}</table>
<table><tr>{"".join(f"<th>{h}</th>" for h in CSV_HEADER)}</tr>{lines}</table>
</body></html>
"""


def hledger_entry(body: dict[str, Any], entry_hash: str) -> str:
    """One entry as an hledger transaction; ids and hashes as tags."""
    meta = body.get("meta") or {}
    detail = meta.get("channel") or meta.get("project") or body.get("reverses") or ""
    desc = f"{body['kind']} {body['fund']} {detail}".strip().replace(";", ",")
    lines = [
        f"{body['at'][:10]} * {desc}  ; id:{body['id']}, seq:{body['seq']}, hash:{entry_hash[:16]}"
    ]
    for account, fen, currency in body["legs"]:
        lines.append(f"    {account:<40}  {currency} {yuan(fen)}")
    return "\n".join(lines) + "\n"


def hledger_declarations(accounts: Iterable[str], currencies: Iterable[str]) -> str:
    out = [f"commodity {c} 1000.00" for c in sorted(set(currencies))]
    out += [f"account {a}" for a in sorted(set(accounts))]
    return "\n".join(out) + "\n\n"
