"""Where a commit's pipeline comes from: the repository's own, else the commit's ``trellis.toml``.

Parsed once per content (every push of a branch carries the same file), so
the cache is keyed by the text's hash; the repository-level pipeline is a
record of the repository (``refs/trellis/pipeline/repository``).

Every commit asks twice (is its branch protected, at the branch's head; does
a pipeline apply to it): what a tree holds at ``trellis.toml`` is kept by tree
id (a tree never changes), and the repository's record by its version (one
reference lookup tells whether it changed, in this process or another).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from trellis import vcs
from trellis.vcs import Identity, NotFound

from ..errors import InvalidRequest, PipelineNotFound, Refused
from ..pipeline.model import Pipeline, PipelineError
from ..pipeline.toml import parse_pipeline

__all__ = ["CONFIG_FILE", "PipelineSource"]

PIPELINES = "pipeline"
REPOSITORY_PIPELINE = "repository"
CONFIG_FILE = "trellis.toml"
MAX_PARSED = 512
MAX_TREES = 4096
MAX_KEPT_BYTES = 4 * 1024 * 1024  # of the texts kept by tree and by record version (a file may be large)


class PipelineSource:
    """The pipelines of a store's repositories, with a parse cache shared by all of them."""

    def __init__(self, store: vcs.Store) -> None:
        self.store = store
        self._parsed: dict[bytes, Pipeline] = {}
        self._trees: dict[str, bytes | None] = {}  # tree id -> its trellis.toml, None if it has none
        self._records: dict[tuple[str, str], bytes] = {}  # (repository, record version) -> the record's text
        self._kept = 0  # bytes of the texts in _trees and _records

    def parse(self, text: bytes, source: str) -> Pipeline:
        """Parse once per content (every push of a branch carries the same ``trellis.toml``)."""
        key = hashlib.sha256(text).digest()
        found = self._parsed.get(key)
        if found is None:
            found = parse_pipeline(text, source=source)  # an error names this source
            if len(self._parsed) > MAX_PARSED:
                self._parsed.clear()
            self._parsed[key] = found
        return found if found.source == source else replace(found, source=source)

    def _repository_pipeline(self, repository: str) -> bytes:
        version = self.store.record_version(repository, PIPELINES, REPOSITORY_PIPELINE)
        if version is None:
            return b""
        key = (repository, version)
        text = self._records.get(key)
        if text is None:
            # Written meanwhile, the text read may be the next version's: kept under this one, it answers
            # only calls that asked as concurrently, since the reference never moves back to a version.
            try:
                text = self.store.read_record(repository, PIPELINES, REPOSITORY_PIPELINE).get(CONFIG_FILE, b"")
            except NotFound:
                return b""
            if len(text) <= MAX_KEPT_BYTES:
                self._keep(text, len(self._records) >= MAX_PARSED)
                self._records[key] = text
        return text

    def _keep(self, text: bytes | None, full: bool) -> None:
        """Make room for ``text`` (forget everything kept when a table or the bytes are at their limit)."""
        size = len(text) if text is not None else 0
        if full or self._kept + size > MAX_KEPT_BYTES:
            self._trees.clear()
            self._records.clear()
            self._kept = 0
        self._kept += size

    def _config_file(self, repository: str, tree_id: str) -> bytes | None:
        """The tree's ``trellis.toml``, None if it has none."""
        try:
            return self._trees[tree_id]
        except KeyError:
            pass
        text = self.store.tree_files(repository, tree_id, (CONFIG_FILE,)).get(CONFIG_FILE)
        if text is None or len(text) <= MAX_KEPT_BYTES:
            self._keep(text, len(self._trees) >= MAX_TREES)
            self._trees[tree_id] = text
        return text

    def at(self, repository: str, commit: vcs.Commit) -> Pipeline | None:
        """The pipeline that applies to ``commit``: the repository's, else its ``trellis.toml``; None if none.

        Raises :class:`PipelineError` for an invalid definition.
        """
        text = self._repository_pipeline(repository)
        if text:
            return self.parse(text, "repository")
        found = self._config_file(repository, commit.tree_id)
        if found is None:
            return None
        return self.parse(found, f"{commit.commit_id[:12]}:{CONFIG_FILE}")

    def get(self, repository: str, revision: str = "") -> Pipeline:
        """The pipeline of ``revision`` (default: the default branch); PipelineNotFound when none applies."""
        commit = self.store.get_commit(repository, revision)
        try:
            found = self.at(repository, commit)
        except PipelineError as exc:
            raise Refused(str(exc), reason="INVALID_PIPELINE") from None
        if found is None:
            raise PipelineNotFound(
                f"no pipeline applies to {revision or 'the default branch'} of {repository!r}: add a "
                f"{CONFIG_FILE} at the root of the code, or set one with SetPipeline",
                reason="PIPELINE_NOT_FOUND",
            )
        return found

    def set(self, repository: str, text: str, actor: Identity) -> Pipeline | None:
        """Set (or, with empty text, remove) the repository-level pipeline; returns it."""
        self.store.get_repository(repository)  # NotFound unless it exists
        if text.strip():
            try:
                pipeline = parse_pipeline(text.encode(), source="repository")
            except PipelineError as exc:
                raise InvalidRequest(str(exc), reason="INVALID_PIPELINE") from None
        else:
            pipeline = None
        # Blank text removes it: kept empty, so the commits' own trellis.toml applies again.
        self.store.write_record(
            repository,
            PIPELINES,
            REPOSITORY_PIPELINE,
            {CONFIG_FILE: text.encode() if pipeline is not None else b""},
            "Set the repository pipeline" if pipeline else "Remove the repository pipeline",
            actor,
        )
        return pipeline
