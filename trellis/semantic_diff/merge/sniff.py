"""A language for files whose name does not say (a git merge driver's ``.merge_file_XXXXXX``).

Only code languages whose grammars reject each other's syntax are tried, and
only a language under which every given version parses without an error and
has at least one entity is accepted: a shebang decides first (parsing is then
enough), text starting
with ``{`` or ``[`` can only be JSON. YAML and TOML accept too much ordinary
text to be guessed. None when nothing fits: the merge is then line by line.
"""

from __future__ import annotations

from ..languages.registry import get_spec
from ..parse import analyze

__all__ = ["guess_language"]

# Java last: its grammar takes ``function f() {}`` for a method returning a ``function``.
_CANDIDATES = ("python", "go", "rust", "javascript", "typescript", "tsx", "java")
_SHEBANGS = ((b"python", "python"), (b"node", "javascript"), (b"deno", "typescript"), (b"bun", "typescript"))


def _fits(language: str, texts: list[bytes], *, entities_needed: bool = True) -> bool:
    spec = get_spec(language)
    if spec is None:
        return False
    path = "guess" + spec.extensions[0]
    entities = False
    for text in texts:
        parsed = analyze(path, text)
        if parsed.fallback_reason:
            return False
        entities = entities or len(parsed.records) > 1
    return entities or not entities_needed


def guess_language(*contents: bytes | None) -> str | None:
    """The language every given version parses as (see the module docstring), or None."""
    texts = [bytes(c) for c in contents if c]
    if not texts or any(b"\x00" in t for t in texts):
        return None
    first = texts[0]
    if first.startswith(b"#!"):
        line = first.split(b"\n", 1)[0]
        for needle, language in _SHEBANGS:
            if needle in line:
                return language if _fits(language, texts, entities_needed=False) else None
        return None
    if first.lstrip()[:1] in (b"{", b"["):
        return "json" if _fits("json", texts) else None
    return next((language for language in _CANDIDATES if _fits(language, texts)), None)
