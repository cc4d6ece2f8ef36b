"""trellis.differ: the LRU of finished diffs is bounded by bytes, not by a count of diffs (a diff of a branch
against its base grows with every file the branch changed)."""

from __future__ import annotations

from trellis import vcs
from trellis.differ import Differ, result_cost


def _module(n: int, edit: int) -> bytes:
    return f"def f{n}(x):\n    return x + {edit}\n".encode()


def test_finished_diffs_are_kept_within_their_byte_bound(store: vcs.Store, alice: vcs.Identity) -> None:
    store.create_repository("demo", alice)
    store.commit("demo", "main", [vcs.PutFile(f"m{n}.py", _module(n, 0)) for n in range(40)], "seed", alice)
    store.create_branch("demo", "agent", "main")
    differ = Differ(store, results_bytes=64 * 1024)
    sizes = []
    for n in range(40):  # each head's diff against main holds one more file than the last one
        head = store.commit("demo", "agent", [vcs.PutFile(f"m{n}.py", _module(n, 1))], f"edit {n}", alice)
        done = differ.diff("demo", "main", head.commit.commit_id)
        assert len(done.result.files) == n + 1
        sizes.append(result_cost(done.result))
        kept, held = differ.results_held()
        assert held <= 64 * 1024 and held == sum(sizes[len(sizes) - kept :])
    assert sizes[-1] > 4 * sizes[0] and kept < 40  # the bound evicted the oldest: a count of 2,048 would not
    again = differ.diff("demo", "main", head.commit.commit_id)
    assert again is done  # the latest is answered from the LRU


def test_a_diff_larger_than_the_whole_bound_is_not_kept(store: vcs.Store, alice: vcs.Identity) -> None:
    store.create_repository("demo", alice)
    first = store.commit("demo", "main", [vcs.PutFile("a.py", _module(0, 0))], "seed", alice)
    second = store.commit("demo", "main", [vcs.PutFile("a.py", _module(0, 1))], "edit", alice)
    differ = Differ(store, results_bytes=100)
    differ.diff("demo", first.commit.commit_id, second.commit.commit_id)
    assert differ.results_held() == (0, 0)
