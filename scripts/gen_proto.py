"""Regenerate the Python gRPC code under ``trellis/v1/`` from ``proto/``.

Usage::

    python scripts/gen_proto.py [OUT_DIR]

OUT_DIR defaults to the project root, so the files land in ``trellis/v1/``.
For every ``proto/trellis/v1/*.proto`` this writes ``*_pb2.py`` and
``*_pb2_grpc.py`` (protoc and grpcio-tools) plus ``*_pb2.pyi`` and
``*_pb2_grpc.pyi`` (mypy-protobuf, so the generated modules type-check under
``mypy --strict``). The output depends only on the ``.proto`` sources and the
pinned grpcio-tools / mypy-protobuf versions; ``tests/test_generated_code.py``
checks that the committed files are current.
"""

from __future__ import annotations

import importlib.resources
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

__all__ = ["PROTO_DIR", "PROTO_PACKAGE", "ROOT", "generate", "include_dirs", "proto_files"]

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PROTO_PACKAGE = Path("trellis") / "v1"


def include_dirs() -> list[Path]:
    """Return the protoc include path: our sources (with the vendored ``google/rpc``), protobuf's."""
    grpc_tools_protos = Path(str(importlib.resources.files("grpc_tools") / "_proto"))
    return [PROTO_DIR, grpc_tools_protos]


def proto_files() -> list[Path]:
    """Return our ``.proto`` files relative to ``PROTO_DIR``, sorted."""
    return sorted(p.relative_to(PROTO_DIR) for p in (PROTO_DIR / PROTO_PACKAGE).glob("*.proto"))


def _plugin(name: str) -> Path:
    """Find a protoc plugin installed next to the running interpreter, or else on PATH."""
    path = Path(sys.executable).parent / name
    if path.is_file():
        return path
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found next to {sys.executable} or on PATH; install mypy-protobuf")
    return Path(found)


def protoc_args(*extra: str) -> list[str]:
    """Return a protoc command line over our sources with ``extra`` options."""
    args = ["grpc_tools.protoc", "--fatal_warnings", *(f"--proto_path={d}" for d in include_dirs())]
    return [*args, *extra, *(p.as_posix() for p in proto_files())]


def generate(out_dir: Path) -> None:
    """Generate the Python code for every proto file into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PROTO_PACKAGE).mkdir(parents=True, exist_ok=True)
    args = protoc_args(
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out=quiet:{out_dir}",
        f"--mypy_grpc_out=quiet:{out_dir}",
    )
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")


def main(argv: list[str]) -> None:
    """Command-line entry point: ``gen_proto.py [OUT_DIR]``."""
    if len(argv) > 1:
        raise SystemExit("usage: gen_proto.py [OUT_DIR]")
    generate(Path(argv[0]) if argv else ROOT)


if __name__ == "__main__":
    main(sys.argv[1:])
