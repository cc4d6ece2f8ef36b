"""Files of the tree that tests were observed to read, and directories they were observed to list.

A test may read files of the tree as text in ways the source does not show: parso's ``test_on_itself`` walks
``parso/`` with ``os.walk`` and parses every ``.py`` file it finds (modules no test imports among them); a test
checks every module's license header; a data file is found by listing a directory (``Path(...).glob("*")``,
``os.listdir``). The static rules see none of it (a bare wildcard names no file), so a change to such a file
selected no test while the full suite failed.

The pytest job hears every file under the checkout opened for reading (the audit event ``open``: ``open``,
``io.open``, ``os.open``, ``Path.read_text``…) and every directory under it listed (``os.listdir``,
``os.scandir``: what ``os.walk``, ``glob`` and ``pathlib``'s ``iterdir``/``glob``/``rglob`` list through), and
writes them per *site*: the innermost function of the tree on the stack (:mod:`trellis.ci.execution.pytest_plugin`).
Not the import system's own reads (a module's source and bytecode, a package directory's listing: imports, which
the static rules cover), not the job's own files, not files outside the checkout. A site keeps the union over
every job (:class:`SiteReads`), bounded: past :data:`READS_KEPT` paths it reads everything under the directory
holding them (``under``).

Selection uses them additively (:meth:`trellis.ci.selection.index.TestIndex.select`): a change to a file a site
was observed to read, a file added to or removed from a directory it was observed to list (or a directory above
it, when the file's directory appears or goes), any change under a directory it reads whole — marks the site,
in the tree after the change and in the tree before it, and every test reaching it is selected, whatever the
static rules say. It only ever selects more. Result reuse and observation keys
(:func:`trellis.ci.selection.reuse.closure_keys`) hash what the sites a test reaches read: the content of those
files, the entries of those directories.

Why per site, not per test. A process memoises: parso's ``load_grammar`` reads a grammar file once per process,
and every later test of the job gets the cached grammar without a read. A per-test record would hold the file for
the first test only; a change to it would leave the others out. A site is reached (statically) by every test
that calls it, cache hit or not, so the union at the site covers them all. The price: a helper reading a
different file for each of its callers selects all of them for a change to any one.

Why sound (for a test observed to reach a site, and only beyond the static rules). A test that ran with the
recorder (every pytest job runs it) had every read and listing under the checkout that a function of the tree
made written at the innermost such function on the stack, which the test reaches. At the next commit, if no
change touches what those sites read or list and the static rules leave it out, the test runs the same code on
the same files and listings, so it reads the same files: its reads stay within the union. By induction over
commits: a test whose reads change was selected by the change that changed them (a changed read file, a changed
listing, or changed code, which the static rules see), and its run records the new reads. Across branches the
union of every branch's reads is kept: more selection is always sound.

What is not heard (a test that reads this way is covered by the static rules alone, as before): reads in child
processes, reads by compiled code that does not go through Python's audit hooks (a C extension's ``fopen``),
``stat``/existence checks (``os.path.exists``: no audit event), reads through a file descriptor
(``os.scandir(fd)``, ``os.fwalk``), reads with no function of the tree on the stack (pytest's own and its
plugins', such as pytest-datadir's copies: the static rules name those), reads served by a cache outside the tree
that another site filled (``linecache`` for ``inspect.getsource``: the first site to ask reads the file), and a
test never run with the recorder.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["DIST_SUFFIXES", "READS_KEPT", "ReadIndex", "SiteReads"]

READS_KEPT = 1000  # paths kept per site (the plugin's _READS_KEPT); past them, everything under their directory
# What a finder of installed distributions looks at in a directory it lists (importlib.metadata's ``Lookup``,
# pkg_resources' ``find_on_path``): entries naming a distribution's metadata.
DIST_SUFFIXES = (".dist-info", ".egg-info", ".egg", ".egg-link")


def common_dir(a: str, b: str) -> str:
    """The deepest directory holding both relative directories ("" for the root)."""
    if a == b or a.startswith(b + "/") or not b:
        return b
    if b.startswith(a + "/") or not a:
        return a
    parts = []
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y:
            break
        parts.append(x)
    return "/".join(parts)


def under(path: str, directory: str) -> bool:
    """Is ``path`` in ``directory`` or below it ("" is the root)?"""
    return not directory or path == directory or path.startswith(directory + "/")


@dataclass(frozen=True, slots=True)
class SiteReads:
    """What one site was observed to read: ``files`` opened to read, ``dirs`` listed, ``dists`` listed by a finder of
    installed distributions (only entries of :data:`DIST_SUFFIXES` count), and ``whole``: directories it reads
    everything under (past :data:`READS_KEPT` paths). Paths relative to the checkout, "" its root."""

    files: frozenset[str] = frozenset()
    dirs: frozenset[str] = frozenset()
    whole: frozenset[str] = frozenset()
    dists: frozenset[str] = frozenset()

    def __or__(self, other: SiteReads) -> SiteReads:
        return SiteReads(
            self.files | other.files, self.dirs | other.dirs, self.whole | other.whole, self.dists | other.dists
        ).bounded()

    def bounded(self) -> SiteReads:
        """Past :data:`READS_KEPT` paths: everything under the directory holding them all."""
        if len(self.files) + len(self.dirs) + len(self.whole) + len(self.dists) <= READS_KEPT:
            return self
        top: str | None = None
        for folder in (*(posixpath.dirname(f) for f in self.files), *self.dirs, *self.whole, *self.dists):
            top = folder if top is None else common_dir(top, folder)
        return SiteReads(whole=frozenset({top or ""}))

    def to_json(self) -> dict[str, list[str]]:
        return {
            "files": sorted(self.files),
            "dirs": sorted(self.dirs),
            "whole": sorted(self.whole),
            "dists": sorted(self.dists),
        }

    @classmethod
    def from_json(cls, raw: object) -> SiteReads:
        if not isinstance(raw, Mapping):
            return cls()

        def strs(key: str) -> frozenset[str]:
            value = raw.get(key, ())
            return frozenset(str(x) for x in value) if isinstance(value, list) else frozenset()

        return cls(strs("files"), strs("dirs"), strs("whole"), strs("dists")).bounded()

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> SiteReads | None:
        """One line of the plugin's stream: ``{"reads": site, "file"|"dir"|"dists"|"under": path}``."""
        for key, make in (("file", "files"), ("dir", "dirs"), ("dists", "dists"), ("under", "whole")):
            value = record.get(key)
            if isinstance(value, str):
                return cls(**{make: frozenset({value.strip("/")})})
        return None


class ReadIndex:
    """Every site's reads of a repository, indexed by path: which sites a change concerns."""

    def __init__(self, reads: Mapping[str, SiteReads]) -> None:
        self.sites = dict(reads)
        self._by_file: dict[str, list[str]] = {}
        self._by_dir: dict[str, list[str]] = {}
        self._by_dists: dict[str, list[str]] = {}
        self._whole: list[tuple[str, str]] = []
        for site, read in self.sites.items():
            for path in read.files:
                self._by_file.setdefault(path, []).append(site)
            for path in read.dirs:
                self._by_dir.setdefault(path, []).append(site)
            for path in read.dists:
                self._by_dists.setdefault(path, []).append(site)
            self._whole.extend((folder, site) for folder in read.whole)

    def __bool__(self) -> bool:
        return bool(self.sites)

    def readers(self, changed: Mapping[str, str], listings: Mapping[str, Iterable[str]]) -> dict[str, str]:
        """The sites a change concerns, with why: ``changed`` maps each changed path to ``added``, ``deleted`` or
        ``modified``; ``listings`` each directory whose entries changed to those entries (a file's directory when
        it was added or deleted, and each directory above that appeared or went with it)."""
        out: dict[str, str] = {}
        for path in sorted(changed):
            for site in self._by_file.get(path, ()):
                out.setdefault(site, f"observed reading {path}, which was {changed[path]}")
            for folder, site in self._whole:
                if under(path, folder):
                    out.setdefault(site, f"observed reading everything under {folder or 'the root'}/ ({path} changed)")
        for folder in sorted(listings):
            for site in self._by_dir.get(folder, ()):
                out.setdefault(site, f"observed listing {folder or 'the root'}/, whose entries changed")
            named = sorted(e for e in listings[folder] if e.lower().endswith(DIST_SUFFIXES))
            for site in self._by_dists.get(folder, ()) if named else ():
                out.setdefault(site, f"observed looking for distributions in {folder or 'the root'}/ ({named[0]})")
        return out
