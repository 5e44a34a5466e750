// What grpcurl does, with no compiled stubs of the gateway's services: the
// real binary is asked by server reflection (v1 first, v1alpha if v1 is
// unimplemented, as grpcurl v1.9 does) for its services and their files,
// the descriptors are built from the answers alone (DescriptorPool +
// DynamicMessageFactory), and every method an operator calls is invoked
// through grpc::GenericStub with dynamic messages built from JSON bodies.
// The last test runs every grpcurl command of README.md and docs/*.md
// verbatim (but for the address) the same way.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_socket.h"

namespace fixstream {
namespace {

namespace protobuf = google::protobuf;

// The services the gateway serves, as `grpcurl list` prints them.
const std::set<std::string> kServices = {"fixstream.v1.LocationService", "grpc.health.v1.Health",
                                         "grpc.reflection.v1.ServerReflection",
                                         "grpc.reflection.v1alpha.ServerReflection"};

// One reflection stream of either version.
class Reflector {
 public:
  virtual ~Reflector() = default;
  virtual std::string version() const = 0;
  // The service names, or the error.
  virtual absl::StatusOr<std::vector<std::string>> ListServices() = 0;
  // Serialized FileDescriptorProtos answering file_containing_symbol
  // (`by_symbol`) or file_by_filename.
  virtual absl::StatusOr<std::vector<std::string>> Files(const std::string& name,
                                                         bool by_symbol) = 0;
};

template <typename Service, typename Request, typename Response>
class ReflectorOf final : public Reflector {
 public:
  ReflectorOf(std::shared_ptr<grpc::Channel> channel, std::string version)
      : stub_(Service::NewStub(channel)), version_(std::move(version)) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub_->ServerReflectionInfo(&context_);
  }
  ~ReflectorOf() override {
    if (finished_) return;
    // (Not checked: a stream still open when the gateway stops is cancelled.)
    stream_->WritesDone();
    grpc::Status status = stream_->Finish();
  }
  std::string version() const override { return version_; }

  // Sends `request`; the stream's status when there is no answer (an
  // UNIMPLEMENTED version ends the stream).
  absl::StatusOr<Response> Ask(const Request& request) {
    Response response;
    if (!stream_->Write(request) || !stream_->Read(&response)) {
      grpc::Status status = stream_->Finish();
      finished_ = true;
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    if (response.has_error_response()) {
      return absl::Status(static_cast<absl::StatusCode>(response.error_response().error_code()),
                          response.error_response().error_message());
    }
    return response;
  }

  absl::StatusOr<std::vector<std::string>> ListServices() override {
    Request request;
    request.set_list_services("*");
    absl::StatusOr<Response> response = Ask(request);
    if (!response.ok()) return response.status();
    std::vector<std::string> names;
    for (const auto& service : response->list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  absl::StatusOr<std::vector<std::string>> Files(const std::string& name, bool by_symbol) override {
    Request request;
    if (by_symbol) {
      request.set_file_containing_symbol(name);
    } else {
      request.set_file_by_filename(name);
    }
    absl::StatusOr<Response> response = Ask(request);
    if (!response.ok()) return response.status();
    const auto& files = response->file_descriptor_response().file_descriptor_proto();
    return std::vector<std::string>(files.begin(), files.end());
  }

  bool finished() const { return finished_; }

 private:
  std::unique_ptr<typename Service::Stub> stub_;
  const std::string version_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream_;
  bool finished_ = false;
};

using ReflectorV1 = ReflectorOf<grpc::reflection::v1::ServerReflection,
                                grpc::reflection::v1::ServerReflectionRequest,
                                grpc::reflection::v1::ServerReflectionResponse>;
using ReflectorV1Alpha = ReflectorOf<grpc::reflection::v1alpha::ServerReflection,
                                     grpc::reflection::v1alpha::ServerReflectionRequest,
                                     grpc::reflection::v1alpha::ServerReflectionResponse>;

// grpcurl's client: v1 reflection, v1alpha when v1 is unimplemented; the
// descriptors it learns, in a pool of their own.
class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel) : channel_(channel) {
    auto v1 = std::make_unique<ReflectorV1>(channel, "v1");
    absl::StatusOr<std::vector<std::string>> listed = v1->ListServices();
    if (!listed.ok() && listed.status().code() == absl::StatusCode::kUnimplemented) {
      reflector_ = std::make_unique<ReflectorV1Alpha>(channel, "v1alpha");
      listed = reflector_->ListServices();
    } else {
      reflector_ = std::move(v1);
    }
    if (listed.ok()) {
      services_ = *listed;
    } else {
      ADD_FAILURE() << "list_services: " << listed.status();
    }
  }

  std::string version() const { return reflector_->version(); }
  const std::vector<std::string>& services() const { return services_; }
  const protobuf::DescriptorPool& pool() const { return pool_; }

  // file_containing_symbol, then the descriptors built from the files (and
  // their imports, fetched by name where the answer lacked them). Null, with
  // a test failure naming the error, if the symbol cannot be resolved.
  const protobuf::FileDescriptor* FileContainingSymbol(const std::string& symbol) {
    absl::StatusOr<std::vector<std::string>> files = reflector_->Files(symbol, true);
    if (!files.ok()) {
      ADD_FAILURE() << "file_containing_symbol " << symbol << ": " << files.status();
      return nullptr;
    }
    if (files->empty()) {
      ADD_FAILURE() << "file_containing_symbol " << symbol << ": no files";
      return nullptr;
    }
    std::string first;
    for (const std::string& bytes : *files) {
      protobuf::FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) {
        ADD_FAILURE() << "file_containing_symbol " << symbol << ": a file does not parse";
        return nullptr;
      }
      if (first.empty()) first = file.name();
      protos_.emplace(file.name(), file);
    }
    return Build(first);
  }

 private:
  const protobuf::FileDescriptor* Build(const std::string& name) {
    if (const protobuf::FileDescriptor* built = pool_.FindFileByName(name)) return built;
    auto it = protos_.find(name);
    if (it == protos_.end()) {
      absl::StatusOr<std::vector<std::string>> files = reflector_->Files(name, false);
      if (!files.ok() || files->empty()) {
        ADD_FAILURE() << "file_by_filename " << name << ": "
                      << (files.ok() ? "no files" : files.status().ToString());
        return nullptr;
      }
      for (const std::string& bytes : *files) {
        protobuf::FileDescriptorProto file;
        EXPECT_TRUE(file.ParseFromString(bytes));
        protos_.emplace(file.name(), file);
      }
      it = protos_.find(name);
      if (it == protos_.end()) return nullptr;
    }
    for (const std::string& dependency : it->second.dependency()) {
      if (Build(dependency) == nullptr) return nullptr;
    }
    const protobuf::FileDescriptor* built = pool_.BuildFile(it->second);
    EXPECT_NE(built, nullptr) << name;
    return built;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Reflector> reflector_;
  std::vector<std::string> services_;
  std::map<std::string, protobuf::FileDescriptorProto> protos_;
  protobuf::DescriptorPool pool_;
};

// One call of any kind through the generic stub, each step awaited on a
// completion queue of its own: the request is sent and half-closed, then
// responses are read as the method's kind allows.
class DynamicCall {
 public:
  DynamicCall(std::shared_ptr<grpc::Channel> channel, const protobuf::MethodDescriptor& method,
              const protobuf::Message& request, std::chrono::seconds timeout)
      : stub_(channel) {
    context_.set_deadline(std::chrono::system_clock::now() + timeout);
    call_ = stub_.PrepareCall(
        &context_, absl::StrCat("/", method.service()->full_name(), "/", method.name()), &cq_);
    call_->StartCall(Tag(1));
    bool ok = Await(1);
    std::string bytes;
    request.SerializeToString(&bytes);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    if (ok) {
      call_->Write(buffer, Tag(2));
      ok = Await(2);
    }
    if (ok) {
      call_->WritesDone(Tag(3));
      ok = Await(3);
    }
    // The gateway sends a Subscribe stream's headers once it is registered.
    call_->ReadInitialMetadata(Tag(4));
    Await(4);
  }
  ~DynamicCall() {
    if (!finished_) {
      context_.TryCancel();
      Finish();
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  // The next response into `response`; false at the end of the stream.
  bool Read(protobuf::Message* response) {
    grpc::ByteBuffer buffer;
    call_->Read(&buffer, Tag(5));
    if (!Await(5)) return false;
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(buffer.Dump(&slices).ok());
    std::string bytes;
    for (const grpc::Slice& s : slices)
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_TRUE(response->ParseFromString(bytes));
    return true;
  }

  grpc::Status Finish() {
    grpc::Status status;
    call_->Finish(&status, Tag(6));
    Await(6);
    finished_ = true;
    return status;
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  bool Await(intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq_.Next(&tag, &ok)) return false;
    EXPECT_EQ(tag, Tag(expected));
    return ok;
  }

  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool finished_ = false;
};

std::shared_ptr<grpc::Channel> Connect(uint16_t port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

// The dynamic messages of one reflected pool.
class Messages {
 public:
  explicit Messages(const protobuf::DescriptorPool& pool) : factory_(&pool) {}
  std::unique_ptr<protobuf::Message> New(const protobuf::Descriptor& type) {
    return std::unique_ptr<protobuf::Message>(factory_.GetPrototype(&type)->New());
  }
  // Parsed from a JSON body, as grpcurl -d does ("" is {}).
  std::unique_ptr<protobuf::Message> FromJson(const protobuf::Descriptor& type,
                                              const std::string& json) {
    auto message = New(type);
    const auto status =
        protobuf::util::JsonStringToMessage(json.empty() ? "{}" : json, message.get());
    EXPECT_TRUE(status.ok()) << json << ": " << status.ToString();
    return message;
  }

 private:
  protobuf::DynamicMessageFactory factory_;
};

std::string ToJson(const protobuf::Message& message) {
  std::string json;
  protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  EXPECT_TRUE(protobuf::util::MessageToJsonString(message, &json, options).ok());
  return json;
}

// Looks `full_name` ("pkg.Service/Method" or "pkg.Service.Method") up by
// reflection.
const protobuf::MethodDescriptor* ResolveMethod(ReflectionClient& client,
                                                const std::string& full_name) {
  std::string name = absl::StrReplaceAll(full_name, {{"/", "."}});
  const size_t dot = name.rfind('.');
  const std::string service = name.substr(0, dot);
  if (client.FileContainingSymbol(service) == nullptr) return nullptr;
  const protobuf::ServiceDescriptor* descriptor = client.pool().FindServiceByName(service);
  if (descriptor == nullptr) {
    ADD_FAILURE() << "no service " << service;
    return nullptr;
  }
  const protobuf::MethodDescriptor* method = descriptor->FindMethodByName(name.substr(dot + 1));
  EXPECT_NE(method, nullptr) << full_name;
  return method;
}

bool HasComment(const protobuf::SourceLocation& location) {
  return !location.leading_comments.empty() || !location.trailing_comments.empty();
}

// Every message, field, enum, value, service and method of `file` carries a
// comment, as `grpcurl describe` should show it.
void ExpectEveryElementCommented(const protobuf::FileDescriptor& file) {
  protobuf::SourceLocation location;
  auto check = [&](const auto& element) {
    EXPECT_TRUE(element.GetSourceLocation(&location) && HasComment(location))
        << element.full_name() << " of " << file.name() << " has no comment";
  };
  std::function<void(const protobuf::Descriptor&)> message = [&](const protobuf::Descriptor& m) {
    check(m);
    for (int i = 0; i < m.field_count(); ++i) check(*m.field(i));
    for (int i = 0; i < m.nested_type_count(); ++i) message(*m.nested_type(i));
    for (int i = 0; i < m.enum_type_count(); ++i) {
      check(*m.enum_type(i));
      for (int j = 0; j < m.enum_type(i)->value_count(); ++j) check(*m.enum_type(i)->value(j));
    }
  };
  for (int i = 0; i < file.message_type_count(); ++i) message(*file.message_type(i));
  for (int i = 0; i < file.enum_type_count(); ++i) {
    check(*file.enum_type(i));
    for (int j = 0; j < file.enum_type(i)->value_count(); ++j) check(*file.enum_type(i)->value(j));
  }
  for (int i = 0; i < file.service_count(); ++i) {
    check(*file.service(i));
    for (int j = 0; j < file.service(i)->method_count(); ++j) check(*file.service(i)->method(j));
  }
}

// Sends one CSV fix of `vehicle` to the device port, `age` before now (each
// call a second later than the last, so no two are duplicates).
void SendFix(uint16_t device_port, const std::string& vehicle) {
  static int64_t offset_s = -50;
  const absl::Time fix = absl::Now() + absl::Seconds(offset_s++);
  testing::TestConnection conn(device_port);
  ASSERT_TRUE(conn.Send(
      absl::StrCat(vehicle, ",", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", fix, absl::UTCTimeZone()),
                   ",52.5200,13.4050,8.5,90\n")));
  conn.ShutdownWrite();
  EXPECT_TRUE(conn.WaitForPeerClose(10000));
}

// Sends `count` CSV fixes of `vehicle` over one connection, one
// millisecond apart, ending about now.
void SendFixes(uint16_t device_port, const std::string& vehicle, int count) {
  const int64_t last_ms = absl::ToUnixMillis(absl::Now()) - 1000;
  std::string lines;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&lines, vehicle, ",", last_ms - count + i, ",52.5200,13.4050,8.5,90\n");
  }
  testing::TestConnection conn(device_port);
  ASSERT_TRUE(conn.Send(lines));
  conn.ShutdownWrite();
  EXPECT_TRUE(conn.WaitForPeerClose(10000));
}

// Reads `call` until a response whose JSON contains `needle`; false if the
// stream ends first.
bool ReadUntil(DynamicCall& call, protobuf::Message& response, const std::string& needle,
               std::string* json) {
  while (call.Read(&response)) {
    *json = ToJson(response);
    if (absl::StrContains(*json, needle)) return true;
  }
  return false;
}

TEST(ReflectionTest, ServesEveryServiceWithItsComments) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  ReflectionClient client(Connect(gateway.grpc_port()));
  // grpcurl v1.9 asks v1 first.
  EXPECT_EQ(client.version(), "v1");
  EXPECT_EQ(std::set<std::string>(client.services().begin(), client.services().end()), kServices);
  for (const std::string& service : client.services()) {
    const protobuf::FileDescriptor* file = client.FileContainingSymbol(service);
    ASSERT_NE(file, nullptr) << service;
    EXPECT_NE(client.pool().FindServiceByName(service), nullptr) << service;
    protobuf::FileDescriptorProto proto;
    file->CopySourceCodeInfoTo(&proto);
    EXPECT_GT(proto.source_code_info().location_size(), 0) << file->name() << " has no source info";
  }
  // `grpcurl describe` of the service and of a message shows their comments.
  const protobuf::FileDescriptor* location =
      client.pool().FindFileByName("fixstream/v1/location.proto");
  ASSERT_NE(location, nullptr);
  ExpectEveryElementCommented(*location);
  protobuf::SourceLocation comment;
  ASSERT_TRUE(client.pool()
                  .FindMessageTypeByName("fixstream.v1.LocationRecord")
                  ->GetSourceLocation(&comment));
  EXPECT_FALSE(comment.leading_comments.empty());
  // (Health's own file is Debian's, comments included.)
  const protobuf::ServiceDescriptor* health =
      client.pool().FindServiceByName("grpc.health.v1.Health");
  ASSERT_NE(health, nullptr);
  ASSERT_NE(health->FindMethodByName("Watch"), nullptr);
  ASSERT_TRUE(health->FindMethodByName("Watch")->GetSourceLocation(&comment));
  EXPECT_FALSE(comment.leading_comments.empty());
  // Unknown names are NOT_FOUND errors, not empty answers.
  ReflectorV1 raw(Connect(gateway.grpc_port()), "v1");
  EXPECT_EQ(raw.Files("fixstream.v1.NoSuchThing", true).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(raw.Files("no/such.proto", false).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<std::string>> by_name =
      raw.Files("fixstream/v1/location.proto", false);
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  // The file and its import.
  EXPECT_EQ(by_name->size(), 2u);
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0) << gateway.output();
}

TEST(ReflectionTest, CallsEveryMethodWithDynamicMessages) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  auto channel = Connect(gateway.grpc_port());
  ReflectionClient client(channel);
  const protobuf::MethodDescriptor* check = ResolveMethod(client, "grpc.health.v1.Health/Check");
  const protobuf::MethodDescriptor* watch = ResolveMethod(client, "grpc.health.v1.Health/Watch");
  const protobuf::MethodDescriptor* subscribe =
      ResolveMethod(client, "fixstream.v1.LocationService/Subscribe");
  const protobuf::MethodDescriptor* latest =
      ResolveMethod(client, "fixstream.v1.LocationService/GetLatestPositions");
  const protobuf::MethodDescriptor* vehicles =
      ResolveMethod(client, "fixstream.v1.LocationService/ListVehicles");
  ASSERT_TRUE(check && watch && subscribe && latest && vehicles);
  Messages messages(client.pool());

  for (const std::string body : {"", R"({"service":"fixstream.v1.LocationService"})"}) {
    auto response = messages.New(*check->output_type());
    DynamicCall call(channel, *check, *messages.FromJson(*check->input_type(), body),
                     std::chrono::seconds(10));
    ASSERT_TRUE(call.Read(response.get())) << body;
    EXPECT_EQ(ToJson(*response), R"({"status":"SERVING"})") << body;
    EXPECT_TRUE(call.Finish().ok()) << body;
  }
  {
    auto response = messages.New(*check->output_type());
    DynamicCall call(channel, *check,
                     *messages.FromJson(*check->input_type(), R"({"service":"nope"})"),
                     std::chrono::seconds(10));
    EXPECT_FALSE(call.Read(response.get()));
    EXPECT_EQ(call.Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }

  auto watch_response = messages.New(*watch->output_type());
  DynamicCall watching(
      channel, *watch,
      *messages.FromJson(*watch->input_type(), R"({"service":"fixstream.v1.LocationService"})"),
      std::chrono::seconds(60));
  ASSERT_TRUE(watching.Read(watch_response.get()));
  EXPECT_EQ(ToJson(*watch_response), R"({"status":"SERVING"})");

  auto record = messages.New(*subscribe->output_type());
  DynamicCall subscription(
      channel, *subscribe,
      *messages.FromJson(*subscribe->input_type(), R"({"vehicle_ids":["van-17"]})"),
      std::chrono::seconds(60));
  SendFix(gateway.device_port(), "bus-7");
  SendFix(gateway.device_port(), "van-17");
  std::string json;
  ASSERT_TRUE(ReadUntil(subscription, *record, "van-17", &json));
  EXPECT_TRUE(absl::StrContains(json, R"("latitude":52.52)")) << json;
  EXPECT_FALSE(absl::StrContains(json, "bus-7")) << json;

  {
    auto response = messages.New(*latest->output_type());
    DynamicCall call(channel, *latest,
                     *messages.FromJson(*latest->input_type(), R"({"vehicle_ids":["van-17"]})"),
                     std::chrono::seconds(10));
    ASSERT_TRUE(call.Read(response.get()));
    json = ToJson(*response);
    EXPECT_TRUE(absl::StrContains(json, R"("vehicle_id":"van-17")")) << json;
    EXPECT_TRUE(call.Finish().ok());
  }
  {
    auto response = messages.New(*vehicles->output_type());
    DynamicCall call(channel, *vehicles,
                     *messages.FromJson(*vehicles->input_type(), R"({"page_size":100})"),
                     std::chrono::seconds(10));
    ASSERT_TRUE(call.Read(response.get()));
    json = ToJson(*response);
    EXPECT_TRUE(absl::StrContains(json, "van-17")) << json;
    EXPECT_TRUE(absl::StrContains(json, "bus-7")) << json;
    EXPECT_TRUE(call.Finish().ok());
  }

  // The drain: Watch hears NOT_SERVING, the subscription ends with OK.
  ASSERT_EQ(::kill(gateway.pid(), SIGTERM), 0);
  ASSERT_TRUE(watching.Read(watch_response.get()));
  EXPECT_EQ(ToJson(*watch_response), R"({"status":"NOT_SERVING"})");
  while (subscription.Read(record.get())) {
  }
  EXPECT_TRUE(subscription.Finish().ok());
  EXPECT_EQ(gateway.StopWith(0), 0) << gateway.output();
}

// A grpcurl command line of the docs: `grpcurl -plaintext [-d 'BODY'] ADDRESS
// (list | describe SYMBOL | SERVICE/METHOD)`.
struct GrpcurlCommand {
  std::string source;  // file:line, for messages
  std::string text;
  std::vector<std::string> args;  // after the address
  std::string body;
};

// Shell words of `line`: split at blanks, single quotes kept together.
std::vector<std::string> ShellWords(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool any = false;
  for (char c : line) {
    if (c == '\'') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (any) words.push_back(word);
      word.clear();
      any = false;
    } else {
      word.push_back(c);
      any = true;
    }
  }
  if (any) words.push_back(word);
  return words;
}

// Every grpcurl command in the fenced sh blocks of `file` (relative to the
// source tree), continuation lines joined.
std::vector<GrpcurlCommand> GrpcurlCommandsOf(const std::string& file) {
  std::ifstream in(absl::StrCat(FIXSTREAM_SOURCE_DIR, "/", file));
  EXPECT_TRUE(in.good()) << file;
  std::vector<GrpcurlCommand> commands;
  std::string line;
  bool in_block = false;
  int number = 0;
  std::string pending;
  int pending_line = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!in_block) {
      in_block = line == "```sh";
      continue;
    }
    if (line == "```") {
      in_block = false;
      continue;
    }
    if (pending.empty()) pending_line = number;
    if (absl::EndsWith(line, "\\")) {
      pending += line.substr(0, line.size() - 1);
      continue;
    }
    pending += line;
    std::string command(absl::StripAsciiWhitespace(pending));
    pending.clear();
    if (!absl::StartsWith(command, "grpcurl ")) continue;
    GrpcurlCommand parsed{absl::StrCat(file, ":", pending_line), command, {}, ""};
    std::vector<std::string> words = ShellWords(command);
    bool address_seen = false;
    for (size_t i = 1; i < words.size(); ++i) {
      if (!address_seen && words[i] == "-plaintext") continue;
      if (!address_seen && words[i] == "-d" && i + 1 < words.size()) {
        parsed.body = words[++i];
        continue;
      }
      if (!address_seen) {
        EXPECT_EQ(words[i], "127.0.0.1:50051") << parsed.source << ": " << command;
        address_seen = true;
        continue;
      }
      parsed.args.push_back(words[i]);
    }
    EXPECT_FALSE(parsed.args.empty()) << parsed.source << ": " << command;
    commands.push_back(parsed);
  }
  return commands;
}

TEST(ReflectionTest, EveryGrpcurlCommandOfTheDocsWorks) {
  std::vector<GrpcurlCommand> commands;
  for (const char* file :
       {"README.md", "docs/OPERATIONS.md", "docs/SUBSCRIBING.md", "docs/PROTOCOL.md",
        "docs/HARDENING.md", "docs/JOURNAL.md", "docs/PERFORMANCE.md", "clients/README.md"}) {
    for (GrpcurlCommand& c : GrpcurlCommandsOf(file)) commands.push_back(std::move(c));
  }
  // What an operator needs is all there.
  std::set<std::string> verbs;
  for (const GrpcurlCommand& c : commands) verbs.insert(c.args.front());
  for (const char* needed :
       {"list", "describe", "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch",
        "fixstream.v1.LocationService/Subscribe", "fixstream.v1.LocationService/GetLatestPositions",
        "fixstream.v1.LocationService/ListVehicles"}) {
    EXPECT_TRUE(verbs.contains(needed)) << needed << " is in no grpcurl example";
  }

  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  auto channel = Connect(gateway.grpc_port());
  // A vehicle the examples name, so every call has something to answer.
  SendFix(gateway.device_port(), "van-17");
  for (const GrpcurlCommand& command : commands) {
    SCOPED_TRACE(absl::StrCat(command.source, ": ", command.text));
    ReflectionClient client(channel);
    const std::string& verb = command.args.front();
    if (verb == "list") {
      EXPECT_EQ(std::set<std::string>(client.services().begin(), client.services().end()),
                kServices);
      continue;
    }
    if (verb == "describe") {
      ASSERT_EQ(command.args.size(), 2u);
      const std::string& symbol = command.args[1];
      ASSERT_NE(client.FileContainingSymbol(symbol), nullptr);
      protobuf::SourceLocation comment;
      if (const auto* service = client.pool().FindServiceByName(symbol)) {
        EXPECT_TRUE(service->GetSourceLocation(&comment) && HasComment(comment));
      } else if (const auto* message = client.pool().FindMessageTypeByName(symbol)) {
        EXPECT_TRUE(message->GetSourceLocation(&comment) && HasComment(comment));
      } else {
        ADD_FAILURE() << "describe of neither a service nor a message";
      }
      continue;
    }
    const protobuf::MethodDescriptor* method = ResolveMethod(client, verb);
    ASSERT_NE(method, nullptr);
    std::string expected = "van-17";
    if (method->service()->full_name() == "grpc.health.v1.Health") expected = R"("SERVING")";
    // A subscription from a sequence needs it published (or it is
    // OUT_OF_RANGE); one from now gets what is published after it started.
    if (absl::StrContains(command.body, "start_sequence")) {
      const std::vector<std::string> parts = absl::StrSplit(command.body, '"');
      ASSERT_GE(parts.size(), 4u);
      int start = 0;
      ASSERT_TRUE(absl::SimpleAtoi(parts[3], &start)) << command.body;
      SendFixes(gateway.device_port(), "van-17", start);
      expected = absl::StrCat(R"("sequence":")", start, R"(")");
    }
    Messages messages(client.pool());
    auto response = messages.New(*method->output_type());
    DynamicCall call(channel, *method, *messages.FromJson(*method->input_type(), command.body),
                     std::chrono::seconds(20));
    if (method->name() == "Subscribe" && !absl::StrContains(command.body, "start_")) {
      SendFix(gateway.device_port(), "van-17");
    }
    std::string json;
    EXPECT_TRUE(ReadUntil(call, *response, expected, &json)) << json;
    if (!method->server_streaming()) {
      EXPECT_TRUE(call.Finish().ok());
    }
  }
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0) << gateway.output();
}

}  // namespace
}  // namespace fixstream
