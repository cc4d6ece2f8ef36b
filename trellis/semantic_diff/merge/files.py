"""``merge_files``: the three-way merge of one file — trivial, structured, or line by line."""

from __future__ import annotations

from collections import Counter

from ..cache import ParseCache
from ..diff import module_name
from ..errors import InvalidInput
from ..extract import extract
from ..languages.registry import get_spec, parser_for, spec_for
from ..languages.spec import LanguageSpec
from ..parse import DEFAULT_MAX_FILE_BYTES, Parsed, analyze, precheck
from .imports import go_import_blocks
from .model import ConflictRegion, FileMerge
from .structured import StructuredMerge
from .text import Hunk, Markers, line_merge, newline_of
from .verify import added_twice, parse_records, syntax_errors, verify
from .versions import Version, identities, versions_of

__all__ = ["merge_files"]


def _check(path: object, sides: tuple[object, ...], labels: object) -> None:
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"file path must be a non-empty string, got {path!r}")
    for side in sides:
        if side is not None and not isinstance(side, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"content of {path} must be bytes or None, got {type(side).__name__}")
    if (
        not isinstance(labels, tuple)
        or len(labels) != 3
        or not all(isinstance(x, str) and "\n" not in x for x in labels)
    ):
        raise InvalidInput(f"labels must be three one-line strings, got {labels!r}")


def merge_files(
    path: str,
    base: bytes | None,
    left: bytes | None,
    right: bytes | None,
    *,
    labels: tuple[str, str, str] = ("ours", "base", "theirs"),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    language: str | None = None,
    cache: ParseCache | None = None,
) -> FileMerge:
    """Merge ``left`` and ``right``, two versions of the file at ``path`` made from ``base``.

    None is a file that does not exist on that side (``base`` None: added on
    both sides; a side None: deleted there). ``labels`` name ours, the base and
    theirs in conflict markers. ``language`` names the language when the
    path's extension does not (a git merge driver's temporary files). ``cache``
    shares parses with the semantic diff (the base is often parsed already).

    Clean results always parse (for a supported language) and hold every change
    of both sides; when that cannot be made sure the result is a conflict.
    Only API misuse raises (``InvalidInput``); file content never does.
    """
    _check(path, (base, left, right), labels)
    base, left, right = (bytes(x) if x is not None else None for x in (base, left, right))
    spec = get_spec(language) if language else spec_for(path)
    if language and spec is None:
        raise InvalidInput(f"unknown language {language!r}")
    lang = spec.name if spec is not None else ""
    markers = Markers.of(labels, newline_of(left, right, base))

    def done(
        strategy: str, content: bytes | None, reason: str = "", conflicts: tuple[ConflictRegion, ...] = ()
    ) -> FileMerge:
        return FileMerge(
            path=path,
            language=lang,
            strategy=strategy,
            fallback_reason=reason,
            clean=not conflicts,
            content=content,
            conflicts=conflicts,
        )

    if left == right or right == base:
        return done("trivial", left)
    if left == base:
        return done("trivial", right)
    if left is None or right is None:  # deleted on one side, changed on the other
        assert base is not None
        block = markers.block(left or b"", base, right or b"")
        qualname, kind = _file_entity(path, spec)
        return done(
            "trivial", block, conflicts=(ConflictRegion(path, qualname, kind, base, left or b"", right or b"", block),)
        )
    base = base if base is not None else b""
    if any(b"\x00" in x for x in (base, left, right)):
        conflict = ConflictRegion(path, "", "", base, left, right, b"")
        return done("line", left, "binary", (conflict,))
    if lang == "go":
        base, left, right = go_import_blocks((base, left, right))
    apath = path if spec is None or spec_for(path) is spec else path + spec.extensions[0]
    reason = next((r for r in (precheck(spec, x, max_file_bytes) for x in (base, left, right)) if r), "")
    if reason:
        return _line(path, spec, base, left, right, markers, reason, lang, None)
    assert spec is not None
    pb = analyze(apath, base, cache=cache, max_file_bytes=max_file_bytes)
    pl = analyze(apath, left, cache=cache, base=pb, max_file_bytes=max_file_bytes)
    pr = analyze(apath, right, cache=cache, base=pb, max_file_bytes=max_file_bytes)
    reasons = {p.fallback_reason for p in (pb, pl, pr)} - {""}
    if reasons == {"parse_error"}:
        return _line_tolerant(path, apath, spec, (pb, pl, pr), markers, max_file_bytes)
    if reasons:
        return _line(path, spec, base, left, right, markers, min(reasons), lang, (apath, pb, pl, pr), max_file_bytes)
    versions = versions_of(apath, spec, (pb, pl, pr))
    merger = StructuredMerge(path, spec, versions, markers)
    content, conflicts = merger.run()
    if conflicts:
        loose = _duplicate_names(versions, merger.where, merger.conflicted)
        if loose:
            text, hunks = line_merge(base, left, right, markers)
            if not hunks and verify(apath, text, versions, merger.where, max_file_bytes=max_file_bytes, loose=loose):
                return done("line", text, "duplicate_names")
        return done("structured", content, conflicts=conflicts)
    if verify(apath, content, versions, merger.where, max_file_bytes=max_file_bytes):
        return done("structured", content)
    text, hunks = line_merge(base, left, right, markers)
    if not hunks and verify(apath, text, versions, merger.where, max_file_bytes=max_file_bytes):
        return done("line", text, "unverified")
    if hunks:
        return done("line", text, "unverified", _hunk_conflicts(path, hunks))
    block, whole = _whole_file(path, spec, base, left, right, markers)
    return done("line", block, "unverified", whole)


def _duplicate_names(
    versions: tuple[Version, ...], where: dict[str, list[int | None]], conflicted: list[str]
) -> frozenset[str]:
    """The local names of the conflicting entities when the base defines each of them more than
    once (functions of nested callbacks, ``it(() => { const App = … })``, that the extraction
    names alike): their identities across the versions are a guess, so a conflict on them says
    little, and the line merge may do. Empty when any conflict is on another entity."""
    base = Counter(r.lqual for r in versions[0].records[1:])
    names: set[str] = set()
    for x in conflicted:
        quals = {versions[v].records[i].lqual for v, i in enumerate(where.get(x, ())) if i is not None}
        if not quals or any(base[q] < 2 for q in quals):
            return frozenset()
        names |= quals
    return frozenset(names)


def _file_entity(path: str, spec: LanguageSpec | None) -> tuple[str, str]:
    if spec is None:
        return "", ""
    return (path, spec.root_kind) if spec.keyed else (module_name(path), spec.root_kind)


def _hunk_conflicts(path: str, hunks: list[Hunk]) -> tuple[ConflictRegion, ...]:
    return tuple(ConflictRegion(path, "", "", h.base, h.left, h.right, h.markers) for h in hunks)


def _whole_file(
    path: str, spec: LanguageSpec | None, base: bytes, left: bytes, right: bytes, markers: Markers
) -> tuple[bytes, tuple[ConflictRegion, ...]]:
    """A line merge that came out clean but cannot be trusted: the whole file is the conflict."""
    block = markers.block(left, base, right)
    qualname, kind = _file_entity(path, spec)
    return block, (ConflictRegion(path, qualname, kind, base, left, right, block),)


def _line_tolerant(
    path: str,
    apath: str,
    spec: LanguageSpec,
    parsed: tuple[Parsed, Parsed, Parsed],
    markers: Markers,
    max_file_bytes: int,
) -> FileMerge:
    """The line merge when a version does not parse (often a construct the grammar does not know,
    in a part of the file nobody touched). Clean only under the checks of a structured merge, run
    on the trees as they are: entities are read around the syntax errors, and the merge may have
    only errors a version has (text copied unchanged from there). Else the whole file conflicts."""
    base, left, right = (p.content for p in parsed)
    readable = (
        _read_around_errors(spec, parsed[0]),
        _read_around_errors(spec, parsed[1]),
        _read_around_errors(spec, parsed[2]),
    )
    errors = []
    for p in readable:
        assert p.tree is not None
        errors.append(syntax_errors(p.tree, p.content))
    tolerated: Counter[bytes] = Counter()
    for e in errors:
        tolerated |= e
    versions = versions_of(apath, spec, readable)
    if errors[0] == errors[1] == errors[2]:
        merger = StructuredMerge(path, spec, versions, markers)
        content, conflicts = merger.run()
        if not conflicts and verify(
            apath, content, versions, merger.where, max_file_bytes=max_file_bytes, tolerated=tolerated
        ):
            return FileMerge(path, spec.name, "structured", "", True, content, ())
    text, hunks = line_merge(base, left, right, markers)
    if hunks:
        return FileMerge(path, spec.name, "line", "parse_error", False, text, _hunk_conflicts(path, hunks))
    if verify(
        apath, text, versions, identities(versions), max_file_bytes=max_file_bytes, tolerated=tolerated
    ) and not added_twice(apath, text, versions):
        return FileMerge(path, spec.name, "line", "parse_error", True, text, ())
    block, conflicts = _whole_file(path, spec, base, left, right, markers)
    return FileMerge(path, spec.name, "line", "parse_error", False, block, conflicts)


def _read_around_errors(spec: LanguageSpec, parsed: Parsed) -> Parsed:
    """A version parsed afresh (error recovery may differ after an incremental parse), its
    entities read from the tree as it is, around any syntax errors."""
    tree = parser_for(spec).parse(parsed.content)
    return Parsed(parsed.language, parsed.content, tree, extract(spec, tree, parsed.content))


def _line(
    path: str,
    spec: LanguageSpec | None,
    base: bytes,
    left: bytes,
    right: bytes,
    markers: Markers,
    reason: str,
    lang: str,
    parsed: tuple[str, Parsed, Parsed, Parsed] | None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> FileMerge:
    """The line merge. For a supported language whose sides both parse, a clean result must parse too."""
    text, hunks = line_merge(base, left, right, markers)
    if hunks:
        return FileMerge(path, lang, "line", reason, False, text, _hunk_conflicts(path, hunks))
    if parsed is not None:
        apath, _, pl, pr = parsed
        if not pl.fallback_reason and not pr.fallback_reason:
            if parse_records(apath, text, pl, max_file_bytes) is None:
                block, conflicts = _whole_file(path, spec, base, left, right, markers)
                return FileMerge(path, lang, "line", reason, False, block, conflicts)
    return FileMerge(path, lang, "line", reason, True, text, ())
