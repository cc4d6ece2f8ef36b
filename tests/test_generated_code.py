"""The committed code under ``trellis/v1/`` matches ``proto/``, which is documented.

The API contract lives in ``proto/trellis/v1/*.proto``; the generated Python
is committed so the package installs without protoc. These tests fail when the
two drift apart, and when an element of the API lacks its comment.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TypeAlias

import pytest
from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor as gdesc
from google.protobuf import descriptor_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ROOT = Path(__file__).resolve().parent.parent
GENERATED_DIR = ROOT / "trellis" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
REGENERATE = "run `python scripts/gen_proto.py` and commit the result"

# Field numbers of the descriptor.proto fields that SourceCodeInfo paths use.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE = 2
SERVICE_METHOD = 2

Elements: TypeAlias = Iterator[tuple[str, tuple[int, ...]]]
FileProtos: TypeAlias = list[descriptor_pb2.FileDescriptorProto]


def _load_gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_proto = _load_gen_proto()


def _generated_files(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


def test_generated_code_is_current(tmp_path: Path) -> None:
    gen_proto.generate(tmp_path)
    fresh = _generated_files(tmp_path / "trellis" / "v1")
    committed = _generated_files(GENERATED_DIR)
    assert fresh, "protoc generated nothing"

    missing = sorted(fresh.keys() - committed.keys())
    stale = sorted(committed.keys() - fresh.keys())
    changed = sorted(n for n in fresh.keys() & committed.keys() if fresh[n] != committed[n])
    assert not missing, f"generated files missing from trellis/v1: {missing}; {REGENERATE}"
    assert not stale, f"stale generated files in trellis/v1 (delete them): {stale}"
    assert not changed, f"generated files out of date: {changed}; {REGENERATE}"


@pytest.fixture(scope="module")
def proto_files(tmp_path_factory: pytest.TempPathFactory) -> FileProtos:
    """Our .proto files compiled with comments (source info), imports excluded."""
    out = tmp_path_factory.mktemp("descriptors") / "trellis.pb"
    args = gen_proto.protoc_args("--include_source_info", f"--descriptor_set_out={out}")
    assert gen_proto.protoc.main(args) == 0, "protoc failed"
    files = list(descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file)
    assert files
    return files


def _elements(file: descriptor_pb2.FileDescriptorProto) -> Elements:
    """Yield (full name, source path) of every element that needs a comment."""

    def enum(e: descriptor_pb2.EnumDescriptorProto, name: str, path: tuple[int, ...]) -> Elements:
        yield name, path
        for i, v in enumerate(e.value):
            yield f"{name}.{v.name}", (*path, ENUM_VALUE, i)

    def message(m: descriptor_pb2.DescriptorProto, name: str, path: tuple[int, ...]) -> Elements:
        if m.options.map_entry:  # synthesised for map<K, V> fields
            return
        yield name, path
        for i, f in enumerate(m.field):
            yield f"{name}.{f.name}", (*path, MESSAGE_FIELD, i)
        for i, o in enumerate(m.oneof_decl):
            if not any(f.proto3_optional and f.oneof_index == i for f in m.field):
                yield f"{name}.{o.name}", (*path, MESSAGE_ONEOF, i)
        for i, n in enumerate(m.nested_type):
            yield from message(n, f"{name}.{n.name}", (*path, MESSAGE_NESTED, i))
        for i, e in enumerate(m.enum_type):
            yield from enum(e, f"{name}.{e.name}", (*path, MESSAGE_ENUM, i))

    for i, m in enumerate(file.message_type):
        yield from message(m, m.name, (FILE_MESSAGE, i))
    for i, e in enumerate(file.enum_type):
        yield from enum(e, e.name, (FILE_ENUM, i))
    for i, s in enumerate(file.service):
        yield s.name, (FILE_SERVICE, i)
        for j, r in enumerate(s.method):
            yield f"{s.name}.{r.name}", (FILE_SERVICE, i, SERVICE_METHOD, j)


def test_every_element_has_a_sentence_comment(proto_files: FileProtos) -> None:
    problems = []
    for file in proto_files:
        locations = file.source_code_info.location
        comments = {tuple(loc.path): loc.leading_comments.strip() for loc in locations}
        for name, path in _elements(file):
            comment = comments.get(path, "")
            if not comment:
                problems.append(f"{file.name}: {name} has no leading comment")
            elif not comment.endswith("."):
                problems.append(f"{file.name}: {name}: comment is not a full sentence")
    assert not problems, "\n".join(problems)


def test_api_follows_the_style_guide(proto_files: FileProtos) -> None:
    """The buf / AIP rules that protoc does not check by itself."""
    problems = []
    io_types: list[str] = []
    for file in proto_files:
        if file.package != "trellis.v1" or not file.name.startswith("trellis/v1/"):
            problems.append(f"{file.name}: not in package trellis.v1 under proto/trellis/v1/")
        messages = {m.name: m for m in file.message_type}
        enums = list(file.enum_type) + [e for m in file.message_type for e in m.enum_type]
        for e in enums:
            snake = "".join(f"_{c}" if c.isupper() else c.upper() for c in e.name)
            prefix = snake.lstrip("_") + "_"
            if e.value[0].name != f"{prefix}UNSPECIFIED" or e.value[0].number != 0:
                problems.append(f"{e.name}: first value must be {prefix}UNSPECIFIED = 0")
            unprefixed = [v.name for v in e.value if not v.name.startswith(prefix)]
            problems += [f"{e.name}.{v}: not prefixed {prefix}" for v in unprefixed]
        for s in file.service:
            if not s.name.endswith("Service"):
                problems.append(f"{s.name}: service name must end in Service")
            for r in s.method:
                want = (f".trellis.v1.{r.name}Request", f".trellis.v1.{r.name}Response")
                if (r.input_type, r.output_type) != want:
                    problems.append(f"{s.name}.{r.name}: must use {r.name}Request/{r.name}Response")
                io_types += [r.input_type, r.output_type]
                if r.name.startswith("List"):
                    request = {f.name for f in messages[f"{r.name}Request"].field}
                    response = {f.name for f in messages[f"{r.name}Response"].field}
                    if not {"page_size", "page_token"} <= request or "next_page_token" not in response:
                        problems.append(f"{s.name}.{r.name}: lacks page_size/page_token/next_page_token")
    duplicates = sorted({t for t in io_types if io_types.count(t) > 1})
    for file in proto_files:  # every language can generate from proto/ as it is (tools/proto/check.sh tries)
        want = {
            "go_package": "trellis.dev/go/trellis/v1;trellisv1",
            "java_package": "dev.trellis.v1",
            "java_multiple_files": True,
            "csharp_namespace": "Trellis.V1",
            "objc_class_prefix": "TXX",
            "php_namespace": "Trellis\\V1",
            "ruby_package": "Trellis::V1",
            "java_outer_classname": Path(file.name).stem.capitalize() + "Proto",
        }
        problems += [f"{file.name}: option {k} must be {v!r}" for k, v in want.items() if getattr(file.options, k) != v]
    problems += [f"{t}: used by more than one RPC" for t in duplicates]
    assert not problems, "\n".join(problems)


def test_vendored_google_rpc_protos_describe_what_the_server_sends(tmp_path: Path) -> None:
    """proto/google/rpc (vendored for clients) has every field of the messages the server packs."""
    out = tmp_path / "rpc.pb"
    rpc = gen_proto.PROTO_DIR / "google" / "rpc"
    vendored = [p.relative_to(gen_proto.PROTO_DIR).as_posix() for p in sorted(rpc.glob("*.proto"))]
    assert vendored == ["google/rpc/code.proto", "google/rpc/error_details.proto", "google/rpc/status.proto"]
    assert "Apache License" in (rpc / "LICENSE").read_text()
    include = [f"--proto_path={d}" for d in gen_proto.include_dirs()]
    args = ["protoc", *include, f"--descriptor_set_out={out}", *vendored]
    assert gen_proto.protoc.main(args) == 0
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file}
    for module in (status_pb2, error_details_pb2, code_pb2):
        runtime = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(runtime)
        mine = files[runtime.name]
        assert mine.package == runtime.package and mine.options.go_package == runtime.options.go_package
        fields = {m.name: {(f.name, f.number, f.type) for f in m.field} for m in mine.message_type}
        for message in runtime.message_type:
            if message.name in ("Status", "ErrorInfo", "QuotaFailure", "RetryInfo"):
                assert {(f.name, f.number, f.type) for f in message.field} == fields[message.name], message.name


def _messages() -> Iterator[gdesc.Descriptor]:
    from trellis.v1 import changes_pb2, diffs_pb2, pipelines_pb2, queries_pb2, repositories_pb2, sessions_pb2

    for module in (changes_pb2, diffs_pb2, pipelines_pb2, queries_pb2, repositories_pb2, sessions_pb2):
        yield from module.DESCRIPTOR.message_types_by_name.values()


def _behaviour(f: gdesc.FieldDescriptor) -> list[int]:
    return list(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def test_resources_are_annotated_as_names_py_formats_them() -> None:
    """google.api.resource on every message with an IDENTIFIER name; its pattern is what trellis/names.py writes."""
    from trellis import names

    formatted = {
        "trellis.dev/Repository": names.repository_name("{repository}"),
        "trellis.dev/Branch": names.branch_name("{repository}", "{branch}"),
        "trellis.dev/Commit": names.commit_name("{repository}", "{commit}"),
        "trellis.dev/Session": names.session_name("{repository}", "{session}"),
        "trellis.dev/Step": names.step_name("{repository}", "{session}", "{step}"),  # type: ignore[arg-type]
        "trellis.dev/Run": names.run_name("{repository}", "{run}"),
    }
    declared = {}
    for message in _messages():
        resource = message.GetOptions().Extensions[resource_pb2.resource]
        identified = [f.name for f in message.fields if field_behavior_pb2.IDENTIFIER in _behaviour(f)]
        if resource.type:
            assert identified == ["name"], f"{message.name}: its `name` must be the IDENTIFIER field"
            declared[resource.type] = list(resource.pattern)
        else:
            assert not identified, f"{message.name}: an IDENTIFIER field but no google.api.resource"
    assert declared == {t: [p] for t, p in formatted.items()}


def test_every_request_field_has_a_behaviour_and_every_name_a_reference() -> None:
    """REQUIRED or OPTIONAL on every request field; `name`, `parent` and other resource fields say what they name."""
    types = {m.GetOptions().Extensions[resource_pb2.resource].type for m in _messages()} - {""}
    problems = []
    for message in _messages():
        for f in message.fields:
            where = f"{message.name}.{f.name}"
            reference = f.GetOptions().Extensions[resource_pb2.resource_reference]
            named = reference.type or reference.child_type
            if named and named not in types:
                problems.append(f"{where}: refers to {named!r}, which no message declares")
            if not message.name.endswith("Request"):
                continue
            behaviour = _behaviour(f)
            if len(behaviour) != 1 or behaviour[0] not in (field_behavior_pb2.REQUIRED, field_behavior_pb2.OPTIONAL):
                problems.append(f"{where}: needs (google.api.field_behavior) = REQUIRED or OPTIONAL")
            if f.name in ("name", "parent", "session", "run") and not named:
                problems.append(f"{where}: needs (google.api.resource_reference)")
    assert not problems, "\n".join(problems)


def test_vendored_google_api_protos_are_what_python_uses(tmp_path: Path) -> None:
    """proto/google/api (vendored for clients) is the googleapis-common-protos the server's annotations come from."""
    api = gen_proto.PROTO_DIR / "google" / "api"
    vendored = [p.relative_to(gen_proto.PROTO_DIR).as_posix() for p in sorted(api.glob("*.proto"))]
    assert vendored == ["google/api/field_behavior.proto", "google/api/resource.proto"]
    assert "Apache License" in (api / "LICENSE").read_text()
    out = tmp_path / "api.pb"
    include = [f"--proto_path={d}" for d in gen_proto.include_dirs()]
    assert gen_proto.protoc.main(["protoc", *include, f"--descriptor_set_out={out}", *vendored]) == 0
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file}
    for module in (field_behavior_pb2, resource_pb2):
        runtime = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(runtime)
        mine = files[runtime.name]
        assert (mine.package, mine.options.go_package) == (runtime.package, runtime.options.go_package)
        for proto in (mine, runtime):  # protoc fills in json_name, the runtime's copy leaves it out
            for f in [*proto.extension, *(f for m in proto.message_type for f in m.field)]:
                f.ClearField("json_name")
        assert mine.extension == runtime.extension and mine.message_type == runtime.message_type
        assert mine.enum_type == runtime.enum_type
