"""A real server with tokens, filled through the SDK, and its web viewer on a free loopback port.

``site`` is shared by a module's tests (building it takes a few seconds):
two repositories, a session whose steps include one that made a commit, one
whose observation holds ``<script>``, a subagent's steps, a verification run
of the commit and two branches whose merge conflicts. The pages are read
over real HTTP (urllib) or by a real browser (test_browser.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trellis import vcs
from trellis.auth import TokenStore
from trellis.authz import Grant, Role
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import RunningServer, build_server
from trellis.web import WebServer, start_http

REPO = "demo"
OTHER = "secret"
SCRIPT = "<script>document.title='pwned';window.pwned=1</script>"
LONG_STEPS = 450
WIDE_FILES = 14
PIPELINE = '[stages.syntax]\nkind = "syntax"\n'
BASE = {
    "trellis.toml": PIPELINE,
    "app/models.py": "class User:\n    def save(self):\n        return 1\n\n\ndef helper(x):\n    return x + 1\n",
}


@dataclass
class Site:
    running: RunningServer
    web: WebServer
    data_dir: Path
    tokens: dict[str, str]
    session_id: str = ""
    commit_id: str = ""
    run_id: str = ""
    conflict_branch: str = ""
    steps: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.web.url

    def get(
        self, path: str, token: str | None = "reader-all", *, cookie: bool = False
    ) -> tuple[int, str, dict[str, str]]:
        """GET a page; ``token`` names one of ``tokens`` (None: no token, else the literal when unknown)."""
        request = urllib.request.Request(self.url + path)
        if token is not None:
            value = self.tokens.get(token, token)
            if cookie:
                request.add_header("Cookie", f"trellis_token={value}")
            else:
                request.add_header("Authorization", f"Bearer {value}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8", "replace"), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers)


def build_site(root: Path) -> Site:
    store = TokenStore(root)
    tokens = {
        "admin": store.create("root", grants=(Grant("*", Role.ADMIN),))[1],
        "reader-all": store.create("researcher", grants=(Grant("*", Role.READER),))[1],
        "reader-demo": store.create("reviewer", grants=(Grant(REPO, Role.READER),))[1],
        "agent": store.create("agent-1", grants=(Grant("*", Role.AGENT),))[1],
    }
    revoked = store.create("gone", grants=(Grant("*", Role.READER),))
    store.revoke(revoked[0].token_id)
    tokens["revoked"] = revoked[1]
    running = build_server(ServerConfig(data_dir=root, address="127.0.0.1:0", durability=vcs.Durability.NONE))
    try:
        web = start_http(running, root, "127.0.0.1:0")
    except BaseException:
        running.stop()
        raise
    site = Site(running, web, root, tokens)
    try:
        fill(site)
    except BaseException:
        stop_site(site)
        raise
    return site


def fill(site: Site) -> None:
    with Client(site.running.address, token=site.tokens["admin"]) as admin:
        repo = admin.create_repository(REPO, description="the demo's <b>repository</b>")
        head = admin.commit(
            REPO, "main", BASE, "seed", expected_head=repo.head_commit_id, wait_for_verdict=True
        ).commit.commit_id
        admin.create_branch(REPO, "feature/left", head)
        admin.create_branch(REPO, "feature/right", head)
        admin.commit(
            REPO, "feature/left", {"app/models.py": BASE["app/models.py"].replace("x + 1", "x + 2")}, "left edit"
        )
        admin.commit(
            REPO, "feature/right", {"app/models.py": BASE["app/models.py"].replace("x + 1", "x * 3")}, "right edit"
        )
        wide = admin.create_branch(REPO, "wide", head)
        site.extra["wide_commit"] = admin.commit(
            REPO,
            "wide",
            {f"pkg/mod_{i:02}.py": f"def f{i}(x):\n    return x + {i}\n" * (1 + i % 3) for i in range(WIDE_FILES)},
            "many files",
            expected_head=wide.head_commit_id,
        ).commit.commit_id
        other = admin.create_repository(OTHER)
        admin.commit(
            OTHER,
            "main",
            {"hidden.py": "def hidden():\n    return 'classified'\n"},
            "hidden",
            expected_head=other.head_commit_id,
        )
    with Client(site.running.address, token=site.tokens["agent"]) as agent:
        session = agent.create_session(REPO, model="model-x", task="Rename helper & add <tests>")
        sid = session.session_id
        agent.record_step(
            REPO,
            sid,
            vcs.StepInput(
                thought="Look around first.",
                action="Bash",
                arguments_json='{"cmd": "ls"}',
                observation="app/\ntrellis.toml",
                input_tokens=120,
                output_tokens=30,
                cost_usd=0.001,
                metadata={"tool": "Bash"},
            ),
        )
        agent.record_step(
            REPO,
            sid,
            vcs.StepInput(
                thought="Read the page the user gave.",
                action="WebFetch",
                observation=f"page says {SCRIPT} and more",
                input_tokens=300,
                output_tokens=20,
                metadata={"tool": "WebFetch"},
            ),
        )
        agent.record_step(
            REPO,
            sid,
            vcs.StepInput(
                thought="Ask a subagent to find the callers.",
                action="Task",
                observation="\n".join(f"line {i}" for i in range(60)),
                metadata={"tool": "Task"},
            ),
        )
        agent.record_step(
            REPO,
            sid,
            vcs.StepInput(
                thought="(subagent) grep for helper",
                action="Grep",
                observation="app/models.py:6",
                metadata={"tool": "Grep", "sidechain": "true", "agent_id": "sub-1"},
            ),
        )
        reply = agent.commit(
            REPO,
            session.branch_id,
            {
                "app/models.py": BASE["app/models.py"].replace("def helper(x)", "def assist(x)")
                + "\n\ndef added(y):\n    return y\n"
            },
            "Rename helper to assist",
            session=sid,
            wait_for_verdict=True,
            step=vcs.StepInput(
                thought="Rename it.",
                action="Edit",
                observation="edited",
                input_tokens=500,
                output_tokens=80,
                cost_usd=0.004,
                metadata={"tool": "Edit"},
            ),
        )
        agent.record_step(REPO, sid, vcs.StepInput(thought="Done.", observation="All good."))
        agent.end_session(REPO, sid, "succeeded", "renamed")
        long = agent.create_session(REPO, model="model-y", task="A long one")
        agent.record_steps(
            REPO,
            long.session_id,
            [
                vcs.StepInput(
                    thought=f"thinking {i}",
                    action="Bash" if i % 2 else "Read",
                    observation=f"output {i}",
                    input_tokens=10,
                    output_tokens=1,
                    metadata={"tool": "Bash" if i % 2 else "Read"},
                )
                for i in range(1, LONG_STEPS + 1)
            ],
        )
        site.extra["long_session"] = long.session_id
    site.session_id, site.commit_id = sid, reply.commit.commit_id
    site.run_id = reply.run.run_id if reply.run is not None else ""
    site.conflict_branch = "feature/right"
    site.steps = 6
    site.running.index.wait_idle(60)


def stop_site(site: Site) -> None:
    site.web.stop()
    site.running.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    built = build_site(tmp_path_factory.mktemp("web"))
    yield built
    stop_site(built)


def text_of(html: str) -> str:
    """The page's text without tags (for asserting what a reader sees)."""
    import html as html_module
    import re

    return html_module.unescape(re.sub(r"<[^>]+>", " ", html))


__all__ = ["LONG_STEPS", "WIDE_FILES", "OTHER", "REPO", "SCRIPT", "Site", "json", "site", "text_of"]
