"""Property: any sequence of put/delete change sets leaves exactly the files a dict model predicts.

The model is the documented behaviour (docs/vcs.md), stated declaratively:
a path appears once per change set; only existing files can be deleted; a
file may not replace a directory nor sit under a file (unless that file is
deleted in the same change); a change set that changes nothing is rejected;
a rejected change set changes nothing.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis import vcs
from trellis.vcs.objects import forget_kept_commits

ALICE = vcs.Identity("alice")
SEGMENTS = ["a", "b", "c"]
PATHS = ["/".join(p) for depth in (1, 2, 3) for p in itertools.product(SEGMENTS, repeat=depth)]
CONTENTS = [b"", b"x", b"y\n", b"\x00\xff binary"]

Model = dict[str, tuple[bytes, bool]]

put = st.builds(lambda p, c, x: ("put", p, c, x), st.sampled_from(PATHS), st.sampled_from(CONTENTS), st.booleans())
delete = st.builds(lambda p: ("delete", p), st.sampled_from(PATHS))
change_set = st.lists(st.one_of(put, put, delete), min_size=1, max_size=6)


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _directories(model: Model) -> set[str]:
    return {prefix for path in model for prefix in _prefixes(path)}


def _predict(model: Model, ops: list[tuple]) -> tuple[set[str], Model]:
    """The reasons this change set must be rejected for (empty if it must land), and the new model."""
    reasons: set[str] = set()
    paths = [op[1] for op in ops]
    if len(set(paths)) != len(paths):
        reasons.add("DUPLICATE_PATH")
    puts = {op[1] for op in ops if op[0] == "put"}
    deletes = {op[1] for op in ops if op[0] == "delete"}
    if any(path not in model for path in deletes):
        reasons.add("PATH_NOT_FOUND")
    directories = _directories(model)
    for path in puts:
        if path in directories:
            reasons.add("PATH_CONFLICT")
        for prefix in _prefixes(path):
            if prefix in puts or (prefix in model and prefix not in deletes):
                reasons.add("PATH_CONFLICT")
    if reasons:
        return reasons, model
    new = {p: v for p, v in model.items() if p not in deletes}
    for op in ops:
        if op[0] == "put":
            new[op[1]] = (op[2], op[3])
    if new == model:
        return {"EMPTY_CHANGE"}, model
    return set(), new


def _read_back(store: vcs.Store) -> tuple[Model, set[str]]:
    files: Model = {}
    directories: set[str] = set()
    token = ""
    while True:
        page = store.list_tree("demo", "main", recursive=True, page_size=7, page_token=token)
        for entry in page.items:
            if entry.kind == "directory":
                directories.add(entry.path)
            else:
                assert entry.kind == "file"
                content = store.read_file("demo", "main", entry.path)
                assert content.executable == entry.executable
                assert entry.size == len(content.content)
                files[entry.path] = (content.content, content.executable)
        token = page.next_page_token
        if not token:
            return files, directories


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(change_set, min_size=1, max_size=8))
def test_random_change_sets_match_a_dict_model(
    tmp_path_factory: pytest.TempPathFactory, history: list[list[tuple]]
) -> None:
    store = vcs.Store(tmp_path_factory.mktemp("prop"))
    head = store.create_repository("demo", ALICE).head_commit_id
    model: Model = {}
    for ops in history:
        changes = [vcs.PutFile(op[1], op[2], op[3]) if op[0] == "put" else vcs.DeleteFile(op[1]) for op in ops]
        reasons, expected = _predict(model, ops)
        if reasons:
            with pytest.raises(vcs.VcsError) as info:
                store.commit("demo", "main", changes, "m", ALICE, expected_head=head)
            assert info.value.reason in reasons, (ops, model)
            assert store.get_branch("demo", "main").head_commit_id == head
        else:
            result = store.commit("demo", "main", changes, "m", ALICE, expected_head=head)
            assert result.commit.parent_ids == (head,)
            head = result.commit.commit_id
        model = expected
        files, directories = _read_back(store)
        assert files == model
        assert directories == _directories(model)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    message=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80),
    agent=st.text(st.sampled_from("ab .é"), min_size=1, max_size=8).filter(lambda n: n.strip(" .")),
    session=st.booleans(),
    request_id=st.sampled_from(["", "req-1"]),
    merge=st.booleans(),
)
def test_the_commit_a_write_returns_is_the_commit_read_back(
    tmp_path_factory: pytest.TempPathFactory, message: str, agent: str, session: bool, request_id: str, merge: bool
) -> None:
    """Commit and Merge build their answer from what they wrote (no read back): it must be what a read gives."""
    store = vcs.Store(tmp_path_factory.mktemp("answer"), durability=vcs.Durability.NONE)
    who = vcs.Identity(agent)
    store.create_repository("demo", who)
    session_id = store.create_session("demo", who, branch="work").session_id if session else None
    branch = "work" if session_id else "main"
    for attempt in range(2):  # the second is a replay when there is a request id
        try:
            result = store.commit(
                "demo",
                branch,
                [vcs.PutFile("a.txt", b"a")],
                message,
                who,
                session_id=session_id,
                request_id=request_id or None,
            )
        except vcs.InvalidArgument:
            assert attempt == 1 and not request_id  # the same change again is empty
            break
        forget_kept_commits()  # read from the object, not the value the write kept
        assert result.commit == store.get_commit("demo", result.commit.commit_id)
    if merge:
        store.create_branch("demo", "side", branch)
        store.commit("demo", "side", [vcs.PutFile("b.txt", b"b")], "side", who)
        if branch != "main":
            store.commit("demo", branch, [vcs.PutFile("c.txt", b"c")], "diverge", who, session_id=session_id)
        merged = store.merge("demo", branch, "side", who, message=message, session_id=session_id)
        assert merged.commit is not None
        forget_kept_commits()
        assert merged.commit == store.get_commit("demo", merged.commit.commit_id)
