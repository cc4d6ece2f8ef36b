"""Job planning: fan-out per commit, file and entity, selectors, substitutions, order and dependencies."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis import semantic_diff
from trellis.ci.pipeline.globs import matches_any
from trellis.ci.pipeline.model import UnknownStage
from trellis.ci.pipeline.plan import FILE_CHANGES, ChangedFile, Chunk, CommitChanges, PlannedJob, dependencies, plan
from trellis.ci.pipeline.toml import parse_pipeline
from trellis.semantic_diff import EntityChange

COMMIT = "c0ffee" * 6 + "abcd"


def ec(path: str, qualname: str, kind: str = "function", change: str = "modified", old_path: str = "") -> EntityChange:
    old = old_path or ("" if change == "added" else path)
    return EntityChange(
        path=path,
        old_path=old,
        kind=kind,
        qualname=qualname,
        old_qualname="" if change == "added" else qualname,
        change=change,
        details=(),
        old_start_line=0 if change == "added" else 1,
        old_end_line=0 if change == "added" else 2,
        new_start_line=0 if change == "removed" else 1,
        new_end_line=0 if change == "removed" else 2,
        similarity=1.0,
    )


def cf(path: str, status: str = "modified", language: str | None = None, old_path: str = "") -> ChangedFile:
    lang = semantic_diff.language_for(path) or "" if language is None else language
    return ChangedFile(path=path, status=status, old_path=old_path, language=lang)


CHANGES = CommitChanges(
    commit_id=COMMIT,
    files=(
        cf("README.md"),
        cf("src/app.py"),
        cf("src/payments/charge.py", "added"),
        cf("src/old.py", "deleted"),
        cf("web/ui.ts", "renamed", old_path="web/old_ui.ts"),
    ),
    entities=(
        ec("src/app.py", "src.app", "module"),
        ec("src/app.py", "src.app.main"),
        ec("src/app.py", "src.app.App.run", "method", "added"),
        ec("src/payments/charge.py", "src.payments.charge.charge", change="added"),
        ec("src/payments/charge.py", "src.payments.charge.Card", "class", "added"),
        ec("src/old.py", "src.old.gone", change="removed"),
        ec("src/payments/charge.py", "src.payments.charge.helper", change="moved", old_path="src/app.py"),
        ec("web/ui.ts", "web.ui.render", change="renamed"),
    ),
)


def jobs_of(text: str, changes: CommitChanges = CHANGES, **kwargs: object) -> tuple[PlannedJob, ...]:
    return plan(parse_pipeline(text), changes, **kwargs)  # type: ignore[arg-type]


def labels(jobs: tuple[PlannedJob, ...], stage: str | None = None) -> list[str]:
    return [j.label for j in jobs if stage is None or j.stage.name == stage]


# -- fan-out and substitution ---------------------------------------------------------------------


def test_file_scope_fans_out_per_file_with_substitutions() -> None:
    jobs = jobs_of(
        '[stages.lint]\nscope = "file"\nrun = "lint {path} --lang {language} --change {change} '
        '--all {paths} {commit} {stage}"\n'
    )
    assert labels(jobs) == ["README.md", "src/app.py", "src/payments/charge.py", "web/ui.ts"]  # not the deleted file
    assert jobs[1].command == f"lint src/app.py --lang python --change modified --all src/app.py {COMMIT} lint"
    assert jobs[0].command == f"lint README.md --lang '' --change modified --all README.md {COMMIT} lint"
    assert jobs[3].chunk == Chunk(
        scope="file", path="web/ui.ts", language="typescript", change="renamed", paths=("web/ui.ts",)
    )
    assert all(j.full is False for j in jobs)


def test_entity_scope_fans_out_per_entity_with_substitutions() -> None:
    jobs = jobs_of(
        '[stages.doc]\nscope = "entity"\nrun = "check {path} {qualname} {name} {kind} {change} {language}"\n'
    )
    assert labels(jobs) == [
        "src/app.py::src.app",
        "src/app.py::src.app.main",
        "src/app.py::src.app.App.run",
        "src/payments/charge.py::src.payments.charge.charge",
        "src/payments/charge.py::src.payments.charge.Card",
        "src/payments/charge.py::src.payments.charge.helper",
        "web/ui.ts::web.ui.render",
    ]  # no removed entity
    by_label = {j.label: j for j in jobs}
    assert by_label["src/app.py::src.app.App.run"].command == "check src/app.py src.app.App.run run method added python"
    assert by_label["src/app.py::src.app"].chunk.name == "src.app"  # a module is named by its qualname
    moved = by_label["src/payments/charge.py::src.payments.charge.helper"].chunk
    assert (moved.change, moved.path, moved.name) == ("moved", "src/payments/charge.py", "helper")


def test_commit_scope_is_one_job_over_all_existing_files() -> None:
    jobs = jobs_of('[stages.lint]\nrun = "ruff check {paths}"\n')
    assert len(jobs) == 1 and jobs[0].label == "" and jobs[0].chunk.scope == "commit"
    assert jobs[0].command == "ruff check README.md src/app.py src/payments/charge.py web/ui.ts"


def test_values_are_shell_quoted() -> None:
    nasty = 'my dir/it\'s $(rm -rf ~) "x".py'
    changes = CommitChanges(COMMIT, (cf(nasty, "added"), cf("plain.py")), (ec(nasty, "weird; name", change="added"),))
    file_jobs = jobs_of('[stages.a]\nscope = "file"\nrun = "cat {path}"\n', changes)
    assert shlex.split(file_jobs[0].command) == ["cat", nasty]
    assert file_jobs[0].command == "cat " + shlex.quote(nasty)
    commit_jobs = jobs_of('[stages.a]\nrun = "cat {paths}"\n', changes)
    assert shlex.split(commit_jobs[0].command) == ["cat", nasty, "plain.py"]
    entity_jobs = jobs_of('[stages.a]\nscope = "entity"\nrun = "x {qualname}"\n', changes)
    assert shlex.split(entity_jobs[0].command) == ["x", "weird; name"]


def test_literal_braces_survive() -> None:
    jobs = jobs_of("""[stages.a]\nscope = "file"\nrun = "awk '{{print $1}}' {path}"\nwhen.paths = ["src/app.py"]\n""")
    assert jobs[0].command == "awk '{print $1}' src/app.py"


def test_only_command_stages_have_a_command() -> None:
    jobs = jobs_of('[stages.s]\nkind = "syntax"\n[stages.t]\nkind = "pytest"\n[stages.r]\nkind = "external"\n')
    assert {j.command for j in jobs} == {""}
    assert labels(jobs, "s") == ["src/app.py", "src/payments/charge.py", "web/ui.ts"]  # parseable, not deleted
    assert labels(jobs, "t") == [""] and labels(jobs, "r") == [""]


# -- selectors ------------------------------------------------------------------------------------


def test_path_selectors_and_exclude() -> None:
    jobs = jobs_of(
        '[stages.a]\nscope = "file"\nrun = "x {path}"\nwhen.paths = ["**/*.py", "*.md"]\n'
        'when.exclude = ["src/payments/"]\n'
    )
    assert labels(jobs) == ["README.md", "src/app.py"]


def test_language_selector() -> None:
    jobs = jobs_of('[stages.a]\nscope = "entity"\nrun = "x"\nwhen.languages = ["typescript"]\n')
    assert labels(jobs) == ["web/ui.ts::web.ui.render"]


def test_entity_kind_selector_on_each_scope() -> None:
    text = '[stages.a]\nscope = "{scope}"\nrun = "x"\nwhen.entities = ["class", "method"]\n'
    assert labels(jobs_of(text.replace("{scope}", "entity"))) == [
        "src/app.py::src.app.App.run",
        "src/payments/charge.py::src.payments.charge.Card",
    ]
    assert labels(jobs_of(text.replace("{scope}", "file"))) == ["src/app.py", "src/payments/charge.py"]
    commit = jobs_of('[stages.a]\nrun = "x {paths}"\nwhen.entities = ["class"]\n')
    assert commit[0].command == "x src/payments/charge.py"
    assert jobs_of('[stages.a]\nrun = "x {paths}"\nwhen.entities = ["struct"]\n') == ()


def test_change_selector_on_files_maps_statuses_and_sees_entity_changes() -> None:
    def files(changes: str, kind: str = "external") -> list[str]:
        return labels(jobs_of(f'[stages.a]\nkind = "{kind}"\nscope = "file"\nwhen.changes = {changes}\n'))

    assert files('["added"]') == ["src/app.py", "src/payments/charge.py"]  # App.run was added to src/app.py
    assert files('["removed"]') == ["src/old.py"]
    assert files('["renamed"]') == ["web/ui.ts"]
    assert files('["moved"]') == ["src/app.py", "src/payments/charge.py"]  # helper left one for the other
    assert files('["modified"]') == ["README.md", "src/app.py"]
    assert {v for v in FILE_CHANGES.values()} <= {"added", "removed", "modified", "renamed"}


def test_entities_and_changes_select_jointly_on_files() -> None:
    jobs = jobs_of('[stages.a]\nscope = "file"\nrun = "x"\nwhen.entities = ["class"]\nwhen.changes = ["modified"]\n')
    assert jobs == ()
    jobs = jobs_of('[stages.a]\nscope = "file"\nrun = "x"\nwhen.entities = ["method"]\nwhen.changes = ["added"]\n')
    assert labels(jobs) == ["src/app.py"]


def test_the_review_example() -> None:
    jobs = jobs_of(
        '[stages.review]\nkind = "external"\nscope = "entity"\nwhen.paths = ["src/payments/**"]\n'
        'when.entities = ["function", "method"]\nwhen.changes = ["added", "modified"]\n'
    )
    assert labels(jobs) == ["src/payments/charge.py::src.payments.charge.charge"]


def test_removed_chunks_go_to_stages_that_can_use_them() -> None:
    # A command stage sees deleted files and removed entities only when it asks for removals.
    assert "src/old.py" not in labels(jobs_of('[stages.a]\nscope = "file"\nrun = "x {path}"\n'))
    asked = jobs_of('[stages.a]\nscope = "file"\nrun = "x {path}"\nwhen.changes = ["removed"]\n')
    assert labels(asked) == ["src/old.py"]
    entity = jobs_of('[stages.a]\nscope = "entity"\nrun = "x {qualname}"\nwhen.changes = ["removed"]\n')
    assert labels(entity) == ["src/old.py::src.old.gone"] and entity[0].command == "x src.old.gone"
    # Reviewers and tests see them always; syntax never.
    assert "src/old.py::src.old.gone" in labels(jobs_of('[stages.a]\nkind = "external"\nscope = "entity"\n'))
    assert "src/old.py" in labels(jobs_of('[stages.a]\nkind = "pytest"\nscope = "file"\n'))
    assert "src/old.py" not in labels(jobs_of('[stages.a]\nkind = "syntax"\n'))


def test_commit_scope_with_selectors() -> None:
    assert jobs_of('[stages.a]\nrun = "x {paths}"\nwhen.paths = ["**/*.go"]\n') == ()
    only_deleted = CommitChanges(COMMIT, (cf("a.py", "deleted"), cf("b.md")))
    # A deleted file does not trigger lint, but can trigger a stage asking for removals (without being listed).
    assert jobs_of('[stages.a]\nrun = "x {paths}"\nwhen.paths = ["*.py"]\n', only_deleted) == ()
    removed = jobs_of('[stages.a]\nrun = "x {paths}"\nwhen.changes = ["removed"]\n', only_deleted)
    assert [j.command for j in removed] == ["x "]
    # Without selectors: always exactly one job, even for a change that only deletes.
    assert [j.command for j in jobs_of('[stages.a]\nrun = "x {paths}"\n', only_deleted)] == ["x b.md"]
    assert len(jobs_of('[stages.a]\nkind = "pytest"\n', CommitChanges(COMMIT, ()))) == 1
    # A syntax stage needs a parseable file.
    assert jobs_of('[stages.a]\nkind = "syntax"\nscope = "commit"\n', only_deleted) == ()


def test_duplicate_chunks_are_planned_once() -> None:
    changes = CommitChanges(
        COMMIT,
        (cf("A.java"), cf("A.java")),
        (ec("A.java", "A.f", "method", "modified"), ec("A.java", "A.f", "method", "added")),
    )
    assert labels(jobs_of('[stages.a]\nscope = "file"\nrun = "x"\n', changes)) == ["A.java"]
    jobs = jobs_of('[stages.a]\nscope = "entity"\nrun = "x {change}"\n', changes)
    assert [j.command for j in jobs] == ["x modified"]
    added = jobs_of('[stages.a]\nscope = "entity"\nrun = "x {change}"\nwhen.changes = ["added"]\n', changes)
    assert [j.command for j in added] == ["x added"]


def test_entity_names() -> None:
    changes = CommitChanges(
        COMMIT,
        (cf("src/lib.rs"), cf("conf.yaml")),
        (
            ec("src/lib.rs", "src.lib.<a.Point as fmt.Display>.fmt", "method"),
            ec("src/lib.rs", "src.lib.<a.Point as fmt.Display>", "impl"),
            ec("conf.yaml", "servers[0].host", "key"),
            ec("conf.yaml", "conf.yaml", "document"),
        ),
    )
    jobs = jobs_of('[stages.a]\nscope = "entity"\nrun = "x {name}"\n', changes)
    assert [j.chunk.name for j in jobs] == ["fmt", "<a.Point as fmt.Display>", "host", "conf.yaml"]
    assert [j.chunk.language for j in jobs] == ["rust", "rust", "yaml", "yaml"]


# -- full runs ------------------------------------------------------------------------------------


def test_full_runs_plan_over_all_files() -> None:
    tree = [cf("a.py", "added"), cf("b/c.py", "added"), cf("d.md", "added")]
    jobs = jobs_of('[stages.a]\nscope = "file"\nrun = "x {path}"\nwhen.paths = ["*.py"]\n', full=True, all_files=tree)
    assert labels(jobs) == ["a.py", "b/c.py"] and all(j.full for j in jobs)
    assert labels(jobs_of('[stages.a]\nkind = "pytest"\n', full=True)) == [""]
    with pytest.raises(ValueError, match="all_files is only used with full=True"):
        jobs_of('[stages.a]\nkind = "pytest"\n', all_files=tree)


# -- order, closure, dependencies -----------------------------------------------------------------

PIPELINE = """
[stages.unit]
kind = "pytest"
needs = ["lint", "syntax"]

[stages.lint]
scope = "file"
run = "ruff check {path}"
when.paths = ["**/*.py"]
needs = ["syntax"]

[stages.syntax]
kind = "syntax"
scope = "file"
when.languages = ["python"]

[stages.docs]
scope = "file"
run = "vale {path}"
when.paths = ["*.md"]
needs = ["lint"]

[stages.review]
kind = "external"
scope = "entity"
when.entities = ["function"]
needs = ["syntax"]
"""


def test_jobs_come_in_pipeline_order() -> None:
    jobs = jobs_of(PIPELINE)
    assert [j.stage.name for j in jobs] == (["syntax"] * 2 + ["lint"] * 2 + ["unit"] + ["docs"] + ["review"] * 5)


def test_stages_restrict_the_plan_to_their_closure() -> None:
    jobs = jobs_of(PIPELINE, stages=["unit"])
    assert sorted({j.stage.name for j in jobs}) == ["lint", "syntax", "unit"]
    assert jobs_of(PIPELINE, stages="lint") == jobs_of(PIPELINE, stages=["lint"])
    with pytest.raises(UnknownStage):
        jobs_of(PIPELINE, stages=["nope"])


def test_dependencies_follow_chunks() -> None:
    pipeline = parse_pipeline(PIPELINE)
    jobs = plan(pipeline, CHANGES)
    index = {(j.stage.name, j.label): i for i, j in enumerate(jobs)}
    deps = dependencies(jobs, pipeline)
    assert set(deps) == set(range(len(jobs)))

    def of(stage: str, label: str) -> set[tuple[str, str]]:
        return {(jobs[d].stage.name, jobs[d].label) for d in deps[index[(stage, label)]]}

    assert of("syntax", "src/app.py") == set()
    # file -> file: the same file only
    assert of("lint", "src/app.py") == {("syntax", "src/app.py")}
    # commit -> anything: every job of the needed stages
    assert of("unit", "") == {
        ("syntax", "src/app.py"),
        ("syntax", "src/payments/charge.py"),
        ("lint", "src/app.py"),
        ("lint", "src/payments/charge.py"),
    }
    # lint planned nothing for README.md, so docs waits for what lint would have waited for: nothing here
    assert of("docs", "README.md") == set()
    # entity -> file: its own file
    assert of("review", "src/app.py::src.app.main") == {("syntax", "src/app.py")}
    # a TypeScript function: syntax (python only) has nothing for its file
    assert of("review", "web/ui.ts::web.ui.render") == set()
    assert all(d < i for i, ds in deps.items() for d in ds)


def test_dependencies_pass_through_stages_that_planned_nothing() -> None:
    text = """
[stages.a]
scope = "file"
run = "a {path}"
[stages.b]
scope = "file"
run = "b {path}"
when.paths = ["*.go"]
needs = ["a"]
[stages.c]
scope = "entity"
run = "c {qualname}"
needs = ["b"]
"""
    pipeline = parse_pipeline(text)
    jobs = plan(pipeline, CHANGES)
    assert "b" not in {j.stage.name for j in jobs}
    deps = dependencies(jobs, pipeline)
    for i, job in enumerate(jobs):
        if job.stage.name == "c":
            assert [(jobs[d].stage.name, jobs[d].label) for d in deps[i]] == [("a", job.chunk.path)]


def test_entity_jobs_wait_for_same_entity_jobs() -> None:
    text = (
        '[stages.a]\nscope = "entity"\nrun = "a"\n[stages.b]\nscope = "entity"\nrun = "b"\nneeds = ["a"]\n'
        '[stages.c]\nscope = "file"\nrun = "c"\nneeds = ["a"]\n'
    )
    pipeline = parse_pipeline(text)
    jobs = plan(pipeline, CHANGES)
    deps = dependencies(jobs, pipeline)
    for i, job in enumerate(jobs):
        if job.stage.name == "b":
            assert [jobs[d].label for d in deps[i]] == [job.label]
        if job.stage.name == "c" and job.label == "src/payments/charge.py":
            assert [jobs[d].chunk.qualname for d in deps[i]] == [
                "src.payments.charge.charge",
                "src.payments.charge.Card",
                "src.payments.charge.helper",
            ]


# -- from a real semantic diff --------------------------------------------------------------------


def test_change_set_from_a_real_diff() -> None:
    old = {"app/core.py": b"def f():\n    return 1\n\ndef g():\n    return 2\n", "notes.txt": b"a\n"}
    new = {"app/core.py": b"def f():\n    return 10\n\ndef h():\n    return 3\n", "app/new file.py": b"X = 1\n"}
    changes = CommitChanges.from_diff(COMMIT, semantic_diff.diff_files(old, new))
    assert [(f.path, f.status, f.language) for f in changes.files] == [
        ("app/core.py", "modified", "python"),
        ("app/new file.py", "added", "python"),
        ("notes.txt", "deleted", ""),
    ]
    jobs = jobs_of(
        '[stages.a]\nscope = "entity"\nrun = "t {path} {qualname} {change}"\nwhen.entities = ["function"]\n', changes
    )
    assert sorted(j.command for j in jobs) == ["t app/core.py app.core.f modified", "t app/core.py app.core.h added"]
    removed = jobs_of('[stages.a]\nkind = "external"\nscope = "entity"\nwhen.changes = ["removed"]\n', changes)
    assert labels(removed) == ["app/core.py::app.core.g"]


# -- properties -----------------------------------------------------------------------------------

PY_PATHS = ["a.py", "src/b.py", "src/payments/c.py", "docs/x y.md", "web/d.ts", "e.go", "f.json", "bin/blob"]
KINDS = ["function", "method", "class", "module", "key"]


@st.composite
def change_sets(draw: st.DrawFn) -> CommitChanges:
    paths = draw(st.lists(st.sampled_from(PY_PATHS), unique=True, max_size=6))
    files = tuple(cf(p, draw(st.sampled_from(["added", "deleted", "modified", "renamed"]))) for p in paths)
    entities = []
    for f in files:
        for n in range(draw(st.integers(0, 3))):
            change = (
                "removed"
                if f.status == "deleted"
                else draw(st.sampled_from(["added", "removed", "modified", "renamed", "moved", "moved_renamed"]))
            )
            entities.append(ec(f.path, f"q.e{n}", draw(st.sampled_from(KINDS)), change))
    return CommitChanges(COMMIT, files, tuple(entities))


SELECTOR_LINES = st.lists(
    st.sampled_from(
        [
            'when.paths = ["**/*.py"]',
            'when.paths = ["src/"]',
            'when.exclude = ["src/payments/**"]',
            'when.languages = ["python", "typescript"]',
            'when.entities = ["function", "class"]',
            'when.changes = ["added", "removed"]',
            'when.changes = ["modified"]',
        ]
    ),
    unique_by=lambda s: s.split("=")[0],
    max_size=3,
)


@st.composite
def pipelines(draw: st.DrawFn) -> str:
    out = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["command", "syntax", "pytest", "external"]))
        scope = draw(st.sampled_from(["commit", "file"] if kind == "syntax" else ["commit", "file", "entity"]))
        lines = [f"[stages.s{i}]", f'kind = "{kind}"', f'scope = "{scope}"', *draw(SELECTOR_LINES)]
        if kind == "command":
            lines.append('run = "x {paths}"')
        if i:
            lines.append(
                f"needs = {draw(st.lists(st.sampled_from([f's{j}' for j in range(i)]), unique=True))}".replace("'", '"')
            )
        out.append("\n".join(lines))
    return "\n".join(out) + "\n"


def _selected(job: PlannedJob, changes: CommitChanges) -> bool:
    """An independent restatement of the selector rules for one planned job."""
    sel, chunk = job.stage.selectors, job.chunk
    paths = [chunk.path] if chunk.scope != "commit" else list(chunk.paths)
    for path in paths:
        if sel.paths and not matches_any(sel.paths, path):
            return False
        if sel.exclude and matches_any(sel.exclude, path):
            return False
    if chunk.scope == "entity":
        return (
            (not sel.languages or chunk.language in sel.languages)
            and (not sel.entities or chunk.kind in sel.entities)
            and (not sel.changes or chunk.change in sel.changes)
        )
    if chunk.scope == "file":
        assert sel.languages == () or chunk.language in sel.languages
        if job.stage.kind == "syntax":
            assert chunk.language
        if chunk.change == "removed":
            assert job.stage.kind in ("pytest", "external") or "removed" in sel.changes
    return True


@settings(max_examples=150, deadline=None)
@given(pipelines(), change_sets())
def test_plans_are_deterministic_and_respect_selectors(text: str, changes: CommitChanges) -> None:
    pipeline = parse_pipeline(text)
    jobs = plan(pipeline, changes)
    assert jobs == plan(pipeline, changes)
    order = {s.name: i for i, s in enumerate(pipeline.stages)}
    assert [order[j.stage.name] for j in jobs] == sorted(order[j.stage.name] for j in jobs)
    keys = [(j.stage.name, j.label) for j in jobs]
    assert len(keys) == len(set(keys))
    existing = {f.path for f in changes.files if f.status != "deleted"}
    for job in jobs:
        assert _selected(job, changes)
        assert set(job.chunk.paths) <= existing | {job.chunk.path}
        if job.stage.kind == "command":
            assert shlex.split(job.command) == ["x", *job.chunk.paths]
        if job.chunk.scope == "commit" and job.stage.selectors.is_empty and job.stage.kind != "syntax":
            assert set(job.chunk.paths) == existing
    for stage in pipeline.stages:
        if stage.scope == "commit":
            assert sum(j.stage.name == stage.name for j in jobs) <= 1
            if stage.selectors.is_empty and stage.kind != "syntax":
                assert sum(j.stage.name == stage.name for j in jobs) == 1
    deps = dependencies(jobs, pipeline)
    for i, ds in deps.items():
        needed = {s.name for s in pipeline.closure(jobs[i].stage.needs)}
        assert all(d < i and jobs[d].stage.name in needed for d in ds)
