"""Language support: the registry and one module per language (see ``registry.py``)."""

from .registry import LANGUAGES, GrammarUnavailable, get_spec, grammar, language_for, parser_for, spec_for
from .spec import EntityRule, Found, LanguageSpec

__all__ = [
    "LANGUAGES",
    "EntityRule",
    "Found",
    "GrammarUnavailable",
    "LanguageSpec",
    "get_spec",
    "grammar",
    "language_for",
    "parser_for",
    "spec_for",
]
