"""``trellis serve``: run the server in the foreground."""

from __future__ import annotations

import argparse
import logging

from rich.logging import RichHandler

from .. import config as cfg
from .context import data_dir


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="run the Trellis server",
                       description="Run the Trellis gRPC server until SIGTERM/SIGINT (in-flight requests finish).")
    p.add_argument("--listen", default=cfg.DEFAULT_ADDRESS, metavar="HOST:PORT",
                   help=f"address to listen on (default {cfg.DEFAULT_ADDRESS}; port 0 picks a free port)")
    p.add_argument("--max-workers", type=int, default=128, help="RPC worker threads; each open stream holds one (default 128)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..server import serve

    logging.basicConfig(level=args.log_level.upper(), format="%(message)s",
                        handlers=[RichHandler(show_path=False, rich_tracebacks=False)])
    serve(cfg.ServerConfig(data_dir=data_dir(args), address=args.listen, max_workers=args.max_workers))
    return 0
