"""The web viewer's HTTP surface: routes, authentication, access checks, rendering.

Every route is a GET that reads (the login form's POST only sets a cookie):
nothing here writes to a repository. A request is authenticated like a gRPC
call — the same bearer tokens (``Authorization: Bearer …`` or the
``trellis_token`` cookie that ``/login`` sets), or nobody at all on a
local-mode server — and each page checks the caller's role in its repository
with :class:`trellis.authz.Principal`, so the grants mean the same on both
surfaces: any role reads a repository, the SQL console needs a grant on ``*``
(as ``Query``). Domain errors become HTTP statuses through
:func:`trellis.errors.status_for` (the one error table) and :data:`_HTTP`.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from trellis.query import QueryLimits, run_query
from trellis.vcs import NotFound, PermissionDenied

from ..auth import TokenStore
from ..authz import LOCAL_GRANTS, Principal
from ..errors import DOMAIN_ERRORS, DomainError, Unauthenticated, status_for
from ..quotas import QuotaExceeded, QuotaTracker
from . import pages
from .pages import Services, SessionFilters, StepFilters

__all__ = ["COOKIE", "build_app"]

log = logging.getLogger("trellis.web")

COOKIE = "trellis_token"
HERE = Path(__file__).parent
CONSOLE_ROWS = 1000
"""Rows the SQL console shows (downloads take up to the query limit)."""

_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.UNIMPLEMENTED: 501,
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(short=lambda v: (v or "")[:12], when=_when, ms=_ms, cost=_cost, number=_number)
    env.globals.update(url=url, quote=_quote)
    return env


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="/")


def url(*parts: str, **query: Any) -> str:
    """``/repositories/{repo}/sessions/{id}`` from its parts (each quoted), with the non-empty query items."""
    path = "/" + "/".join(
        urllib.parse.quote(str(p), safe="/" if i == len(parts) - 1 else "") for i, p in enumerate(parts)
    )
    items = {k: v for k, v in query.items() if v not in ("", None, 0)}
    return path + ("?" + urllib.parse.urlencode(items) if items else "")


def _when(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, dt.datetime) else str(value)


def _ms(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def _cost(value: Any) -> str:
    return f"${value:.4f}" if value else ""


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value or "")


class WebApp:
    """The pages of one server: its services, its tokens and its templates."""

    def __init__(
        self,
        services: Services,
        tokens: TokenStore,
        *,
        require_tokens: bool,
        secure_cookie: bool = False,
        query_limits: QueryLimits | None = None,
        quotas: QuotaTracker | None = None,
    ) -> None:
        self.services = services
        self.quotas = quotas
        self.tokens = tokens
        self.require_tokens = require_tokens
        self.secure_cookie = secure_cookie
        self.query_limits = query_limits or QueryLimits()
        self.env = _environment()

    # -- who is asking -------------------------------------------------------------------------------

    def local(self) -> bool:
        return not (self.require_tokens or self.tokens.active())

    def principal(self, request: Request) -> Principal:
        if self.local():
            return Principal("local", LOCAL_GRANTS, local=True)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not (scheme.lower() == "bearer" and token.strip()):
            token = request.cookies.get(COOKIE, "")
        if not token.strip():
            raise Unauthenticated(
                "this server requires a token: sign in with one (`trellis token create NAME "
                "--role reader --repo REPO` makes one)",
                reason="MISSING_TOKEN",
            )
        principal = self.tokens.authenticate(token.strip())
        if principal is None:
            raise Unauthenticated("the token is unknown or revoked: sign in with another", reason="INVALID_TOKEN")
        return principal

    @staticmethod
    def can_read(principal: Principal, repository: str) -> bool:
        return principal.role_in(repository) is not None

    def check_repository(self, principal: Principal, repository: str) -> None:
        if not self.can_read(principal, repository):
            raise PermissionDenied(
                f"your token gives no role in repository {repository!r}: ask an admin for "
                f"`trellis token create {principal.name} --role reader --repo '{repository}'`",
                reason="INSUFFICIENT_ROLE",
                repository=repository,
                required_role="reader",
            )

    def readable(self, principal: Principal) -> list[str] | None:
        """The repositories the caller may read (None: every one)."""
        if principal.global_role() is not None:
            return None
        names = [r.repository_id for r in self._repositories()]
        return [n for n in names if self.can_read(principal, n)]

    def _repositories(self) -> list[Any]:
        found, token = [], ""
        while True:
            page = self.services.store.list_repositories(requested_page_size=1000, page_token=token)
            found.extend(page.items)
            token = page.next_page_token
            if not token:
                return found

    # -- rendering -----------------------------------------------------------------------------------

    def render(self, request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request, principal=context.pop("principal", None), local=self.local(), **context
        )
        return HTMLResponse(html, status_code=code)

    def error(self, request: Request, exc: DomainError) -> Response:
        code, message, reason, _ = status_for(exc)
        status = _HTTP.get(code, 500)
        if status == 401:
            return self.render(request, "login.html", 401, message=message, next=request.url.path)
        page = self.render(request, "error.html", status, status=status, error_reason=reason, message=message)
        if isinstance(exc, QuotaExceeded) and exc.retry_after is not None:
            page.headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
        return page

    def page(self, handler: Callable[[Request, Principal], Response]) -> Callable[[Request], Response]:
        """A route: authenticate, run ``handler`` (in Starlette's thread pool), turn domain errors into pages."""

        def endpoint(request: Request) -> Response:
            try:
                principal = self.principal(request)
                if self.quotas is not None:
                    self.quotas.take(principal.name)  # a page is a request, as a call is
                return handler(request, principal)
            except DOMAIN_ERRORS as exc:
                return self.error(request, exc)
            except Exception:
                log.exception("web: %s failed", request.url.path)
                return self.render(
                    request,
                    "error.html",
                    500,
                    status=500,
                    error_reason="INTERNAL",
                    message="the server failed to show this page; its log says why",
                )

        return endpoint

    # -- pages ---------------------------------------------------------------------------------------

    def repositories(self, request: Request, principal: Principal) -> Response:
        repositories = [r for r in self._repositories() if self.can_read(principal, r.repository_id)]
        return self.render(request, "repositories.html", principal=principal, repositories=repositories)

    def repository(self, request: Request, principal: Principal) -> Response:
        repository = request.path_params["repository"]
        self.check_repository(principal, repository)
        info = self.services.store.get_repository(repository)
        branches, next_token = pages.branches_page(self.services, repository, request.query_params.get("page", ""))
        return self.render(
            request, "repository.html", principal=principal, repository=info, branches=branches, next_token=next_token
        )

    def sessions(self, request: Request, principal: Principal) -> Response:
        q = request.query_params
        fixed = request.path_params.get("repository", "")
        if fixed:
            self.check_repository(principal, fixed)
        filters = SessionFilters(
            repository=fixed or q.get("repository", ""),
            agent=q.get("agent", ""),
            model=q.get("model", ""),
            status=q.get("status", ""),
            since=q.get("since", ""),
            until=q.get("until", ""),
            text=q.get("q", ""),
        )
        if filters.repository:
            self.check_repository(principal, filters.repository)
        readable = self.readable(principal)
        found = pages.sessions_page(self.services, readable, filters, q.get("page", ""))
        return self.render(
            request,
            "sessions.html",
            principal=principal,
            page=found,
            filters=filters,
            fixed=fixed,
            repositories=readable if readable is not None else [r.repository_id for r in self._repositories()],
        )

    def session(self, request: Request, principal: Principal) -> Response:
        repository, session_id = request.path_params["repository"], request.path_params["session"]
        self.check_repository(principal, repository)
        filters = _step_filters(request)
        start = _int(request.query_params.get("start", "0"))
        found = pages.session_page(self.services, repository, session_id, filters, start)
        return self.render(
            request, "session.html", principal=principal, repository=repository, page=found, filters=filters
        )

    def steps(self, request: Request, principal: Principal) -> Response:
        """A batch of a timeline (htmx asks for it when the reader reaches the end of what is shown)."""
        repository, session_id = request.path_params["repository"], request.path_params["session"]
        self.check_repository(principal, repository)
        filters = _step_filters(request)
        after = _int(request.query_params.get("after", "0"))
        steps, more = pages.steps_after(self.services, repository, session_id, after, filters, pages.STEPS_BATCH)
        return self.render(
            request, "steps.html", repository=repository, session_id=session_id, steps=steps, more=more, filters=filters
        )

    def step(self, request: Request, principal: Principal) -> Response:
        repository, session_id = request.path_params["repository"], request.path_params["session"]
        self.check_repository(principal, repository)
        step = pages.full_step(self.services, repository, session_id, _int(request.path_params["index"]))
        return self.render(
            request, "step.html", principal=principal, repository=repository, session_id=session_id, step=step
        )

    def commit(self, request: Request, principal: Principal) -> Response:
        repository = request.path_params["repository"]
        self.check_repository(principal, repository)
        found = pages.commit_page(
            self.services,
            repository,
            request.path_params["commit"],
            all_changes=request.query_params.get("changes") == "all",
        )
        return self.render(request, "commit.html", principal=principal, repository=repository, page=found)

    def file(self, request: Request, principal: Principal) -> Response:
        """One file's diff in a commit (fetched by htmx for the files below the first screen)."""
        repository = request.path_params["repository"]
        self.check_repository(principal, repository)
        commit = request.path_params["commit"]
        view = pages.file_diff(self.services, repository, commit, request.path_params["path"])
        if request.headers.get("hx-request"):
            return self.render(request, "file.html", f=view)
        return self.render(
            request, "file_page.html", principal=principal, repository=repository, commit_id=commit, f=view
        )

    def run(self, request: Request, principal: Principal) -> Response:
        repository = request.path_params["repository"]
        self.check_repository(principal, repository)
        found = pages.run_page(self.services, repository, request.path_params["run"])
        return self.render(request, "run.html", principal=principal, repository=repository, run=found)

    def entity(self, request: Request, principal: Principal) -> Response:
        repository, qualname = request.path_params["repository"], request.path_params["qualname"]
        self.check_repository(principal, repository)
        rows = pages.entity_page(self.services, repository, qualname)
        return self.render(
            request, "entity.html", principal=principal, repository=repository, qualname=qualname, rows=rows
        )

    def merge(self, request: Request, principal: Principal) -> Response:
        repository = request.path_params["repository"]
        self.check_repository(principal, repository)
        target, source = request.query_params.get("target", ""), request.query_params.get("source", "")
        info = self.services.store.get_repository(repository)
        result = None
        if source:
            result = pages.merge_page(self.services, repository, target or info.default_branch, source, principal.name)
        branches = [b.branch_id for b in self.services.store.list_branches(repository, page_size=1000).items]
        return self.render(
            request,
            "merge.html",
            principal=principal,
            repository=repository,
            target=target or info.default_branch,
            source=source,
            result=result,
            branches=branches,
        )

    def _query(self, principal: Principal, sql: str, max_rows: int | None = None) -> Any:
        if principal.global_role() is None:
            raise PermissionDenied(
                "the SQL console spans every repository, so it needs a grant on '*' (reader or above), as the "
                "Query RPC does",
                reason="INSUFFICIENT_ROLE",
                repository="*",
                required_role="reader",
            )
        return run_query(self.services.index.indexer, sql, max_rows=max_rows, limits=self.query_limits)

    def console(self, request: Request, principal: Principal) -> Response:
        sql = request.query_params.get("sql", "")
        result, chart, error = None, None, None
        if principal.global_role() is None:
            self._query(principal, "")  # raises the 403
        if sql.strip():
            try:
                result = self._query(principal, sql, CONSOLE_ROWS)
            except DOMAIN_ERRORS as exc:
                code, message, reason, _ = status_for(exc)
                error = (reason, message)
            if result is not None:
                chart = pages.chart_spec(result.table)
        rows = result.table.to_pylist() if result is not None else []
        return self.render(
            request,
            "console.html",
            400 if error else 200,
            principal=principal,
            sql=sql,
            result=result,
            rows=rows,
            chart=chart,
            error=error,
            examples=_EXAMPLES,
        )

    def download(self, request: Request, principal: Principal) -> Response:
        import pyarrow.csv
        import pyarrow.parquet

        sql = request.query_params.get("sql", "")
        fmt = request.path_params["format"]
        if fmt not in ("csv", "parquet"):
            raise NotFound(
                f"no download format {fmt[:20]!r}: use result.csv or result.parquet", reason="UNKNOWN_FORMAT"
            )
        result = self._query(principal, sql)
        buffer = io.BytesIO()
        if fmt == "csv":
            pyarrow.csv.write_csv(result.table, buffer)
            media = "text/csv; charset=utf-8"
        else:
            pyarrow.parquet.write_table(result.table, buffer)
            media = "application/vnd.apache.parquet"
        headers = {"content-disposition": f'attachment; filename="query.{fmt}"'}
        if result.truncated:
            headers["x-trellis-truncated"] = "true"
        return Response(buffer.getvalue(), media_type=media, headers=headers)

    # -- signing in ------------------------------------------------------------------------------------

    def cross_site(self, request: Request) -> Response | None:
        """A 403 page for a form posted from another site (login CSRF), else None.

        Browsers send ``Sec-Fetch-Site`` and ``Origin`` with every form post; a post whose
        ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, or whose ``Origin`` is not this
        site's, did not come from these pages. Clients that send neither (curl, scripts) are
        not browsers carrying someone else's cookie, and pass."""
        fetch_site = request.headers.get("sec-fetch-site", "")
        origin = request.headers.get("origin", "")
        own = f"{request.url.scheme}://{request.url.netloc}"
        if fetch_site in ("cross-site", "same-site") or (origin and origin != own):
            return self.render(
                request,
                "error.html",
                403,
                status=403,
                error_reason="CROSS_SITE_FORM",
                message="this form was sent from another site: open this site's own page and send it from there",
            )
        return None

    def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", message="", next=request.query_params.get("next", "/"))

    async def login(self, request: Request) -> Response:
        refused = self.cross_site(request)
        if refused is not None:
            return refused
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = (form.get("next") or ["/"])[0]
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # only ever back into this site
        if self.tokens.authenticate(token) is None:
            return self.render(request, "login.html", 401, message="unknown or revoked token", next=target)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=self.secure_cookie, path="/")
        return response

    def logout(self, request: Request) -> Response:
        refused = self.cross_site(request)
        if refused is not None:
            return refused
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def build(self) -> Starlette:
        p = self.page
        routes = [
            Route("/", p(self.repositories)),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/sessions", p(self.sessions)),
            Route("/query", p(self.console)),
            Route("/query/result.{format:str}", p(self.download)),
            Route("/repositories", p(self.repositories)),
            Route("/repositories/{repository}", p(self.repository)),
            Route("/repositories/{repository}/sessions", p(self.sessions)),
            Route("/repositories/{repository}/sessions/{session}", p(self.session)),
            Route("/repositories/{repository}/sessions/{session}/steps", p(self.steps)),
            Route("/repositories/{repository}/sessions/{session}/steps/{index:int}", p(self.step)),
            Route("/repositories/{repository}/commits/{commit}", p(self.commit)),
            Route("/repositories/{repository}/commits/{commit}/diff/{path:path}", p(self.file)),
            Route("/repositories/{repository}/runs/{run}", p(self.run)),
            Route("/repositories/{repository}/entities/{qualname:path}", p(self.entity)),
            Route("/repositories/{repository}/merge", p(self.merge)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        app = Starlette(routes=routes)
        app.add_middleware(_SecurityHeaders)
        return app


def _step_filters(request: Request) -> StepFilters:
    q = request.query_params
    return StepFilters(kind=q.get("kind", ""), tool=q.get("tool", ""), text=q.get("q", "").strip())


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return 0


class _SecurityHeaders:
    """No inline script runs (every script is a file of /static), no framing, no sniffing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (
                        b"content-security-policy",
                        b"default-src 'self'; script-src 'self'; style-src 'self' "
                        b"'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                        b"form-action 'self'",
                    ),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


_EXAMPLES = [
    (
        "sessions per model",
        "SELECT model, status, count(*) AS sessions, sum(cost_usd) AS cost\nFROM sessions "
        "GROUP BY ALL ORDER BY cost DESC",
    ),
    (
        "commits per day",
        "SELECT date_trunc('day', commit_time) AS day, count(*) AS commits\nFROM commits GROUP BY day ORDER BY day",
    ),
    (
        "failing stages",
        "SELECT stage, count(*) FILTER (WHERE status = 'failed') AS failures, count(*) AS jobs\n"
        "FROM job_results GROUP BY stage ORDER BY failures DESC",
    ),
]


def build_app(
    services: Services,
    tokens: TokenStore,
    *,
    require_tokens: bool,
    secure_cookie: bool = False,
    query_limits: QueryLimits | None = None,
    quotas: QuotaTracker | None = None,
) -> Starlette:
    """The web viewer as an ASGI application over a server's services (its pages spend ``quotas``)."""
    return WebApp(
        services,
        tokens,
        require_tokens=require_tokens,
        secure_cookie=secure_cookie,
        query_limits=query_limits,
        quotas=quotas,
    ).build()
