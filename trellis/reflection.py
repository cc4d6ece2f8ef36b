"""gRPC server reflection in both protocol versions: ``grpc.reflection.v1`` and ``v1alpha``.

grpcio-reflection implements only ``v1alpha``, which newer clients (grpc-java's,
Postman, recent grpcurl) no longer try first. ``v1`` is the same protocol
under another package: the same messages with the same field numbers, so the
bytes of a ``v1`` request decode as the ``v1alpha`` message and the other way
round. One servicer therefore answers both names. So that a client can
describe the ``v1`` service itself, its descriptor (``v1alpha``'s, moved to
the ``v1`` package, as upstream's ``grpc/reflection/v1/reflection.proto``)
joins the default descriptor pool.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["V1ALPHA_SERVICE_NAME", "V1_FILE_NAME", "V1_SERVICE_NAME", "enable_reflection", "v1_file"]

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1_FILE_NAME = "grpc/reflection/v1/reflection.proto"

_V1ALPHA_PACKAGE = reflection_pb2.DESCRIPTOR.package
_V1_PACKAGE = "grpc.reflection.v1"


def v1_file(pool: descriptor_pool.DescriptorPool | None = None) -> descriptor.FileDescriptor:
    """The ``grpc/reflection/v1/reflection.proto`` descriptor, added to ``pool`` (the default) once."""
    pool = pool or descriptor_pool.Default()
    try:
        return pool.FindFileByName(V1_FILE_NAME)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{_V1ALPHA_PACKAGE}.", f".{_V1_PACKAGE}."
    proto.name, proto.package = V1_FILE_NAME, _V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new, 1)
            method.output_type = method.output_type.replace(old, new, 1)
    proto.options.Clear()  # v1alpha's say `deprecated` and name v1alpha's Go and Java packages
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.java_outer_classname = "ServerReflectionProto"
    proto.options.java_multiple_files = True
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    pool.AddSerializedFile(proto.SerializeToString())
    return pool.FindFileByName(V1_FILE_NAME)


def enable_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection for ``service_names`` (plus both reflection services) under v1 and v1alpha."""
    v1_file()
    servicer = reflection.ReflectionServicer([*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": v1_handler}),)
    )
