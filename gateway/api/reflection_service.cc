#include "gateway/api/reflection_service.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"

namespace fixstream::gateway {

namespace protobuf = google::protobuf;

absl::StatusOr<std::unique_ptr<ServedDescriptors>> ServedDescriptors::Build(
    std::string_view descriptor_set, std::vector<std::string> services) {
  protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(descriptor_set.data(), static_cast<int>(descriptor_set.size()))) {
    return absl::InternalError("the embedded descriptor set does not parse");
  }
  std::unique_ptr<ServedDescriptors> served(new ServedDescriptors());
  // protoc writes each file after its imports, the order BuildFile needs.
  for (const protobuf::FileDescriptorProto& file : set.file()) {
    if (served->pool_.BuildFile(file) == nullptr) {
      return absl::InternalError(absl::StrCat("descriptor of ", file.name(), " does not build"));
    }
    file.SerializeToString(&served->serialized_[file.name()]);
  }
  for (const std::string& service : services) {
    if (served->pool_.FindServiceByName(service) == nullptr) {
      return absl::InternalError(absl::StrCat("no descriptor for service ", service));
    }
  }
  served->services_ = std::move(services);
  return served;
}

const std::string& ServedDescriptors::SerializedFile(const protobuf::FileDescriptor& file) const {
  return serialized_.at(file.name());
}

namespace {

// A stream refused before it started.
template <typename Request, typename Response>
class RefusedReflection final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit RefusedReflection(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// One ServerReflectionInfo stream: read a request, answer it, read the next,
// until the client is done. One operation in flight at a time, so Finish is
// reached once, from whichever read or write ends the stream.
template <typename Request, typename Response>
class ReflectionReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit ReflectionReactor(const ServedDescriptors& descriptors) : descriptors_(descriptors) {
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or went away): the stream is complete.
      this->Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    Answer();
    response_.set_valid_host(request_.host());
    *response_.mutable_original_request() = request_;
    this->StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status::CANCELLED);
      return;
    }
    this->StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void Answer() {
    const protobuf::DescriptorPool& pool = descriptors_.pool();
    switch (request_.message_request_case()) {
      case Request::kFileByFilename:
        SendFile(pool.FindFileByName(request_.file_by_filename()), "File not found.");
        return;
      case Request::kFileContainingSymbol:
        SendFile(pool.FindFileContainingSymbol(request_.file_containing_symbol()),
                 "Symbol not found.");
        return;
      case Request::kFileContainingExtension: {
        const auto& extension = request_.file_containing_extension();
        const protobuf::Descriptor* type = pool.FindMessageTypeByName(extension.containing_type());
        if (type == nullptr) return Fail(grpc::StatusCode::NOT_FOUND, "Type not found.");
        const protobuf::FieldDescriptor* field =
            pool.FindExtensionByNumber(type, extension.extension_number());
        if (field == nullptr) return Fail(grpc::StatusCode::NOT_FOUND, "Extension not found.");
        SendFile(field->file(), "");
        return;
      }
      case Request::kAllExtensionNumbersOfType: {
        const protobuf::Descriptor* type =
            pool.FindMessageTypeByName(request_.all_extension_numbers_of_type());
        if (type == nullptr) return Fail(grpc::StatusCode::NOT_FOUND, "Type not found.");
        std::vector<const protobuf::FieldDescriptor*> extensions;
        pool.FindAllExtensions(type, &extensions);
        auto* numbers = response_.mutable_all_extension_numbers_response();
        numbers->set_base_type_name(request_.all_extension_numbers_of_type());
        for (const protobuf::FieldDescriptor* field : extensions) {
          numbers->add_extension_number(field->number());
        }
        return;
      }
      case Request::kListServices: {
        auto* list = response_.mutable_list_services_response();
        for (const std::string& name : descriptors_.services()) list->add_service()->set_name(name);
        return;
      }
      default:
        return Fail(grpc::StatusCode::UNIMPLEMENTED, "");
    }
  }

  // The file, then each of its transitive imports not sent yet in this
  // response (grpcurl builds its descriptors from them).
  void SendFile(const protobuf::FileDescriptor* file, const char* not_found) {
    if (file == nullptr) return Fail(grpc::StatusCode::NOT_FOUND, not_found);
    absl::flat_hash_set<const protobuf::FileDescriptor*> seen;
    std::vector<const protobuf::FileDescriptor*> todo = {file};
    auto* files = response_.mutable_file_descriptor_response();
    while (!todo.empty()) {
      const protobuf::FileDescriptor* next = todo.front();
      todo.erase(todo.begin());
      if (!seen.insert(next).second) continue;
      files->add_file_descriptor_proto(descriptors_.SerializedFile(*next));
      for (int i = 0; i < next->dependency_count(); ++i) todo.push_back(next->dependency(i));
    }
  }

  void Fail(grpc::StatusCode code, const char* message) {
    auto* error = response_.mutable_error_response();
    error->set_error_code(static_cast<int32_t>(code));
    error->set_error_message(message);
  }

  const ServedDescriptors& descriptors_;
  Request request_;
  // Untouched while a write is in flight.
  Response response_;
};

}  // namespace

grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                        grpc::reflection::v1::ServerReflectionResponse>*
ReflectionService::ServerReflectionInfo(grpc::CallbackServerContext* context) {
  if (authorizer_ != nullptr) {
    if (Authorizer::Access a = authorizer_->Authorize(*context, Call::kReflection);
        !a.status.ok()) {
      return new RefusedReflection<grpc::reflection::v1::ServerReflectionRequest,
                                   grpc::reflection::v1::ServerReflectionResponse>(
          std::move(a.status));
    }
  }
  return new ReflectionReactor<grpc::reflection::v1::ServerReflectionRequest,
                               grpc::reflection::v1::ServerReflectionResponse>(descriptors_);
}

grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                        grpc::reflection::v1alpha::ServerReflectionResponse>*
ReflectionServiceV1Alpha::ServerReflectionInfo(grpc::CallbackServerContext* context) {
  if (authorizer_ != nullptr) {
    if (Authorizer::Access a = authorizer_->Authorize(*context, Call::kReflection);
        !a.status.ok()) {
      return new RefusedReflection<grpc::reflection::v1alpha::ServerReflectionRequest,
                                   grpc::reflection::v1alpha::ServerReflectionResponse>(
          std::move(a.status));
    }
  }
  return new ReflectionReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                               grpc::reflection::v1alpha::ServerReflectionResponse>(descriptors_);
}

}  // namespace fixstream::gateway
