"""``trellis token``: bearer tokens in the data directory (stored hashed)."""

from __future__ import annotations

import argparse
import datetime

from rich.table import Table

from ..auth import TokenStore
from .context import Output, data_dir


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("token", parents=[common], help="create, list and revoke bearer tokens",
                       description="Manage the bearer tokens of a data directory. Once any token exists, "
                       "the server requires one on every request.")
    tsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = tsub.add_parser("create", parents=[common], help="create a token for an agent (printed once)")
    c.add_argument("agent", help="the agent name the token authenticates as")
    c.add_argument("--description", default="")
    c.set_defaults(run=create)
    ls = tsub.add_parser("list", parents=[common], help="list tokens (ids and agents, never the secrets)")
    ls.set_defaults(run=list_)
    r = tsub.add_parser("revoke", parents=[common], help="revoke a token by id")
    r.add_argument("token_id")
    r.set_defaults(run=revoke)


def create(args: argparse.Namespace) -> int:
    out = Output(args)
    record, token = TokenStore(data_dir(args)).create(args.agent, args.description)
    if out.json:
        out.data({"token_id": record.token_id, "agent": record.agent, "token": token})
    else:
        out.print(token)
        out.note(f"token {record.token_id} for agent {record.agent!r}: shown once, store it now "
                 "(pass with --token or TRELLIS_TOKEN)")
    return 0


def list_(args: argparse.Namespace) -> int:
    out = Output(args)
    records = TokenStore(data_dir(args)).list()
    if out.json:
        out.data([{"token_id": r.token_id, "agent": r.agent, "create_time": r.create_time,
                   "revoked": r.revoked, "description": r.description} for r in records])
        return 0
    table = Table("id", "agent", "created", "state", "description")
    for r in records:
        created = datetime.datetime.fromtimestamp(r.create_time).isoformat(timespec="seconds")
        table.add_row(r.token_id, r.agent, created, "revoked" if r.revoked else "active", r.description)
    out.print(table)
    return 0


def revoke(args: argparse.Namespace) -> int:
    out = Output(args)
    record = TokenStore(data_dir(args)).revoke(args.token_id)
    if out.json:
        out.data({"token_id": record.token_id, "revoked": True})
    else:
        out.print(f"revoked token {record.token_id} ({record.agent})")
    return 0
