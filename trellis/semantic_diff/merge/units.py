"""A container's text as a sequence of *units*, the items of its line merge.

Each unit is bytes with a one-letter tag:

- ``T`` + a line without the container's indentation (re-indented on output);
- ``V`` + a line kept verbatim (blank, or indented less than the container —
  the inside of a multi-line string, say);
- ``E`` + identity ``\\0`` relative indentation ``\\0`` trailing text: a child
  entity, merged on its own and rendered in its place;
- ``I`` + the lines of an import statement (top level only; merged as a set);
- ``F`` + name ``\0`` line without the container's indentation: a one-line member
  that is not an entity (a field, a property), merged as a set by name.

Comparing units compares a child's identity and place, never its text, so a
line merge of units sees an edited function as unchanged and a moved one as
moved.
"""

from __future__ import annotations

from .layout import Chunk
from .text import split_lines

__all__ = ["entity_unit", "parse_entity_unit", "render_lines", "text_units"]


def text_units(data: bytes, indent: bytes, out: list[bytes]) -> None:
    """Append the ``T`` / ``V`` units of the lines of ``data`` (inside a container indented ``indent``)."""
    n = len(indent)
    for line in split_lines(data):
        if not line.strip():
            out.append(b"V" + line)
        elif line.startswith(indent):
            out.append(b"T" + line[n:])
        else:
            out.append(b"V" + line)


def render_lines(units: list[bytes], indent: bytes) -> bytes:
    """``T`` / ``V`` / ``I`` units back to text at ``indent``."""
    return b"".join(indent + u[1:] if u[0] == 84 else u[1:] for u in units)  # 84: "T"


def entity_unit(identity: str, chunk: Chunk, parent_indent: bytes) -> bytes:
    return b"".join((b"E", identity.encode(), b"\0", chunk.indent[len(parent_indent) :], b"\0", chunk.trailing))


def parse_entity_unit(unit: bytes) -> tuple[str, bytes, bytes]:
    """(identity, relative indentation, trailing text) of an ``E`` (or ``C``) unit."""
    identity, rel, trailing = unit[1:].split(b"\0", 2)
    return identity.decode(), rel, trailing
