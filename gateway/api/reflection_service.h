// Server reflection (grpc.reflection.v1 and v1alpha) over the descriptor set
// embedded at build time (proto/embedded/served_descriptor_set.h) rather than
// the generated pool gRPC's own reflection uses: the embedded files keep
// their comments (source info), so `grpcurl describe` shows what
// location.proto says to operators, and grpc.health.v1 is in it too.
// grpcurl asks v1 first and falls back to v1alpha; both answer the same.
//
// Answers mirror gRPC C++'s ProtoServerReflection: list_services names the
// services given at construction; file_by_filename and
// file_containing_symbol send the file and then each of its transitive
// imports once; file_containing_extension and all_extension_numbers_of_type
// look extensions up in the same pool; errors come back as an
// error_response (NOT_FOUND "File not found." / "Symbol not found." ...).
#ifndef FIXSTREAM_GATEWAY_API_REFLECTION_SERVICE_H_
#define FIXSTREAM_GATEWAY_API_REFLECTION_SERVICE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gateway/api/access_tokens.h"
#include "google/protobuf/descriptor.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace fixstream::gateway {

// The files reflection serves: a DescriptorPool built from a serialized
// FileDescriptorSet, and each file's FileDescriptorProto as it came (with
// source info). Immutable after Build; thread-safe.
class ServedDescriptors final {
 public:
  // Fails if the set does not parse, a file does not build, or a name in
  // `services` is not a service of the set.
  static absl::StatusOr<std::unique_ptr<ServedDescriptors>> Build(
      std::string_view descriptor_set, std::vector<std::string> services);

  const std::vector<std::string>& services() const { return services_; }
  const google::protobuf::DescriptorPool& pool() const { return pool_; }
  // The serialized FileDescriptorProto of `file` (one of pool()'s files).
  const std::string& SerializedFile(const google::protobuf::FileDescriptor& file) const;

 private:
  ServedDescriptors() = default;

  google::protobuf::DescriptorPool pool_;
  absl::flat_hash_map<std::string, std::string> serialized_;
  std::vector<std::string> services_;
};

// grpc.reflection.v1.ServerReflection. `descriptors` must outlive it.
class ReflectionService final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // With an `authorizer` (which must outlive the service) each stream is
  // put to it as Call::kReflection first.
  explicit ReflectionService(const ServedDescriptors& descriptors,
                             const Authorizer* authorizer = nullptr)
      : descriptors_(descriptors), authorizer_(authorizer) {}
  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

 private:
  const ServedDescriptors& descriptors_;
  const Authorizer* const authorizer_;
};

// grpc.reflection.v1alpha.ServerReflection, the same over the older names.
class ReflectionServiceV1Alpha final
    : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  explicit ReflectionServiceV1Alpha(const ServedDescriptors& descriptors,
                                    const Authorizer* authorizer = nullptr)
      : descriptors_(descriptors), authorizer_(authorizer) {}
  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

 private:
  const ServedDescriptors& descriptors_;
  const Authorizer* const authorizer_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_API_REFLECTION_SERVICE_H_
