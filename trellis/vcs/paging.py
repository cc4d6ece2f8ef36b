"""Opaque page tokens shared by every listing."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .errors import InvalidArgument
from .model import Limits

__all__ = ["decode_token", "encode_token", "page_size"]


def encode_token(**state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str, **schema: type) -> dict[str, Any]:
    """The state inside ``token``, checked against ``schema`` (key -> type); {} for no token."""
    if not token:
        return {}
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        state = None
    if not isinstance(state, dict) or not all(
        type(state.get(key)) is kind and (kind is not int or state[key] >= 0) for key, kind in schema.items()
    ):
        raise InvalidArgument(
            "invalid page_token: pass the next_page_token of the previous response unchanged",
            reason="INVALID_PAGE_TOKEN",
        )
    return state


def page_size(requested: int, limits: Limits, default: int = 100) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", reason="INVALID_PAGE_SIZE")
    if requested == 0:
        return default
    return min(requested, limits.max_page_size)
