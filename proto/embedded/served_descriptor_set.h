// The FileDescriptorSet of every service the gateway serves
// (fixstream/v1/location.proto, grpc/health/v1/health.proto, both
// grpc/reflection protos), with their imports and their source info
// (comments), compiled by protoc at build time and embedded in the binary.
// Reflection answers from it.
#ifndef FIXSTREAM_PROTO_EMBEDDED_SERVED_DESCRIPTOR_SET_H_
#define FIXSTREAM_PROTO_EMBEDDED_SERVED_DESCRIPTOR_SET_H_

#include <string_view>

namespace fixstream::proto {

// The serialized google.protobuf.FileDescriptorSet; files come in dependency
// order (each after its imports). Static storage, thread-safe.
std::string_view ServedDescriptorSet();

}  // namespace fixstream::proto

#endif  // FIXSTREAM_PROTO_EMBEDDED_SERVED_DESCRIPTOR_SET_H_
