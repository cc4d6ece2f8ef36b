"""What the engine reads from git, through the store's plain reads (no pygit2 object reaches ci)."""

from __future__ import annotations

from trellis import vcs

__all__ = ["file_in_tree"]


def file_in_tree(store: vcs.Store, repository: str, tree_id: str, path: str) -> bytes | None:
    """The content of ``path`` in tree ``tree_id``; None if there is no such entry (b"" if it is no file)."""
    found = store.tree_files(repository, tree_id, (path,))
    if path in found:
        return found[path]
    return b"" if store.tree_entry_id(repository, tree_id, path) is not None else None
