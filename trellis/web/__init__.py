"""The web viewer (``trellis serve --http``, ``trellis ui``): sessions, commits, verdicts and SQL in a browser.

Read-only pages over a running server's own store, index and verifier
(:mod:`trellis.web.pages`), served by Starlette with Jinja templates, a little
htmx and Chart.js shipped in ``static/`` (nothing from a CDN). See docs/ui.md.
"""

from .app import COOKIE, build_app, url
from .pages import Services
from .server import WebServer, start_http

__all__ = ["COOKIE", "Services", "WebServer", "build_app", "start_http", "url"]
