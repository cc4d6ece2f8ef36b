"""Trellis as a Model Context Protocol server: a thin adapter over the SDK client.

``trellis mcp`` serves it over stdio (one agent, the CLI's connection rules);
``trellis serve --mcp HOST:PORT`` serves it over streamable HTTP next to the
gRPC server, each HTTP caller acting with its own ``Authorization: Bearer``
token (or, on a local-mode server, the agent named in ``X-Trellis-Agent``).

Every tool calls :class:`trellis.client.Client`, so the server applies the same
authentication, permissions, quotas and validation as for any other caller. A
domain error comes back as an MCP tool error (``isError``) whose text is
``REASON: message`` and whose structured content is
``{"error": {"reason", "message", ...metadata}}``; nothing is written.
See docs/mcp.md.
"""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import json
import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from trellis import vcs

from .cli.context import to_jsonable
from .client import Client
from .errors import DOMAIN_ERRORS, DomainError
from .tls import TLS

__all__ = ["ClientPool", "HttpMcp", "build_mcp", "serve_stdio", "start_http"]

log = logging.getLogger("trellis.mcp")

INSTRUCTIONS = """\
Trellis is version control and CI for coding agents. Files live in repositories (see list_repositories) on
branches; a change lands as one atomic commit (commit) that you can compare-and-swap on the branch head
(expected_head) and attach the step of your trajectory to. Typical loop: start_session (it creates your own branch
agents/<you>/<id>), read_file / list_tree / log to look around, commit your edits to that branch with the session
id, diff to review them entity by entity, verify + wait_run for tests, merge into the target branch (preview first),
end_session. query runs read-only SQL over the index of every commit, entity change, session and step.
Errors come back as tool errors 'REASON: message' (e.g. STALE_HEAD carries actual_head): nothing was written."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

Repository = Annotated[str, Field(description="Repository name (list_repositories shows them).")]
Revision = Annotated[
    str,
    Field(
        description="A branch name (e.g. 'main'), a commit id or a prefix of one, or "
        "HEAD, each optionally followed by ~N (e.g. 'main~1'); empty means "
        "the default branch."
    ),
]


class Change(BaseModel):
    """One file operation of a commit."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["put", "delete", "rename"] = Field(
        description="put: write `content` at `path` (creating or replacing the file); delete: remove `path`; "
        "rename: move `path` to `new_path` (combine with a put of `new_path` to also edit it)."
    )
    path: str = Field(description="Repository-relative path with '/' separators, e.g. 'src/app.py'.")
    content: str | None = Field(default=None, description="put only: the whole new content of the file.")
    encoding: Literal["utf-8", "base64"] = Field(
        default="utf-8", description="put only: how `content` is encoded (base64 for binary files)."
    )
    executable: bool | None = Field(
        default=None, description="put only: file mode; omitted keeps the mode of the file it replaces."
    )
    new_path: str | None = Field(default=None, description="rename only: the destination path.")


class Step(BaseModel):
    """One step of the agent's trajectory: why, what it did, what it saw, what it cost."""

    model_config = ConfigDict(extra="forbid")
    thought: str = Field(default="", description="The reasoning behind the step.")
    action: str = Field(default="", description="What was done, e.g. a tool name or a shell command.")
    arguments_json: str = Field(default="", description="The action's arguments as a JSON string.")
    observation: str = Field(default="", description="What the action returned or showed.")
    input_tokens: int = Field(default=0, ge=0, description="Prompt tokens the step used.")
    output_tokens: int = Field(default=0, ge=0, description="Completion tokens the step used.")
    cost_usd: float = Field(default=0.0, ge=0, description="Cost of the step in US dollars.")
    latency_ms: int = Field(default=0, ge=0, description="Wall time of the step in milliseconds.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Free-form string key/values.")

    def input(self) -> vcs.StepInput:
        return vcs.StepInput(**self.model_dump())


def _change(change: Change) -> vcs.Change:
    if change.op == "delete":
        return vcs.DeleteFile(change.path)
    if change.op == "rename":
        if not change.new_path:
            raise vcs.InvalidArgument(f"rename of {change.path!r} needs new_path", reason="INVALID_ARGUMENT")
        return vcs.RenameFile(change.path, change.new_path)
    if change.content is None:
        raise vcs.InvalidArgument(
            f'put of {change.path!r} needs content ("" for an empty file)', reason="INVALID_ARGUMENT"
        )
    if change.encoding == "base64":
        try:
            data = base64.b64decode(change.content, validate=True)
        except (binascii.Error, ValueError):
            raise vcs.InvalidArgument(
                f"content of {change.path!r} is not valid base64", reason="INVALID_ARGUMENT"
            ) from None
    else:
        data = change.content.encode("utf-8", "surrogatepass")
    return vcs.PutFile(change.path, data, change.executable)


def _text(data: bytes) -> dict[str, str]:
    """Text as text; binary (not UTF-8, or with a NUL byte, as git judges) as base64."""
    if b"\0" not in data:
        try:
            return {"content": data.decode("utf-8"), "encoding": "utf-8"}
        except UnicodeDecodeError:
            pass
    return {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


def _ok(value: Any) -> CallToolResult:
    data = to_jsonable(value)
    structured = data if isinstance(data, dict) else {"result": data}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(structured, ensure_ascii=False))],
        structured_content=structured,
    )


def _error(exc: DomainError) -> CallToolResult:
    error = {"reason": exc.reason, "message": exc.message, **exc.metadata}
    return CallToolResult(
        content=[
            TextContent(
                type="text",
                text=f"{exc.reason}: {exc.message}" + (f" {json.dumps(exc.metadata)}" if exc.metadata else ""),
            )
        ],
        structured_content={"error": error},
        is_error=True,
    )


class ClientPool:
    """The SDK client a call runs with: one for stdio; over HTTP, one per caller's token / agent name."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        agent: str | None = None,
        tls: TLS | bool | None = None,
        client: Client | None = None,
    ) -> None:
        self.target, self.token, self.agent, self.tls = target, token, agent, tls
        self._clients: dict[tuple[str | None, str | None], Client] = {}
        if client is not None:
            self._clients[(token, agent)] = client
        self._lock = threading.Lock()

    def for_context(self, ctx: Context | None) -> Client:
        token, agent = self.token, self.agent
        request = ctx.request_context.request if ctx is not None and ctx._request_context is not None else None
        headers = getattr(request, "headers", None)
        if headers is not None:
            auth = headers.get("authorization", "")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
            agent = headers.get("x-trellis-agent") or None
        key = (token, agent)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = Client(self.target, token=token, agent=agent, tls=self.tls)
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def build_mcp(pool: ClientPool) -> MCPServer:
    """The MCP server with every Trellis tool, each calling the SDK client ``pool`` gives for the request."""
    server: MCPServer = MCPServer("trellis", instructions=INSTRUCTIONS, log_level="WARNING")

    def tool(annotations: ToolAnnotations) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            signature = inspect.signature(fn, eval_str=True)

            @functools.wraps(fn)
            def call(ctx: Context, **kwargs: Any) -> CallToolResult:
                try:
                    return _ok(fn(pool.for_context(ctx), **kwargs))
                except DOMAIN_ERRORS as exc:
                    return _error(exc)

            # The tool's schema: the function's parameters but the client, plus the request context.
            params = [p for p in signature.parameters.values() if p.name != "client"]
            params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
            call.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=params, return_annotation=CallToolResult
            )
            call.__annotations__ = {**{p.name: p.annotation for p in params}, "return": CallToolResult}
            server.add_tool(
                call, name=fn.__name__, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations
            )
            return fn

        return register

    # -- repositories and reading ------------------------------------------------------------

    @tool(READ_ONLY)
    def list_repositories(client: Client) -> Any:
        """List the repositories: name, default branch, head commit id of the default branch."""
        return {"repositories": list(client.list_repositories(limit=1000))}

    @tool(READ_ONLY)
    def get_branch(
        client: Client,
        repository: Repository,
        branch: Annotated[str, Field(description="Branch name, e.g. 'main' or 'agents/alice/01J...'.")],
    ) -> Any:
        """The branch's head commit id: pass it as expected_head to commit or merge to be sure nothing landed
        on the branch in between."""
        return client.get_branch(repository, branch)

    @tool(READ_ONLY)
    def read_file(
        client: Client,
        repository: Repository,
        path: Annotated[str, Field(description="Repository-relative file path, e.g. 'src/app.py'.")],
        revision: Revision = "",
    ) -> Any:
        """Read one file at a revision. Returns content (utf-8 text, or base64 with encoding='base64' for
        binary files), executable, blob_id."""
        found = client.read_file(repository, path, revision)
        return {"path": found.path, **_text(found.content), "executable": found.executable, "blob_id": found.blob_id}

    @tool(READ_ONLY)
    def list_tree(
        client: Client,
        repository: Repository,
        path: Annotated[str, Field(description="Directory to list; empty for the root.")] = "",
        revision: Revision = "",
        recursive: Annotated[bool, Field(description="List every file below, not just one level.")] = False,
    ) -> Any:
        """List a directory at a revision: entries with path, kind (file, directory, symlink, submodule),
        size and executable."""
        return {"entries": list(client.list_tree(repository, path, revision, recursive=recursive))}

    @tool(READ_ONLY)
    def log(
        client: Client,
        repository: Repository,
        revision: Revision = "",
        path: Annotated[str, Field(description="Only commits that changed this file or directory.")] = "",
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many commits.")] = 20,
    ) -> Any:
        """The commit history from a revision, newest first: commit_id, parent_ids, author, message, and
        trailers (Trellis-Session / Trellis-Step link a commit to the agent step that made it)."""
        return {"commits": list(client.log(repository, revision, path=path, limit=limit))}

    @tool(READ_ONLY)
    def diff(
        client: Client,
        repository: Repository,
        new_revision: Annotated[str, Field(description="The revision to look at (branch or commit id).")],
        old_revision: Annotated[
            str,
            Field(
                description="What to compare it with; empty means the parent of new_revision (the diff of one commit)."
            ),
        ] = "",
        paths: Annotated[list[str], Field(description="Only these files.")] = [],  # noqa: B006
        line_diff: Annotated[
            bool,
            Field(
                description="Also return a unified line diff per file, as "
                "{content, encoding}: utf-8 text, or base64 when not UTF-8."
            ),
        ] = False,
    ) -> Any:
        """The entity-level (semantic) diff: which functions, classes, methods... were added, removed,
        modified, renamed or moved, per file, besides the changed files themselves. Use it to review a commit
        (old_revision empty) or everything between two revisions (e.g. main and your session branch)."""
        found = client.diff(repository, new_revision, old_revision, paths=paths, line_diff=line_diff)
        return {
            "files": found.result.files,
            "entity_changes": found.result.changes,
            **({"line_diffs": {path: _text(data) for path, data in found.line_diffs.items()}} if line_diff else {}),
        }

    @tool(READ_ONLY)
    def query(
        client: Client,
        sql: Annotated[str, Field(description="One read-only SQL statement (DuckDB dialect).")],
        max_rows: Annotated[int, Field(ge=1, le=10000, description="Row limit.")] = 200,
        params: Annotated[
            list[Any] | dict[str, Any] | None,
            Field(
                description=(
                    "Values for the SQL's placeholders, never spliced into it: a list for ? (in order), or an "
                    "object for $name placeholders. JSON null, booleans, numbers and strings."
                )
            ),
        ] = None,
    ) -> Any:
        """Run read-only SQL over the index of every repository: tables commits, file_changes,
        entity_changes, sessions, steps, runs, jobs, test_results... (SELECT table_name, column_name FROM
        information_schema.columns lists them). Returns rows as objects. Writes are refused."""
        result = client.query(sql, params, max_rows=max_rows)
        return {"rows": result.table.to_pylist(), "truncated": result.truncated}

    # -- sessions -----------------------------------------------------------------------------

    @tool(WRITES)
    def start_session(
        client: Client,
        repository: Repository,
        task: Annotated[str, Field(description="What the session is for, in a sentence.")] = "",
        model: Annotated[str, Field(description="The model driving the agent.")] = "",
        base_revision: Annotated[
            str, Field(description="Where the session's branch starts; empty: the default branch.")
        ] = "",
        branch: Annotated[str, Field(description="Branch to work on; empty creates agents/<agent>/<session id>.")] = "",
        metadata: Annotated[dict[str, str], Field(description="Free-form tags.")] = {},  # noqa: B006
    ) -> Any:
        """Start a working session of this agent. Returns session_id (pass it to commit, record_step,
        merge and end_session) and branch_id, the branch to commit to."""
        return client.create_session(
            repository, model=model, task=task, base_revision=base_revision, branch=branch, metadata=metadata
        )

    @tool(WRITES)
    def end_session(
        client: Client,
        repository: Repository,
        session_id: Annotated[str, Field(description="From start_session.")],
        status: Annotated[
            Literal["succeeded", "failed", "abandoned"], Field(description="How the session ended.")
        ] = "succeeded",
        outcome: Annotated[str, Field(description="A sentence on the result.")] = "",
    ) -> Any:
        """End a session with its status and outcome; returns the session with its totals (steps, commits,
        tokens, cost)."""
        return client.end_session(repository, session_id, status, outcome)

    @tool(WRITES)
    def record_step(
        client: Client,
        repository: Repository,
        session_id: Annotated[str, Field(description="From start_session.")],
        step: Step,
    ) -> Any:
        """Record a step of the session that changed no code (reading, thinking, running a command).
        Steps that change code come attached to a commit instead (the step argument of commit)."""
        return client.record_step(repository, session_id, step.input())

    # -- writing ------------------------------------------------------------------------------

    @tool(WRITES)
    def commit(
        client: Client,
        repository: Repository,
        branch: Annotated[str, Field(description="The branch to land on (your session's branch_id, or e.g. 'main').")],
        changes: Annotated[
            list[Change], Field(min_length=1, description="The file operations, applied together or not at all.")
        ],
        message: Annotated[str, Field(description="The commit message.")],
        expected_head: Annotated[
            str | None,
            Field(
                description="The branch head you based the change "
                "on (get_branch, or the previous commit's commit_id): if the branch "
                "moved, on_stale decides. Omit to commit on whatever the head is."
            ),
        ] = None,
        on_stale: Annotated[
            Literal["fail", "rebase"],
            Field(
                description="When expected_head is stale: "
                "'fail' refuses with STALE_HEAD (its actual_head says where the branch is); "
                "'rebase' replays the change on the new head when it merges cleanly entity "
                "by entity."
            ),
        ] = "fail",
        session_id: Annotated[str | None, Field(description="Attach the commit to this session.")] = None,
        step: Annotated[
            Step | None, Field(description="The trajectory step that made this change (needs session_id).")
        ] = None,
        wait_for_diff: Annotated[bool, Field(description="Return the commit's entity-level diff.")] = False,
    ) -> Any:
        """Land file changes on a branch as one atomic commit (puts, deletes, renames), optionally as a
        compare-and-swap on expected_head, with the agent step that made it. Returns commit (commit_id ...),
        rebased, step, and the diff when asked. Nothing is written when it fails."""
        reply = client.commit(
            repository,
            branch,
            [_change(c) for c in changes],
            message,
            expected_head=expected_head,
            on_stale=on_stale,
            session=session_id,
            step=step.input() if step is not None else None,
            wait_for_diff=wait_for_diff,
        )
        diff = reply.diff
        return {
            "commit": reply.commit,
            "rebased": reply.rebased,
            "step": reply.step,
            **(
                {"diff": {"files": diff.files if diff else (), "entity_changes": diff.changes if diff else ()}}
                if wait_for_diff
                else {}
            ),
        }

    @tool(WRITES)
    def merge(
        client: Client,
        repository: Repository,
        target_branch: Annotated[str, Field(description="The branch to merge into, e.g. 'main'.")],
        source_revision: Annotated[
            str, Field(description="What to merge: a branch (e.g. your session branch) or a commit id.")
        ],
        preview: Annotated[
            bool, Field(description="true: only report what the merge would do (the default); false: apply it.")
        ] = True,
        expected_head: Annotated[
            str | None, Field(description="Refuse (STALE_HEAD) if target_branch moved from this commit.")
        ] = None,
        message: Annotated[str, Field(description="Merge commit message.")] = "",
        session_id: Annotated[str | None, Field(description="Attach the merge to this session.")] = None,
    ) -> Any:
        """Merge a revision into a branch, combining changes entity by entity (functions, classes...) and
        falling back to lines. Returns strategy (structured, line, fast_forward), up_to_date, commit (the new
        head; null for a preview or when there are conflicts) and conflicts: a list of {path, qualname,
        entity_kind, base, left, right, markers} (left = target, right = source). With conflicts nothing is
        applied: resolve them with a commit on one side, then merge again."""
        return client.merge(
            repository,
            target_branch,
            source_revision,
            expected_head=expected_head,
            message=message,
            preview=preview,
            session=session_id,
        )

    # -- verification -------------------------------------------------------------------------

    @tool(WRITES)
    def verify(
        client: Client,
        repository: Repository,
        revision: Revision,
        stages: Annotated[list[str], Field(description="Only these pipeline stages; empty: all.")] = [],  # noqa: B006
        full: Annotated[bool, Field(description="Run every test, not only those the change affects.")] = False,
    ) -> Any:
        """Start a verification run (the repository's pipeline: tests, checks) of a revision. Returns the
        run with run_id and verdict 'pending'; follow it with wait_run."""
        return client.verify(repository, revision, stages=stages, full=full)

    @tool(READ_ONLY)
    def wait_run(
        client: Client,
        repository: Repository,
        run_id: Annotated[str, Field(description="From verify (or a commit's run).")],
        timeout_seconds: Annotated[
            float, Field(gt=0, le=3600, description="Give up waiting after this long and return the run as it is.")
        ] = 300,
    ) -> Any:
        """Wait for a verification run's verdict (passed, failed, error...); returns the run with each job's
        result and failing tests. If the timeout passes first, returns the run so far (final=false)."""
        from .errors import DeadlineExceeded

        try:
            run = client.wait_run(repository, run_id, timeout=timeout_seconds)
        except DeadlineExceeded:
            run = client.get_run(repository, run_id)
        return {"run": run, "final": run.final}

    return server


def serve_stdio(pool: ClientPool) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    build_mcp(pool).run("stdio")


class HttpMcp:
    """MCP over streamable HTTP in a background thread (``url`` ends in ``/mcp``)."""

    def __init__(self, pool: ClientPool, address: str) -> None:
        import uvicorn

        from .listening import listen

        listening = listen(address, "MCP")
        self._socket = listening.socket
        self.url = f"http://{listening.origin}/mcp"
        self.pool = pool
        app = build_mcp(pool).streamable_http_app(host=listening.host)
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="trellis-mcp-http", daemon=True
        )

    def start(self) -> HttpMcp:
        self._thread.start()
        log.info("MCP over streamable HTTP on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:  # started
            self._thread.join(10)
        self._socket.close()
        self.pool.close()


def start_http(target: str, address: str) -> HttpMcp:
    """Serve MCP over HTTP on ``address``, each request calling the (plaintext, local) gRPC server at ``target``."""
    return HttpMcp(ClientPool(target), address).start()
