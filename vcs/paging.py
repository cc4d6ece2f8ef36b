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


def decode_token(token: str, *keys: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        state = None
    if not isinstance(state, dict) or not all(k in state for k in keys):
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
