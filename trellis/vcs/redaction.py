"""Credentials never stored: the text of steps and sessions is redacted before it is written.

A :class:`Redactor` replaces each secret it finds with a visible marker,
``[REDACTED:<kind>]``, and counts what it replaced. :class:`~trellis.vcs.Store` runs
every step (recorded over the API, with a commit, or imported from an agent's
log) and every session's task, outcome and metadata through one, so a secret
an agent printed, typed or was given never reaches git.

What it finds (:data:`DEFAULT_PATTERNS`, in this order):

- ``private_key``: PEM private key blocks (RSA, EC, OpenSSH, PGP, ...);
- provider API keys: ``anthropic_key`` (``sk-ant-…``), ``openai_key``
  (``sk-…``, ``sk-proj-…``), ``aws_access_key`` (``AKIA…``/``ASIA…``),
  ``github_token`` (``ghp_…``, ``gho_…``, ``github_pat_…``), ``google_api_key``
  (``AIza…``), ``slack_token`` (``xoxb-…``, ``xoxp-…``);
- ``bearer_token``: the credential of ``Bearer …`` / ``Authorization: Basic …``;
- ``url_credentials``: the password of ``scheme://user:password@host``;
- ``password``: the value of ``password=…``, ``passwd: …``, ``"pwd": "…"``;
- ``secret``: a high-entropy value (at least 16 characters, 3 bits of
  entropy per character, letters and digits mixed) assigned to a secret-like
  name (``…secret…``, ``…token…``, ``…api_key…``, ``…credential…``).

Patterns added in configuration (:class:`SecretPattern`) run after these.
Only the secret is replaced: ``Authorization: Bearer [REDACTED:bearer_token]``
keeps the header, ``password=[REDACTED:password]`` the name. Markers hold no
quote or backslash, so JSON text (``arguments_json``) stays valid JSON.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .errors import InvalidArgument
from .model import StepInput

__all__ = [
    "DEFAULT_PATTERNS",
    "REDACTIONS_KEY",
    "REDACTION_KINDS_KEY",
    "Redacted",
    "Redactor",
    "SecretPattern",
    "marker",
]

REDACTIONS_KEY = "redactions"
"""Metadata key of a step (or session) that had secrets replaced: how many."""
REDACTION_KINDS_KEY = "redaction_kinds"
"""Metadata key listing the kinds replaced, comma-separated and sorted."""

_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")


def marker(kind: str) -> str:
    """The text that replaces a secret of ``kind``."""
    return f"[REDACTED:{kind}]"


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """A kind of secret and the regular expression that finds it.

    The secret is the named group ``secret`` when the expression has one
    (the rest of the match is kept), else the whole match.
    """

    kind: str
    regex: str
    anchors: tuple[str, ...] = ()
    """Lower-case text one of which every match contains; text with none of them is not searched (speed)."""

    def compile(self) -> re.Pattern[str]:
        if not _KIND.fullmatch(self.kind):
            raise InvalidArgument(
                f"redaction pattern kind {self.kind!r}: use lower-case letters, digits and '_'",
                reason="INVALID_REDACTION_PATTERN",
            )
        try:
            pattern = re.compile(self.regex)
        except re.error as exc:
            raise InvalidArgument(
                f"redaction pattern {self.kind!r} is not a regular expression: {exc}",
                reason="INVALID_REDACTION_PATTERN",
            ) from None
        if pattern.match(""):
            raise InvalidArgument(
                f"redaction pattern {self.kind!r} matches the empty string", reason="INVALID_REDACTION_PATTERN"
            )
        return pattern


_SECRET_NAME = (
    r"[A-Za-z0-9_.\-]*(?:secret|token|api[_\-]?key|apikey|access[_\-]?key|auth[_\-]?key|credential|private[_\-]?key"
    r"|passphrase|signing[_\-]?key|session[_\-]?key)[A-Za-z0-9_.\-]*"
)
# A value right after a name: optional closing quote of the name, ':' or '=' (or '=>'), optional opening quote
# (quotes may be escaped: a JSON document inside a JSON string).
_ASSIGN = r"""(?:\\?["'])?[ \t]*(?:=>|[:=])[ \t]*(?:\\?["'])?"""

DEFAULT_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        "private_key",
        r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----(?:(?!-----END)[^\"'])*"
        r"(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----)?",
        ("private key",),
    ),
    SecretPattern("anthropic_key", r"(?<![A-Za-z0-9_\-])sk-ant-[A-Za-z0-9_\-]{20,}", ("sk-ant-",)),
    SecretPattern("openai_key", r"(?<![A-Za-z0-9_\-])sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),
    SecretPattern(
        "aws_access_key",
        r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[A-Z0-9]{16}(?![A-Z0-9])",
        ("akia", "asia", "abia", "acca", "aroa", "aida"),
    ),
    SecretPattern(
        "github_token",
        r"(?<![A-Za-z0-9_])(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretPattern("google_api_key", r"(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35,}", ("aiza",)),
    SecretPattern("slack_token", r"(?<![A-Za-z0-9_\-])xox[abposre]-[A-Za-z0-9\-]{10,}", ("xox",)),
    SecretPattern(
        "bearer_token",
        r"(?i:\bbearer[ \t]+|\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+)"
        r"(?P<secret>[A-Za-z0-9._~+/\-]{12,}=*)",
        ("bearer", "basic"),
    ),
    SecretPattern("url_credentials", r"\b[a-z][a-z0-9+.\-]*://[^\s:/@\"'\\]+:(?P<secret>[^\s@/\"'\\\[]+)@", ("://",)),
    SecretPattern(
        "password",
        r"(?i:\b[A-Za-z0-9_\-]*(?:password|passwd|pwd)[A-Za-z0-9_\-]*)"
        + _ASSIGN
        + r"(?P<secret>(?![$%<{(\[*])[^\s\"',;\\)}\]]+)",
        ("password", "passwd", "pwd"),
    ),
    SecretPattern(
        "secret",
        r"(?i:\b" + _SECRET_NAME + r")" + _ASSIGN + r"(?P<secret>[A-Za-z0-9+/_.~\-]{16,}=*)",
        ("secret", "token", "key", "credential", "passphrase"),
    ),
)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _high_entropy(value: str) -> bool:
    """Random-looking: 3+ bits per character, and letters and digits mixed (not a word or a path)."""
    stripped = value.rstrip("=")
    return (
        len(stripped) >= 16
        and _entropy(stripped) >= 3.0
        and any(c.isdigit() for c in stripped)
        and any(c.isalpha() for c in stripped)
    )


_NOT_PASSWORDS = frozenset(
    {
        "str",
        "bytes",
        "string",
        "int",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "required",
        "optional",
        "any",
        "text",
        "secretstr",
        "redacted",
    }
)
_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|.*[(\[].*|.*pass.*|.*pwd.*", re.IGNORECASE)


def _password_value(value: str) -> bool:
    """A literal, not code: a type (``password: str``), a variable or attribute, a call, ``password=password``."""
    return value.lower() not in _NOT_PASSWORDS and not _CODE.fullmatch(value)


# Kinds whose match is only a secret when the value passes a check.
_CHECKS: dict[str, Callable[[str], bool]] = {"secret": _high_entropy, "password": _password_value}


@dataclass(frozen=True, slots=True)
class Redacted:
    """Text with its secrets replaced, and how many of each kind."""

    text: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Redactor:
    """Replaces secrets with ``[REDACTED:<kind>]`` markers (see the module's docstring)."""

    def __init__(
        self,
        extra: Iterable[SecretPattern] = (),
        *,
        enabled: bool = True,
        defaults: Iterable[SecretPattern] = DEFAULT_PATTERNS,
    ) -> None:
        self.enabled = enabled
        self.patterns = (*defaults, *extra)
        self._compiled = [(p.kind, p.compile(), _CHECKS.get(p.kind), frozenset(p.anchors)) for p in self.patterns]
        anchors = sorted({a for p in self.patterns for a in p.anchors}, key=len, reverse=True)
        # One scan of the text finds which anchors it holds (overlapping ones too: lookahead).
        self._anchors = re.compile("(?=(" + "|".join(map(re.escape, anchors)) + "))") if anchors else None

    def redact(self, text: str) -> Redacted:
        if not self.enabled or not text:
            return Redacted(text, {})
        counts: Counter[str] = Counter()
        present = set(self._anchors.findall(text.lower())) if self._anchors is not None else set()
        for kind, pattern, check, anchors in self._compiled:
            if anchors and not anchors & present:
                continue
            text = pattern.sub(_replacer(kind, check, counts), text)
        return Redacted(text, dict(counts))

    def redact_step(self, step: StepInput) -> StepInput:
        """``step`` with its text fields and metadata values redacted, and the count in its metadata."""
        if not self.enabled:
            return step
        counts: Counter[str] = Counter()

        def clean(text: str) -> str:
            redacted = self.redact(text)
            counts.update(redacted.counts)
            return redacted.text

        thought, action, arguments, observation = map(
            clean, (step.thought, step.action, step.arguments_json, step.observation)
        )
        metadata = self.redact_metadata(step.metadata, counts)
        if not counts:
            return step
        return dataclasses.replace(
            step, thought=thought, action=action, arguments_json=arguments, observation=observation, metadata=metadata
        )

    def redact_metadata(self, metadata: Mapping[str, str], counts: Counter[str]) -> dict[str, str]:
        """``metadata`` with its values redacted (``counts`` updated), and the totals recorded in it when any."""
        cleaned: dict[str, str] = {}
        for key, value in metadata.items():
            if key in (REDACTIONS_KEY, REDACTION_KINDS_KEY):
                continue
            redacted = self.redact(value)
            counts.update(redacted.counts)
            cleaned[key] = redacted.text
        # A count already there (redacted upstream, by a client that ran a redactor itself) is kept and added to.
        previous = _int(metadata.get(REDACTIONS_KEY, ""))
        if counts or previous:
            kinds = {k for k in metadata.get(REDACTION_KINDS_KEY, "").split(",") if k} if previous else set()
            cleaned[REDACTIONS_KEY] = str(sum(counts.values()) + previous)
            cleaned[REDACTION_KINDS_KEY] = ",".join(sorted(kinds | set(counts)))
        return cleaned


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _replacer(kind: str, check: Callable[[str], bool] | None, counts: Counter[str]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        group = "secret" if "secret" in match.re.groupindex and match.group("secret") is not None else 0
        secret = match.group(group)
        if check is not None and not check(secret):
            return match.group(0)
        counts[kind] += 1
        start, end = match.span(group)
        whole_start = match.start(0)
        text = match.group(0)
        return text[: start - whole_start] + marker(kind) + text[end - whole_start :]

    return replace
