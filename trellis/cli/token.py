"""``trellis token``: bearer tokens and their grants in the data directory (stored hashed).

Token management is the operator's: it edits ``tokens.json`` next to the data
(no RPC creates tokens), and a running server picks changes up at once.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .context import Output, data_dir, new_table

if TYPE_CHECKING:
    from ..auth import TokenRecord
    from ..authz import Grant


class _Roles:
    """The role names, for ``choices``: trellis.authz (protobuf) loads only when --role is given or help printed."""

    def _labels(self) -> list[str]:
        from ..authz import Role

        return [r.label for r in Role]

    def __contains__(self, value: object) -> bool:
        return value in self._labels()

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels())


_ROLES = _Roles()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "token",
        parents=[common],
        help="create, list and revoke bearer tokens",
        description="Manage the bearer tokens of a data directory. Once any token exists, "
        "the server requires one on every request. A token authenticates one agent and "
        "grants it roles per repository: reader < agent < maintainer < admin.",
    )
    tsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = tsub.add_parser(
        "create",
        parents=[common],
        help="create a token for an agent (printed once)",
        description="Create a token for AGENT. The token gets --role on every --repo "
        "(default: agent on '*', every repository), plus any --grant. Examples: "
        "`trellis token create ci --role reader`; "
        "`trellis token create lead --role maintainer --repo demo --repo 'lib-*'`; "
        "`trellis token create ops --role admin`; "
        "`trellis token create bot --grant demo:maintainer --grant '*:reader'`.",
    )
    c.add_argument("agent", help="the agent name the token authenticates as")
    c.add_argument(
        "--role",
        choices=_ROLES,
        default=None,
        metavar="ROLE",
        help="the role the token gets on each --repo: %(choices)s (default agent)",
    )
    c.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a repository name or glob ('*', 'team-*') the role applies to; repeatable (default '*')",
    )
    c.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="PATTERN:ROLE",
        help="one more grant, such as 'demo:maintainer' or '*:reader'; repeatable",
    )
    c.add_argument("--description", default="", help="a note shown by token list, e.g. who holds the token")
    c.set_defaults(run=create)
    ls = tsub.add_parser("list", parents=[common], help="list tokens (ids, agents and grants, never the secrets)")
    ls.set_defaults(run=list_)
    r = tsub.add_parser("revoke", parents=[common], help="revoke a token by id (refused at once)")
    r.add_argument("token_id", help="the token's id (from token list), not the secret")
    r.set_defaults(run=revoke)


def _grants(args: argparse.Namespace) -> tuple[Grant, ...]:
    from ..authz import Grant, Role

    extra = [Grant.parse(text) for text in args.grant]
    if args.repo or args.role or not extra:
        role = Role.parse(args.role or "agent")
        extra = [Grant(pattern, role) for pattern in (args.repo or ["*"])] + extra
    return tuple(extra)


def _grants_json(record: TokenRecord) -> list[dict[str, str]]:
    return [{"repositories": pattern, "role": role} for pattern, role in record.grants]


def create(args: argparse.Namespace) -> int:
    from ..auth import TokenStore

    out = Output(args)
    record, token = TokenStore(data_dir(args)).create(args.agent, args.description, _grants(args))
    if out.json:
        out.data({"token_id": record.token_id, "agent": record.agent, "token": token, "grants": _grants_json(record)})
    else:
        out.print(token)
        grants = ", ".join(f"{role} on {pattern!r}" for pattern, role in record.grants)
        out.note(
            f"token {record.token_id} for agent {record.agent!r} ({grants}): shown once, store it now "
            "(pass with --token or TRELLIS_TOKEN)"
        )
    return 0


def list_(args: argparse.Namespace) -> int:
    from ..auth import TokenStore

    out = Output(args)
    records = TokenStore(data_dir(args, existing=True)).list()
    if out.json:
        out.data(
            [
                {
                    "token_id": r.token_id,
                    "agent": r.agent,
                    "create_time": r.create_time,
                    "revoked": r.revoked,
                    "description": r.description,
                    "grants": _grants_json(r),
                }
                for r in records
            ]
        )
        return 0
    table = new_table("id", "agent", "grants", "created", "state", "description")
    for r in records:
        created = datetime.datetime.fromtimestamp(r.create_time).isoformat(timespec="seconds")
        grants = ", ".join(f"{pattern}:{role}" for pattern, role in r.grants)
        table.add_row(r.token_id, r.agent, grants, created, "revoked" if r.revoked else "active", r.description)
    out.print(table)
    return 0


def revoke(args: argparse.Namespace) -> int:
    from ..auth import TokenStore

    out = Output(args)
    record = TokenStore(data_dir(args, existing=True)).revoke(args.token_id)
    if out.json:
        out.data({"token_id": record.token_id, "revoked": True})
    else:
        out.print(f"revoked token {record.token_id} ({record.agent})")
    return 0
