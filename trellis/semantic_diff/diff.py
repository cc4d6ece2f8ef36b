"""``diff_files``: the semantic diff of a set of changed files, and ``extract_entities``."""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Mapping

from .cache import ParseCache
from .errors import InvalidInput
from .languages.registry import spec_for
from .matching import FileSide, MatchOptions, match_entities
from .model import DiffResult, Entity, FileDiff, ParsedFile
from .parse import DEFAULT_MAX_FILE_BYTES, Parsed, analyze, text_delta

__all__ = ["diff_files", "extract_entities", "line_stats", "module_name"]

RENAME_SIMILARITY = 0.5  # git's default for detecting a file rename
MAX_RENAME_CANDIDATES = 400  # old-only x new-only file pairs compared by content


def module_name(path: str) -> str:
    """``app/models.py`` -> ``app.models``; ``app/__init__.py`` -> ``app``."""
    spec = spec_for(path)
    stem, _ = posixpath.splitext(path.strip("/"))
    parts = [p for p in stem.split("/") if p and p != "."]
    if spec is not None and len(parts) > 1 and parts[-1] in spec.module_suffixes:
        parts.pop()
    return ".".join(parts)


def _side(path: str, parsed: Parsed) -> FileSide:
    spec = spec_for(path)
    keyed = spec is not None and spec.keyed
    return FileSide(path=path, module="" if keyed else module_name(path), keyed=keyed, records=parsed.records)


def extract_entities(
    path: str,
    content: bytes,
    *,
    cache: ParseCache | None = None,
    blob_id: str | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> ParsedFile:
    """The entities of one file (preorder: the file itself first), or why there are none.

    Never raises for any content; ``fallback_reason`` says why a file has no entities.
    """
    _check_bytes(path, content)
    parsed = analyze(path, content, cache=cache, blob_id=blob_id, max_file_bytes=max_file_bytes)
    side = _side(path, parsed)
    language = parsed.language
    quals = [side.qualname(i) for i in range(len(parsed.records))]
    entities = []
    for i, rec in enumerate(parsed.records):
        core = rec.core
        entities.append(
            Entity(
                kind=core.kind,
                name=side.name(i),
                qualname=quals[i],
                path=path,
                language=language,
                start_byte=rec.start_byte,
                end_byte=rec.end_byte,
                start_line=rec.start_line,
                end_line=rec.end_line,
                signature=core.signature,
                parameters=tuple([p[0] for p in core.params]),
                docstring=core.docstring,
                body_hash=core.body_hash,
                normalized_hash=core.norm_hash,
                text_hash=core.text_hash,
                parent_qualname=quals[rec.parent] if rec.parent >= 0 else "",
            )
        )
    return ParsedFile(
        path=path, language=parsed.language, fallback_reason=parsed.fallback_reason, entities=tuple(entities)
    )


def _check_bytes(path: object, content: object) -> None:
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"file path must be a non-empty string, got {path!r}")
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidInput(f"content of {path} must be bytes, got {type(content).__name__}")


def diff_files(
    old: Mapping[str, bytes],
    new: Mapping[str, bytes],
    *,
    cache: ParseCache | None = None,
    old_ids: Mapping[str, str] | None = None,
    new_ids: Mapping[str, str] | None = None,
    renames: Mapping[str, str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    options: MatchOptions | None = None,
) -> DiffResult:
    """The semantic diff between two versions of a set of files.

    ``old`` maps each changed path to its old content (absent: the file was
    added), ``new`` to its new content (absent: deleted); unchanged files need
    not be passed. ``old_ids`` / ``new_ids`` give git blob ids used as cache
    keys (content digests otherwise). ``renames`` declares file renames (old
    path -> new path); other renames are detected (identical content, or at
    least 50% of lines in common and a unique best match). Deterministic:
    the same input gives the same result in the same order. Never raises for
    any file content.
    """
    for p, c in list(old.items()) + list(new.items()):
        _check_bytes(p, c)
    cache = cache if cache is not None else ParseCache(64 * 1024 * 1024)
    old_ids = old_ids or {}
    new_ids = new_ids or {}
    old_only = sorted(p for p in old if p not in new)
    new_only = sorted(p for p in new if p not in old)
    pairs = [(p, p) for p in sorted(p for p in new if p in old)]
    for op, np_ in sorted((renames or {}).items()):
        if op in old_only and np_ in new_only:
            pairs.append((op, np_))
            old_only.remove(op)
            new_only.remove(np_)
    for op, np_ in _detect_renames(old_only, new_only, old, new):
        pairs.append((op, np_))
        old_only.remove(op)
        new_only.remove(np_)

    files: list[FileDiff] = []
    old_sides: list[FileSide] = []
    new_sides: list[FileSide] = []
    file_pairs: list[tuple[int, int]] = []
    for op, np_ in pairs:
        ob, nb = bytes(old[op]), bytes(new[np_])
        po = analyze(op, ob, cache=cache, blob_id=old_ids.get(op), max_file_bytes=max_file_bytes)
        binary = po.fallback_reason == "binary" or b"\x00" in nb[:8000]
        delta = None if binary else text_delta(ob, nb)
        pn = analyze(
            np_, nb, cache=cache, blob_id=new_ids.get(np_), base=po, delta=delta, max_file_bytes=max_file_bytes
        )
        reason = po.fallback_reason or pn.fallback_reason
        adds, dels = (delta.additions, delta.deletions) if delta is not None else (0, 0)
        files.append(
            FileDiff(
                path=np_,
                old_path=op,
                status="modified" if op == np_ else "renamed",
                language=pn.language or po.language,
                additions=adds,
                deletions=dels,
                binary=binary,
                fallback_reason=reason,
            )
        )
        if not reason:
            file_pairs.append((len(old_sides), len(new_sides)))
            old_sides.append(_side(op, po))
            new_sides.append(_side(np_, pn))
    for op in old_only:
        ob = bytes(old[op])
        po = analyze(op, ob, cache=cache, blob_id=old_ids.get(op), max_file_bytes=max_file_bytes)
        binary = po.fallback_reason == "binary"
        files.append(
            FileDiff(
                path=op,
                old_path=op,
                status="deleted",
                language=po.language,
                additions=0,
                deletions=0 if binary else _lines(ob),
                binary=binary,
                fallback_reason=po.fallback_reason,
            )
        )
        if not po.fallback_reason:
            old_sides.append(_side(op, po))
    for np_ in new_only:
        nb = bytes(new[np_])
        pn = analyze(np_, nb, cache=cache, blob_id=new_ids.get(np_), max_file_bytes=max_file_bytes)
        binary = pn.fallback_reason == "binary"
        files.append(
            FileDiff(
                path=np_,
                old_path="",
                status="added",
                language=pn.language,
                additions=0 if binary else _lines(nb),
                deletions=0,
                binary=binary,
                fallback_reason=pn.fallback_reason,
            )
        )
        if not pn.fallback_reason:
            new_sides.append(_side(np_, pn))
    files.sort(key=lambda f: (f.path or f.old_path, f.old_path))
    changes, carried = match_entities(old_sides, new_sides, file_pairs, options)
    return DiffResult(files=tuple(files), changes=tuple(changes), carried=tuple(carried))


def _lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def line_stats(old: bytes, new: bytes) -> tuple[int, int]:
    """(additions, deletions) of a line diff of two texts, as libgit2 counts them."""
    delta = text_delta(old, new)
    return delta.additions, delta.deletions


def _detect_renames(
    old_only: list[str], new_only: list[str], old: Mapping[str, bytes], new: Mapping[str, bytes]
) -> list[tuple[str, str]]:
    """File renames among added and deleted files: identical content first, then similar lines."""
    pairs: list[tuple[str, str]] = []
    if not old_only or not new_only:
        return pairs
    by_old: dict[bytes, list[str]] = {}
    for p in old_only:
        if old[p]:
            by_old.setdefault(bytes(old[p]), []).append(p)
    by_new: dict[bytes, list[str]] = {}
    for p in new_only:
        if new[p]:
            by_new.setdefault(bytes(new[p]), []).append(p)
    taken_o: set[str] = set()
    taken_n: set[str] = set()
    for content, olist in sorted(by_old.items(), key=lambda kv: kv[1]):
        nlist = by_new.get(content)
        if nlist and len(olist) == 1 and len(nlist) == 1:
            pairs.append((olist[0], nlist[0]))
            taken_o.add(olist[0])
            taken_n.add(nlist[0])
    rest_o = [p for p in old_only if p not in taken_o and old[p] and b"\x00" not in old[p][:8000]]
    rest_n = [p for p in new_only if p not in taken_n and new[p] and b"\x00" not in new[p][:8000]]
    if not rest_o or not rest_n or len(rest_o) * len(rest_n) > MAX_RENAME_CANDIDATES:
        return sorted(pairs)
    olines = {p: Counter(bytes(old[p]).splitlines()) for p in rest_o}
    nlines = {p: Counter(bytes(new[p]).splitlines()) for p in rest_n}
    scored: list[tuple[str, str, float]] = []
    for op in rest_o:
        a = olines[op]
        na = sum(a.values())
        for np_ in rest_n:
            b = nlines[np_]
            nb = sum(b.values())
            if not na or not nb or 2 * min(na, nb) / (na + nb) < RENAME_SIMILARITY:
                continue
            common = sum((a & b).values())
            score = 2 * common / (na + nb)
            if score >= RENAME_SIMILARITY:
                scored.append((op, np_, score))
    best_o: dict[str, tuple[str | None, float]] = {}
    best_n: dict[str, tuple[str | None, float]] = {}
    for op, np_, score in scored:
        for table, left, right in ((best_o, op, np_), (best_n, np_, op)):
            cur = table.get(left)
            if cur is None or score > cur[1]:
                table[left] = (right, score)
            elif score == cur[1]:
                table[left] = (None, score)
    for op, (target, _) in sorted(best_o.items()):
        if target is not None and best_n.get(target, (None, 0.0))[0] == op:
            pairs.append((op, target))
    return sorted(pairs)
