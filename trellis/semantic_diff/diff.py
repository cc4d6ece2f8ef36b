"""``diff_files``: the semantic diff of a set of changed files, and ``extract_entities``."""

from __future__ import annotations

import functools
import posixpath
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .cache import ParseCache
from .errors import InvalidInput
from .languages.registry import spec_for
from .matching import FileSide, MatchOptions, match_entities
from .model import DiffResult, Entity, FileDiff, ParsedFile
from .parse import DEFAULT_MAX_FILE_BYTES, Parsed, TextDelta, analyze, analyze_pair, cache_key, precheck, text_delta

if TYPE_CHECKING:
    from .pool import ExtractionPool, Job

__all__ = ["diff_files", "extract_entities", "line_stats", "module_name"]

RENAME_SIMILARITY = 0.5  # git's default for detecting a file rename
MAX_RENAME_CANDIDATES = 400  # old-only x new-only file pairs compared by content


@functools.lru_cache(maxsize=2048)  # (asked twice a file per diff: by the index for every commit)
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
    pool: ExtractionPool | None = None,
) -> DiffResult:
    """The semantic diff between two versions of a set of files.

    ``old`` maps each changed path to its old content (absent: the file was
    added), ``new`` to its new content (absent: deleted); unchanged files need
    not be passed. ``old_ids`` / ``new_ids`` give git blob ids used as cache
    keys (content digests otherwise). ``renames`` declares file renames (old
    path -> new path); other renames are detected (identical content, or at
    least 50% of lines in common and a unique best match). Deterministic:
    the same input gives the same result in the same order. Never raises for
    any file content. ``pool``: worker processes for the files to parse from
    scratch, when they are enough work (see ``pool.py``); the result is the same.
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

    ready: dict[tuple[str, str], tuple[Parsed, TextDelta | None, Parsed]] = {}
    if pool is not None:
        ready = _cold_in_pool(pool, cache, pairs, old_only, new_only, old, new, old_ids, new_ids, max_file_bytes)

    def side(which: str, path: str, content: bytes, blob_id: str | None) -> Parsed:
        done = ready.get((which, path))
        if done is None:
            return analyze(path, content, cache=cache, blob_id=blob_id, max_file_bytes=max_file_bytes)
        _remember(cache, path, content, blob_id, done[0])
        return done[0]

    files: list[FileDiff] = []
    old_sides: list[FileSide] = []
    new_sides: list[FileSide] = []
    file_pairs: list[tuple[int, int]] = []
    for op, np_ in pairs:
        ob, nb = bytes(old[op]), bytes(new[np_])
        done = ready.get(("pair", op))
        if done is not None:
            for p, c, i, parsed in ((op, ob, old_ids.get(op), done[0]), (np_, nb, new_ids.get(np_), done[2])):
                _remember(cache, p, c, i, parsed)
            po, delta, pn = done
        else:
            po, delta, pn = analyze_pair(
                op,
                ob,
                np_,
                nb,
                cache=cache,
                old_id=old_ids.get(op),
                new_id=new_ids.get(np_),
                max_file_bytes=max_file_bytes,
            )
        binary = delta is None
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
        po = side("old", op, ob, old_ids.get(op))
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
        pn = side("new", np_, nb, new_ids.get(np_))
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


def _cold_in_pool(
    pool: ExtractionPool,
    cache: ParseCache,
    pairs: list[tuple[str, str]],
    old_only: list[str],
    new_only: list[str],
    old: Mapping[str, bytes],
    new: Mapping[str, bytes],
    old_ids: Mapping[str, str],
    new_ids: Mapping[str, str],
    max_file_bytes: int,
) -> dict[tuple[str, str], tuple[Parsed, TextDelta | None, Parsed]]:
    """What ``diff_files`` would parse from scratch, parsed in ``pool``'s workers when it is enough work: files
    added or deleted, and changed files neither of whose versions is cached (both versions in one job: the new one
    is parsed incrementally from the old, as in-process). Keyed ``("pair", old path)``, ``("old", path)``,
    ``("new", path)``; a file alone has its analysis first (the other two items are unused)."""
    from .pool import analyze_many, job_bytes

    def cold(path: str, content: bytes, blob_id: str | None) -> bool:
        key = cache_key(path, content, blob_id)
        return key is not None and key not in cache and not precheck(spec_for(path), content, max_file_bytes)

    jobs: list[Job] = []
    keys: list[tuple[str, str]] = []
    for op, np_ in pairs:
        ob, nb = bytes(old[op]), bytes(new[np_])
        if cold(op, ob, old_ids.get(op)) and cold(np_, nb, new_ids.get(np_)):
            jobs.append((op, ob, np_, nb))
            keys.append(("pair", op))
    for which, paths, files in (("old", old_only, old), ("new", new_only, new)):
        ids = old_ids if which == "old" else new_ids
        for p in paths:
            content = bytes(files[p])
            if cold(p, content, ids.get(p)):
                jobs.append((p, content))
                keys.append((which, p))
    if not pool.wants(sum(job_bytes(j) for j in jobs)):
        return {}
    return dict(zip(keys, analyze_many(pool, jobs, max_file_bytes), strict=True))


def _remember(cache: ParseCache, path: str, content: bytes, blob_id: str | None, parsed: Parsed) -> None:
    """Cache a version parsed in a worker, as ``analyze`` caches what it parses."""
    key = cache_key(path, content, blob_id)
    if key is not None and parsed.fallback_reason in ("", "parse_error"):
        cache.put(key, parsed)


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
