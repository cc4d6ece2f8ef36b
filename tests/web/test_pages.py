"""Every page of the web viewer over real HTTP: what it shows, who may see it, that it escapes."""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import OTHER, REPO, SCRIPT, WIDE_FILES, Site, text_of


def test_repositories_lists_only_what_the_token_may_read(site: Site) -> None:
    status, html, _ = site.get("/", "reader-all")
    assert status == 200
    assert f"/repositories/{REPO}" in html and f"/repositories/{OTHER}" in html
    # the description is the user's text: shown, not interpreted
    assert "&lt;b&gt;repository&lt;/b&gt;" in html
    status, html, _ = site.get("/repositories", "reader-demo")
    assert status == 200
    assert f"/repositories/{REPO}" in html and OTHER not in html


def test_repository_page_shows_branches_protection_and_verdicts(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}", "reader-demo")
    assert status == 200
    text = text_of(html)
    for branch in ("main", "feature/left", "feature/right", f"agents/agent-1/{site.session_id}"):
        assert branch in text
    assert "passed" in text  # main's seed commit was verified on push
    assert "merge?target=main&amp;source=feature%2Fright" in html


def test_without_a_token_every_page_is_401(site: Site) -> None:
    for path in (
        "/",
        f"/repositories/{REPO}",
        "/sessions",
        f"/repositories/{REPO}/commits/{site.commit_id}",
        "/query?sql=SELECT+1",
    ):
        status, html, _ = site.get(path, None)
        assert status == 401, path
        assert 'name="token"' in html  # the sign-in form
        status, _, _ = site.get(path, "trellis_0000_forged")
        assert status == 401, path
        status, _, _ = site.get(path, "revoked")
        assert status == 401, path


def test_a_reader_of_one_repository_cannot_see_another(site: Site) -> None:
    other_head = site.running.store.get_repository(OTHER).head_commit_id
    for path in (
        f"/repositories/{OTHER}",
        f"/repositories/{OTHER}/sessions",
        f"/repositories/{OTHER}/commits/{other_head}",
        f"/repositories/{OTHER}/entities/hidden.hidden",
        f"/repositories/{OTHER}/merge",
        f"/sessions?repository={OTHER}",
    ):
        status, html, _ = site.get(path, "reader-demo")
        assert status == 403, path
        assert "classified" not in html and "INSUFFICIENT_ROLE" in html
    # the console spans every repository: it needs a grant on '*', as the Query RPC
    status, _, _ = site.get("/query?sql=SELECT+1", "reader-demo")
    assert status == 403
    status, _, _ = site.get("/query/result.csv?sql=SELECT+1", "reader-demo")
    assert status == 403
    # the cross-repository session list keeps to the readable ones
    status, html, _ = site.get("/sessions", "reader-demo")
    assert status == 200 and site.session_id in html


def test_the_cookie_carries_the_token_too(site: Site) -> None:
    status, _, _ = site.get(f"/repositories/{REPO}", "reader-demo", cookie=True)
    assert status == 200


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_login_sets_an_http_only_cookie_and_stays_on_site(site: Site) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    body = urllib.parse.urlencode({"token": site.tokens["reader-demo"], "next": "//evil.example/"}).encode()
    try:
        opener.open(urllib.request.Request(site.url + "/login", data=body, method="POST"), timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303
        assert exc.headers["location"] == "/"
        cookie = exc.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    body = urllib.parse.urlencode({"token": "trellis_nope_nope"}).encode()
    try:
        opener.open(urllib.request.Request(site.url + "/login", data=body, method="POST"), timeout=30)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
@pytest.mark.parametrize("path", ["/login", "/logout"])
def test_a_form_posted_from_another_site_is_refused_and_sets_no_cookie(
    site: Site, path: str, headers: dict[str, str]
) -> None:
    body = urllib.parse.urlencode({"token": site.tokens["reader-demo"]}).encode()
    request = urllib.request.Request(site.url + path, data=body, method="POST", headers=headers)
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("expected 403")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
        assert exc.headers.get("set-cookie") is None
        assert "CROSS_SITE_FORM" in exc.read().decode()
    # The site's own page posts with its own origin: accepted (a redirect that sets or clears the cookie).
    own = {"Origin": site.url, "Sec-Fetch-Site": "same-origin"}
    request = urllib.request.Request(site.url + path, data=body, method="POST", headers=own)
    try:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303 and "trellis_token" in exc.headers["set-cookie"]


def test_sessions_list_has_the_columns_and_filters(site: Site) -> None:
    status, html, _ = site.get("/sessions")
    assert status == 200
    text = text_of(html)
    assert site.session_id in text and "agent-1" in text and "model-x" in text and "succeeded" in text
    for column in ("steps", "commits", "tokens", "cost", "duration", "final verdict"):
        assert column in text
    assert "Rename helper &amp; add &lt;tests&gt;" in html  # the task, escaped
    for query, present in (
        ({"agent": "agent-1"}, True),
        ({"agent": "nobody"}, False),
        ({"model": "model-x"}, True),
        ({"status": "failed"}, False),
        ({"since": "2000-01-01"}, True),
        ({"until": "2000-01-01"}, False),
        ({"q": "helper"}, True),
        ({"repository": REPO}, True),
    ):
        status, html, _ = site.get("/sessions?" + urllib.parse.urlencode(query))
        assert status == 200 and (site.session_id in html) is present, query
    status, html, _ = site.get("/sessions?since=yesterday")
    assert status == 400 and "INVALID_DATE" in html
    status, html, _ = site.get("/sessions?page=garbage")
    assert status == 400 and "INVALID_PAGE_TOKEN" in html


def test_timeline_shows_every_step_in_order_and_links_the_commit(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}/sessions/{site.session_id}")
    assert status == 200
    positions = [html.index(f'id="step-{i}"') for i in range(1, site.steps + 1)]
    assert positions == sorted(positions)
    assert f"/repositories/{REPO}/commits/{site.commit_id}" in html
    assert 'class="subagent" data-subagent="sub-1"' in html
    assert '<details class="obs">' in html  # the 60-line observation is folded


def test_an_observation_with_script_is_escaped(site: Site) -> None:
    _, html, headers = site.get(f"/repositories/{REPO}/sessions/{site.session_id}")
    assert SCRIPT not in html
    assert "&lt;script&gt;document.title=" in html
    assert "script-src 'self'" in headers["content-security-policy"]


def test_timeline_filters_by_kind_and_tool(site: Site) -> None:
    base = f"/repositories/{REPO}/sessions/{site.session_id}"
    _, html, _ = site.get(base + "?kind=code")
    assert 'id="step-5"' in html and 'id="step-1"' not in html
    _, html, _ = site.get(base + "?tool=Bash")
    assert 'id="step-1"' in html and 'id="step-2"' not in html
    _, html, _ = site.get(base + "?kind=subagent")
    assert 'id="step-4"' in html and 'id="step-3"' not in html
    _, html, _ = site.get(base + "?q=GREP+for")  # text, case-insensitive, in thought/action/observation
    assert 'id="step-4"' in html and 'id="step-1"' not in html
    _, html, _ = site.get(base + "?q=%25")  # '%' is a character, not a wildcard
    assert 'id="step-' not in html
    status, html, _ = site.get(base + "?kind=nonsense")
    assert status == 400 and "INVALID_STEP_KIND" in html


def test_timeline_batches_continue_after_a_step(site: Site) -> None:
    base = f"/repositories/{REPO}/sessions/{site.session_id}"
    status, html, _ = site.get(base + "/steps?after=3")
    assert status == 200
    assert 'id="step-3"' not in html and 'id="step-4"' in html and 'id="step-6"' in html
    status, html, _ = site.get(base + "?start=5")
    assert 'id="step-4"' not in html and 'id="step-5"' in html
    status, html, _ = site.get(base + "/steps/2")
    assert status == 200 and "&lt;script&gt;" in html and SCRIPT not in html
    status, html, _ = site.get(base + "/steps/99")
    assert status == 404


def test_unknown_session_is_404(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}/sessions/{'0' * 20}")
    assert status == 404 and "SESSION_NOT_FOUND" in html


def test_commit_page_shows_entity_changes_diff_step_and_verdict(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}/commits/{site.commit_id}", "reader-demo")
    assert status == 200
    text = text_of(html)
    changes = html[html.index('id="entity-changes"') : html.index('id="verification"')]
    assert "renamed" in changes and "assist" in changes and "added" in changes
    assert html.index('id="entity-changes"') < html.index('class="file"')  # entities first, then files
    assert "#step-5" in html and site.session_id in text  # the step that made it
    verification = text_of(html[html.index('id="verification"') : html.index('class="file"')])
    assert site.run_id in verification and "passed" in verification and "syntax" in verification
    assert 'class="diff code"' in html and 'class="mono removed"' in html and 'class="mono added"' in html
    assert '<span class="k">def</span>' in html  # highlighted


def test_a_wide_commit_renders_its_first_files_and_links_the_rest(site: Site) -> None:
    commit = site.extra["wide_commit"]
    status, html, _ = site.get(f"/repositories/{REPO}/commits/{commit}")
    assert status == 200
    inline = html.count('class="diff code"')
    later = html.count('class="file later"')
    assert inline >= 1 and later >= 1 and inline + later == WIDE_FILES
    path = f"pkg/mod_{WIDE_FILES - 1:02}.py"
    assert f"/repositories/{REPO}/commits/{commit}/diff/{path}" in html
    status, fragment, _ = site.get(f"/repositories/{REPO}/commits/{commit}/diff/{path}")
    assert status == 200 and 'class="diff code"' in fragment and "<html" in fragment  # a whole page without htmx
    status, html, _ = site.get(f"/repositories/{REPO}/commits/{commit}/diff/pkg/nope.py")
    assert status == 404 and "FILE_NOT_CHANGED" in html
    status, _, _ = site.get(f"/repositories/{OTHER}/commits/{commit}/diff/{path}", "reader-demo")
    assert status == 403


def test_run_page(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}/runs/{site.run_id}")
    assert status == 200 and "app/models.py" in html and "passed" in html


def test_entity_history_follows_the_rename(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}/entities/app.models.assist")
    assert status == 200
    text = text_of(html)
    assert "renamed" in text and "app.models.helper" in text and "added" in text
    assert "#step-5" in html  # the commit that renamed it links to its step
    status, html, _ = site.get(f"/repositories/{REPO}/entities/app.models.helper")
    assert "renamed" in text_of(html)  # the old name finds the same lineage


def test_merge_preview_shows_the_conflict_three_ways(site: Site) -> None:
    status, html, _ = site.get(f"/repositories/{REPO}/merge?target=feature/left&source=feature/right")
    assert status == 200
    text = text_of(html)
    assert "conflict" in text and "app.models.helper" in text
    assert "x + 1" in text and "x + 2" in text and "x * 3" in text  # base, left, right
    status, html, _ = site.get(f"/repositories/{REPO}/merge?source={site.commit_id}")
    assert status == 200 and "clean" in text_of(html)
    status, html, _ = site.get(f"/repositories/{REPO}/merge?source=no-such-branch")
    assert status == 404


def test_console_runs_a_query_and_offers_a_chart(site: Site) -> None:
    sql = "SELECT agent, count(*) AS commits FROM commits GROUP BY agent ORDER BY agent"
    status, html, _ = site.get("/query?" + urllib.parse.urlencode({"sql": sql}))
    assert status == 200
    assert 'id="chart-data"' in html and '"kind": "category"' in html
    assert "agent-1" in text_of(html[html.index('id="result"') :])
    status, html, _ = site.get("/query?" + urllib.parse.urlencode({"sql": "DROP TABLE commits"}))
    assert status == 400 and "QUERY_NOT_READ_ONLY" in html
    status, html, _ = site.get("/query?" + urllib.parse.urlencode({"sql": "SELECT * FROM read_csv('/etc/passwd')"}))
    assert status == 400 and "root:" not in html
    status, html, _ = site.get("/query?" + urllib.parse.urlencode({"sql": f"SELECT '{SCRIPT}' AS s"}))
    assert SCRIPT not in html and "&lt;script&gt;" in html


def test_console_downloads_csv_and_parquet(site: Site) -> None:
    sql = urllib.parse.urlencode({"sql": "SELECT repository, count(*) AS n FROM commits GROUP BY ALL ORDER BY 1"})
    status, body, headers = site.get("/query/result.csv?" + sql)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert body.splitlines()[0] == '"repository","n"' and REPO in body
    request = urllib.request.Request(
        site.url + "/query/result.parquet?" + sql, headers={"Authorization": f"Bearer {site.tokens['reader-all']}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        table = pq.read_table(io.BytesIO(response.read()))
    assert table.column_names == ["repository", "n"] and REPO in table.column("repository").to_pylist()


def test_unknown_things_are_404(site: Site) -> None:
    for path, reason in (
        (f"/repositories/{REPO}/commits/{'f' * 40}", ""),
        (f"/repositories/{REPO}/runs/{'0' * 20}", "RUN_NOT_FOUND"),
        ("/query/result.xml?sql=SELECT+1", "UNKNOWN_FORMAT"),
        ("/repositories/nope", ""),
    ):
        status, html, _ = site.get(path)
        assert status in (403, 404) if path == "/repositories/nope" else status == 404, path
        assert reason in html


def test_static_files_are_served_from_the_package(site: Site) -> None:
    for name in ("htmx.min.js", "chart.umd.min.js", "app.js", "app.css"):
        status, body, _ = site.get("/static/" + name, None)
        assert status == 200 and len(body) > 100, name


def test_pages_spend_the_same_request_quota_as_calls(tmp_path: Path) -> None:
    from trellis import vcs
    from trellis.client import Client
    from trellis.config import ServerConfig
    from trellis.quotas import Quotas
    from trellis.server import build_server
    from trellis.vcs import LimitExceeded
    from trellis.web import start_http

    config = ServerConfig(
        data_dir=tmp_path,
        address="127.0.0.1:0",
        durability=vcs.Durability.NONE,
        quotas=Quotas(requests_per_second=0.001, burst=3),
    )
    running = build_server(config)
    try:
        web = start_http(running, tmp_path, "127.0.0.1:0")
        try:
            codes = []
            for _ in range(3):
                try:
                    with urllib.request.urlopen(web.url + "/repositories", timeout=30) as response:
                        codes.append(response.status)
                except urllib.error.HTTPError as exc:
                    codes.append(exc.code)
            assert codes == [200, 200, 200]
            # The fourth request of the identity ("local") is one too many, on the web or over gRPC.
            with pytest.raises(urllib.error.HTTPError) as raised:
                urllib.request.urlopen(web.url + "/repositories", timeout=30)
            assert raised.value.code == 429
            assert int(raised.value.headers["retry-after"]) >= 1
            assert "RATE_LIMITED" in raised.value.read().decode()
            with Client(running.address, agent="local") as client, pytest.raises(LimitExceeded) as call:
                list(client.list_repositories())
            assert call.value.reason == "RATE_LIMITED"
        finally:
            web.stop()
    finally:
        running.stop()
