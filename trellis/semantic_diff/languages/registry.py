"""The language table: file extension -> :class:`LanguageSpec`, and grammar loading.

To add a language, write a module next to this one that defines a
``LanguageSpec`` (see ``java.py`` for the shortest example) and add it to
``LANGUAGES`` below. Grammars load lazily; a grammar whose wheel is missing
makes its files fall back to a line-level summary (``grammar_unavailable``).
"""

from __future__ import annotations

import functools
import posixpath
import threading

from tree_sitter import Language, Parser

from .data import JSON, TOML, YAML
from .go import GO
from .java import JAVA
from .javascript import JAVASCRIPT, TSX, TYPESCRIPT
from .python import PYTHON
from .rust import RUST
from .spec import LanguageSpec

__all__ = ["LANGUAGES", "GrammarUnavailable", "get_spec", "grammar", "language_for", "parser_for", "spec_for"]

LANGUAGES: tuple[LanguageSpec, ...] = (PYTHON, JAVASCRIPT, TYPESCRIPT, TSX, GO, RUST, JAVA, JSON, YAML, TOML)

_BY_NAME: dict[str, LanguageSpec] = {spec.name: spec for spec in LANGUAGES}
_BY_EXTENSION: dict[str, LanguageSpec] = {ext: spec for spec in LANGUAGES for ext in spec.extensions}


class GrammarUnavailable(Exception):
    """The grammar wheel of a registered language cannot be loaded."""


def language_for(path: str) -> str | None:
    """The language name for a file path (by extension), or None when unsupported."""
    spec = spec_for(path)
    return spec.name if spec is not None else None


@functools.lru_cache(maxsize=2048)  # (asked six times a file per diff; the languages are fixed)
def spec_for(path: str) -> LanguageSpec | None:
    ext = posixpath.splitext(path)[1].lower()
    return _BY_EXTENSION.get(ext)


_grammar_lock = threading.Lock()
_grammars: dict[str, Language] = {}
_local = threading.local()


def grammar(spec: LanguageSpec) -> Language:
    """The loaded tree-sitter ``Language`` (raises GrammarUnavailable)."""
    lang = _grammars.get(spec.name)
    if lang is None:
        with _grammar_lock:
            lang = _grammars.get(spec.name)
            if lang is None:
                try:
                    lang = Language(spec.grammar())
                except Exception as exc:  # ImportError, ABI mismatch: the file falls back
                    raise GrammarUnavailable(f"{spec.name}: {exc}") from exc
                _grammars[spec.name] = lang
    return lang


def parser_for(spec: LanguageSpec) -> Parser:
    """A parser for ``spec``; parsers are not thread-safe, so there is one per thread."""
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(spec.name)
    if parser is None:
        parser = parsers[spec.name] = Parser(grammar(spec))
    return parser


def get_spec(name: str) -> LanguageSpec | None:
    return _BY_NAME.get(name)
