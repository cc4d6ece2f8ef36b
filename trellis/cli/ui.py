"""``trellis ui``: the web viewer over a local data directory, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from .context import Output, data_dir

if TYPE_CHECKING:
    from ..server import RunningServer

DEFAULT_LISTEN = "127.0.0.1:7480"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ui",
        parents=[common],
        help="browse a local data directory in the web viewer",
        description="Open the data directory (which no server may be using: for a running one, use `trellis serve "
        "--http`) and serve the read-only web viewer on a loopback address until Ctrl-C: sessions step by step, "
        "commits with their entity changes, diffs and verdicts, entity histories, merge previews and an SQL "
        "console (docs/ui.md). With tokens in the data directory it asks for one, as the server does.",
    )
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="loopback address to serve on (default %(default)s; port 0 picks a free port)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import config as cfg
    from ..server import ConfigError, serve

    out = Output(args)
    if not cfg.is_loopback(args.listen):
        raise ConfigError(
            f"trellis ui serves loopback addresses only, not {args.listen}: to serve the viewer to "
            "others, run `trellis serve --http HOST:PORT` with TLS and tokens"
        )
    root = data_dir(args, existing=True)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("trellis").setLevel(logging.ERROR)

    def start(running: RunningServer) -> Callable[[], None]:
        from ..web import start_http

        web = start_http(running, root, args.listen)
        if out.json:
            out.data({"url": web.url, "data_dir": str(root)})
        else:
            out.print(f"Trellis web viewer on [bold]{web.url}/[/] (data in {root}); Ctrl-C stops it")
        return web.stop

    stopped_by = serve(
        cfg.ServerConfig(data_dir=root, address="127.0.0.1:0", durability=cfg.env_durability()), on_started=start
    )
    return 130 if stopped_by == signal.SIGINT else 0  # Ctrl-C: 130, as every command; SIGTERM: a clean stop
