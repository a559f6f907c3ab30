"""``linli web users``: the web console's staff accounts (operators create, list, disable and
reset them; passwords are read from the terminal or stdin, never from the command line)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shared.mongo import make_client
from shared.settings import Settings

app = typer.Typer(help="Web console: staff accounts.", no_args_is_help=True)
users = typer.Typer(help="Staff accounts of the web console.", no_args_is_help=True)
app.add_typer(users, name="users")
console = Console()
JIADING = "sz.haitang.xianjie.jiading"  # the consult demo's compound (services/consult/demo.py)
DEMO_PASSWORD = "linli-demo-2026"  # development only: production refuses demo accounts
DEMO_ACCOUNTS = (
    # user name, role, scope, party, name
    ("niuerqiao", "office", "sz.tongjiang.niuerqiao", None, "牛咡桥社区 (community)"),
    ("tongjiang", "office", "sz.tongjiang", None, "通江街道 (street)"),
    ("district", "office", "sz", None, "区指挥中心 (district)"),
    ("urban-mgmt", "department", "urban-mgmt", None, "城管 (department)"),
    ("zhujian", "department", "zhujian", None, "住建 (department)"),
    ("fund-clerk", "fund-clerk", "*", None, "基金前台 (clerk)"),
    ("fund-treasurer", "fund-treasurer", "*", None, "基金出纳 (treasurer)"),
    ("fund-branch", "fund-approver", "*", "party-branch", "党支部 (approver)"),
    ("fund-owners", "fund-approver", "*", "owners-committee", "业委会 (approver)"),
    ("fund-property", "fund-approver", "*", "property-company", "物业 (approver)"),
    ("operator", "operator", "sz", None, "应急值班 (operator)"),
    ("xianjie", "office", "sz.haitang.xianjie", None, "县街社区 (community)"),
    ("jiading-branch", "compound-party", JIADING, "party-branch", "嘉定小院 党支部 (party)"),
    ("jiading-owners", "compound-party", JIADING, "owners-committee", "嘉定小院 业委会 (party)"),
    ("jiading-self", "compound-party", JIADING, "self-management", "嘉定小院 自管小组 (party)"),
)


def with_staff(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from services.web.app import staff_for

    async def run() -> Any:
        client = make_client(settings.mongodb_url, app_name="linli-cli")
        try:
            return await work(staff_for(settings, client[settings.database_name("web")]))
        finally:
            await client.close()

    return asyncio.run(run())


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(1)


@users.command("create")
def create(
    username: str = typer.Argument(..., help="Sign-in name (a-z 0-9 . _ -)."),
    role: str = typer.Option(
        ...,
        help="office, department, fund-clerk, fund-treasurer, fund-approver, operator or "
        "compound-party.",
    ),
    scope: str = typer.Option(
        ...,
        help="Node id (office, operator; a compound for a compound party), department code, "
        "or fund id or * (fund roles).",
    ),
    party: str = typer.Option(
        "",
        help="A fund approver's or compound party's party: party-branch, owners-committee, "
        "property-company (self-management for a compound without one).",
    ),
    name: str = typer.Option("", help="The person's name, shown in the console."),
    password_stdin: bool = typer.Option(False, help="Read the password from stdin."),
) -> None:
    """Create a staff account."""
    from services.web.domain.accounts import AccountError, Scope

    settings = Settings()
    password = _password(password_stdin)
    try:
        with_staff(settings, lambda s: s.create_user(
            username, password, Scope(role, scope, party or None), name))  # fmt: skip
    except AccountError as exc:
        _fail(exc)
    console.print(f"created {username} ({role} at {scope})", highlight=False)


@users.command("list")
def list_users() -> None:
    """Every staff account: role, scope, active, locked."""
    settings = Settings()
    found = with_staff(settings, lambda s: s.store.all_users())
    table = Table("user", "name", "role", "scope", "party", "active", "locked until")
    for u in found:
        table.add_row(u["_id"], u.get("name", ""), u["role"], u["code"], u.get("party") or "",
                      str(u.get("active")), str(u.get("locked_until") or ""))  # fmt: skip
    console.print(table)


@users.command("disable")
def disable(username: str) -> None:
    """Disable an account (its sessions stop working at their next request)."""
    from services.web.domain.accounts import AccountError

    try:
        with_staff(Settings(), lambda s: s.set_active(username, False))
    except AccountError as exc:
        _fail(exc)
    console.print(f"disabled {username}", highlight=False)


@users.command("reset")
def reset(
    username: str,
    password_stdin: bool = typer.Option(False, help="Read the password from stdin."),
) -> None:
    """Set a new password (also lifts a lock-out)."""
    from services.web.domain.accounts import AccountError

    password = _password(password_stdin)
    try:
        with_staff(Settings(), lambda s: s.reset_password(username, password))
    except AccountError as exc:
        _fail(exc)
    console.print(f"new password set for {username}", highlight=False)


def create_demo_accounts(settings: Settings) -> list[str]:
    """The demo account of each role (development only); those that exist are kept."""
    from services.web.domain.accounts import AccountError, Scope

    if settings.env == "production":
        raise RuntimeError("demo accounts are refused in production")

    async def work(staff: Any) -> list[str]:
        made = []
        for username, role, scope, party, name in DEMO_ACCOUNTS:
            with suppress(AccountError):  # it exists
                await staff.create_user(username, DEMO_PASSWORD, Scope(role, scope, party), name)
            made.append(f"{username} ({name})")
        return made

    return with_staff(settings, work)
