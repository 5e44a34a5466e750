// The gRPC listener's security against a real gateway on ephemeral loopback
// ports, with real TLS handshakes (certificates made by the openssl command
// line), real stubs and real tokens files: TLS, mutual TLS, certificate
// rotation under a live stream, bearer tokens on every call, scoped
// subscribers, tokens-file reloads (by polling and by SIGHUP to the real
// binary) and the loopback-only default.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "gateway/api/access_tokens.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_certificates.h"
#include "tests/integration/test_gateway.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

using gateway::Call;
using gateway::TokenDigestHex;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::TempDir;
using testing::TestPki;

constexpr char kAcmeToken[] = "acme-9f8e7d6c5b4a";
constexpr char kOpsToken[] = "ops-0a1b2c3d4e5f";
constexpr char kNoListToken[] = "nolist-77aa88bb";

// The three principals most tests use: acme reads its own vehicles with
// every LocationService call; ops reads everything; nolist may only
// Subscribe, to acme's vehicles.
std::string TokensFile() {
  return absl::StrCat("# principals of the security tests\n", TokenDigestHex(kAcmeToken),
                      " acme calls=Subscribe,GetLatestPositions,ListVehicles vehicles=acme-*\n",
                      TokenDigestHex(kOpsToken), " ops calls=* vehicles=*\n",
                      TokenDigestHex(kNoListToken), " nolist calls=Subscribe vehicles=acme-*\n");
}

void WriteFile(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << text;
  }
  ASSERT_EQ(std::rename(temporary.c_str(), path.c_str()), 0) << path;
}

// A fresh channel (its own connection, hence its own handshake).
std::shared_ptr<grpc::Channel> Channel(uint16_t port,
                                       std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), credentials, args);
}

std::shared_ptr<grpc::Channel> TlsChannel(uint16_t port, const std::string& ca_file,
                                          const std::string& cert_file = "",
                                          const std::string& key_file = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = TestPki::Read(ca_file);
  if (!cert_file.empty()) {
    ssl.pem_cert_chain = TestPki::Read(cert_file);
    ssl.pem_private_key = TestPki::Read(key_file);
  }
  return Channel(port, grpc::SslCredentials(ssl));
}

std::shared_ptr<grpc::Channel> PlainChannel(uint16_t port) {
  return Channel(port, grpc::InsecureChannelCredentials());
}

void Authorize(grpc::ClientContext* context, const std::string& token) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& token = "") {
  grpc::ClientContext context;
  Authorize(&context, token);
  HealthCheckRequest request;
  HealthCheckResponse response;
  return Health::NewStub(channel)->Check(&context, request, &response);
}

class SecurityTest : public ::testing::Test {
 protected:
  SecurityTest() : pki_(dir_.path()) {}

  void SetUp() override {
    pki_.MakeCa("ca");
    pki_.MakeCa("other-ca");
    pki_.MakeLeaf("server", "ca");
    pki_.MakeLeaf("client", "ca");
  }

  GatewayOptions Options() {
    GatewayOptions options;
    options.device.listen = "127.0.0.1:0";
    options.grpc_listen = "127.0.0.1:0";
    options.device.io_threads = 2;
    options.hub.prefault_ring = false;
    options.subscriber_drain_timeout = absl::Seconds(10);
    return options;
  }
  GatewayOptions TlsOptions() {
    GatewayOptions options = Options();
    options.grpc_security.tls_cert_file = pki_.cert("server");
    options.grpc_security.tls_key_file = pki_.key("server");
    return options;
  }
  GatewayOptions TokenOptions() {
    GatewayOptions options = Options();
    tokens_path_ = pki_.path("tokens");
    WriteFile(tokens_path_, TokensFile());
    options.grpc_security.tokens_file = tokens_path_;
    options.grpc_security.tokens_poll_interval = absl::Milliseconds(10);
    return options;
  }

  void Start(GatewayOptions options) {
    gateway_ = std::make_unique<Gateway>(std::move(options));
    absl::Status status = gateway_->Start();
    ASSERT_TRUE(status.ok()) << status;
  }

  // Sends `lines` on one device connection and waits until `total` records
  // were published since the start.
  void Publish(const std::string& lines, uint64_t total) {
    testing::TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send(lines));
    ASSERT_TRUE(
        WaitFor([&] { return gateway_->ingest_counters().records_published.load() >= total; }));
  }

  TempDir dir_{"security"};
  TestPki pki_;
  std::string tokens_path_;
  std::unique_ptr<Gateway> gateway_;
};

// --- TLS

TEST_F(SecurityTest, TlsClientTrustingTheGatewaysCaConnectsAndPlaintextDoesNot) {
  Start(TlsOptions());
  EXPECT_TRUE(HealthCheck(TlsChannel(gateway_->grpc_port(), pki_.cert("ca"))).ok());
  EXPECT_EQ(HealthCheck(PlainChannel(gateway_->grpc_port())).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, ClientRefusesAServerCertificateOfAnotherCa) {
  Start(TlsOptions());
  EXPECT_EQ(HealthCheck(TlsChannel(gateway_->grpc_port(), pki_.cert("other-ca"))).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, ClientRefusesAnExpiredServerCertificate) {
  pki_.MakeLeaf("expired-server", "ca", -1);
  GatewayOptions options = TlsOptions();
  options.grpc_security.tls_cert_file = pki_.cert("expired-server");
  options.grpc_security.tls_key_file = pki_.key("expired-server");
  Start(options);
  EXPECT_EQ(HealthCheck(TlsChannel(gateway_->grpc_port(), pki_.cert("ca"))).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, StartRefusesUnusableTlsFiles) {
  pki_.MakeLeaf("second", "ca");
  struct Case {
    std::string cert, key, client_ca, expected;
  };
  const std::vector<Case> cases = {
      {pki_.cert("server"), pki_.key("second"), "", "does not match the certificate"},
      {pki_.path("missing.pem"), pki_.key("server"), "", "cannot be read"},
      {pki_.key("server"), pki_.key("server"), "", "holds no PEM certificate"},
      {pki_.cert("server"), pki_.cert("server"), "", "holds no PEM private key"},
      {pki_.cert("server"), pki_.key("server"), pki_.key("ca"), "holds no PEM certificate"},
      {pki_.cert("server"), "", "", "go together"},
  };
  for (const Case& c : cases) {
    GatewayOptions options = Options();
    options.grpc_security.tls_cert_file = c.cert;
    options.grpc_security.tls_key_file = c.key;
    options.grpc_security.tls_client_ca_file = c.client_ca;
    Gateway gateway(options);
    absl::Status status = gateway.Start();
    EXPECT_FALSE(status.ok()) << c.expected;
    EXPECT_TRUE(absl::StrContains(status.message(), c.expected)) << status << " vs " << c.expected;
  }
}

// --- Mutual TLS

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutAValidCertificateOfItsCa) {
  pki_.MakeLeaf("stranger", "other-ca");
  pki_.MakeLeaf("expired-client", "ca", -1);
  GatewayOptions options = TlsOptions();
  options.grpc_security.tls_client_ca_file = pki_.cert("ca");
  Start(options);
  const uint16_t port = gateway_->grpc_port();
  EXPECT_TRUE(
      HealthCheck(TlsChannel(port, pki_.cert("ca"), pki_.cert("client"), pki_.key("client"))).ok());
  EXPECT_EQ(HealthCheck(TlsChannel(port, pki_.cert("ca"))).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "no client certificate";
  EXPECT_EQ(
      HealthCheck(TlsChannel(port, pki_.cert("ca"), pki_.cert("stranger"), pki_.key("stranger")))
          .error_code(),
      grpc::StatusCode::UNAVAILABLE)
      << "client certificate of another CA";
  EXPECT_EQ(HealthCheck(TlsChannel(port, pki_.cert("ca"), pki_.cert("expired-client"),
                                   pki_.key("expired-client")))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "expired client certificate";
}

// --- Rotation

TEST_F(SecurityTest, RotatedCertificateServesNewHandshakesWhileALiveStreamStaysUp) {
  pki_.MakeCa("new-ca");
  pki_.MakeLeaf("new-server", "new-ca");
  // The served files are copies, replaced by rename like a deployment would.
  const std::string cert = pki_.path("served.pem");
  const std::string key = pki_.path("served.key");
  WriteFile(cert, TestPki::Read(pki_.cert("server")));
  WriteFile(key, TestPki::Read(pki_.key("server")));
  GatewayOptions options = TlsOptions();
  options.grpc_security.tls_cert_file = cert;
  options.grpc_security.tls_key_file = key;
  options.grpc_security.tls_reload_interval_s = 1;
  Start(options);
  const uint16_t port = gateway_->grpc_port();
  ASSERT_EQ(HealthCheck(TlsChannel(port, pki_.cert("new-ca"))).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  const uint64_t before = gateway_->subscription_counters().started.load();
  Subscriber stream(TlsChannel(port, pki_.cert("ca")), v1::SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().started.load() > before; }));
  Publish(testing::CsvLine("van-1", kStartMs, 1, 2, 0), 1);
  ASSERT_TRUE(stream.WaitForCount(1));

  // The key first, then its certificate: gRPC's watcher skips a pair that
  // does not match and reads again at its next period.
  WriteFile(key, TestPki::Read(pki_.key("new-server")));
  WriteFile(cert, TestPki::Read(pki_.cert("new-server")));
  EXPECT_TRUE(WaitFor(
      [&] {
        if (HealthCheck(TlsChannel(port, pki_.cert("new-ca"))).ok()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a handshake per try
        return false;
      },
      std::chrono::seconds(30)))
      << "new handshakes never got the new certificate";
  EXPECT_EQ(HealthCheck(TlsChannel(port, pki_.cert("ca"))).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a new handshake still got the old certificate";

  // The stream opened before the rotation is still up and still delivers.
  Publish(testing::CsvLine("van-1", kStartMs + 1000, 1, 2, 0), 2);
  ASSERT_TRUE(stream.WaitForCount(2));
  EXPECT_EQ(stream.records()[1].sequence(), 2u);
  EXPECT_EQ(stream.responses(), 2u);
}

// --- Tokens on every call

// One call of every kind, made with `token`; returns its status.
struct CallCase {
  const char* name;
  std::function<grpc::Status(const std::shared_ptr<grpc::Channel>&, const std::string&)> call;
};

// Subscribes from the oldest record (the tests publish some first): OK once
// a response arrived, else the status the call ended with.
grpc::Status SubscribeFirst(const std::shared_ptr<grpc::Channel>& channel, const std::string& token,
                            v1::SubscribeRequest request) {
  request.set_start_oldest(true);
  grpc::ClientContext context;
  Authorize(&context, token);
  auto reader = v1::LocationService::NewStub(channel)->Subscribe(&context, request);
  v1::SubscribeResponse response;
  if (!reader->Read(&response)) return reader->Finish();
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
  return grpc::Status::OK;
}

std::vector<CallCase> EveryCall() {
  return {
      {"Subscribe",
       [](const auto& channel, const std::string& token) {
         return SubscribeFirst(channel, token, v1::SubscribeRequest());
       }},
      {"Subscribe vehicle_ids=[other-1]",
       [](const auto& channel, const std::string& token) {
         v1::SubscribeRequest request;
         request.add_vehicle_ids("acme-1");
         request.add_vehicle_ids("other-1");
         return SubscribeFirst(channel, token, request);
       }},
      {"GetLatestPositions",
       [](const auto& channel, const std::string& token) {
         grpc::ClientContext context;
         Authorize(&context, token);
         v1::GetLatestPositionsRequest request;
         v1::GetLatestPositionsResponse response;
         return v1::LocationService::NewStub(channel)->GetLatestPositions(&context, request,
                                                                          &response);
       }},
      {"GetLatestPositions vehicle_ids=[other-1]",
       [](const auto& channel, const std::string& token) {
         grpc::ClientContext context;
         Authorize(&context, token);
         v1::GetLatestPositionsRequest request;
         request.add_vehicle_ids("other-1");
         v1::GetLatestPositionsResponse response;
         return v1::LocationService::NewStub(channel)->GetLatestPositions(&context, request,
                                                                          &response);
       }},
      {"ListVehicles",
       [](const auto& channel, const std::string& token) {
         grpc::ClientContext context;
         Authorize(&context, token);
         v1::ListVehiclesRequest request;
         v1::ListVehiclesResponse response;
         return v1::LocationService::NewStub(channel)->ListVehicles(&context, request, &response);
       }},
      {"Health.Check",
       [](const auto& channel, const std::string& token) { return HealthCheck(channel, token); }},
      {"Health.Watch",
       [](const auto& channel, const std::string& token) {
         grpc::ClientContext context;
         Authorize(&context, token);
         HealthCheckRequest request;
         auto reader = Health::NewStub(channel)->Watch(&context, request);
         HealthCheckResponse response;
         if (reader->Read(&response)) {
           context.TryCancel();
           while (reader->Read(&response)) {
           }
           reader->Finish();
           return grpc::Status::OK;
         }
         return reader->Finish();
       }},
      {"ServerReflectionInfo",
       [](const auto& channel, const std::string& token) {
         grpc::ClientContext context;
         Authorize(&context, token);
         auto stream =
             grpc::reflection::v1::ServerReflection::NewStub(channel)->ServerReflectionInfo(
                 &context);
         grpc::reflection::v1::ServerReflectionRequest request;
         request.set_list_services("");
         stream->Write(request);
         stream->WritesDone();
         grpc::reflection::v1::ServerReflectionResponse response;
         while (stream->Read(&response)) {
         }
         return stream->Finish();
       }},
  };
}

TEST_F(SecurityTest, EveryCallChecksItsTokenItsCallsAndItsVehicles) {
  Start(TokenOptions());
  Publish(testing::CsvLine("acme-1", kStartMs, 1, 2, 0) +
              testing::CsvLine("other-1", kStartMs, 1, 2, 0),
          2);
  const auto channel = PlainChannel(gateway_->grpc_port());
  using Code = grpc::StatusCode;
  struct Expected {
    const char* token;
    // Per call, in EveryCall() order.
    std::vector<Code> codes;
    std::vector<std::string> messages;
  };
  const std::vector<Expected> table = {
      // No token: health and reflection are public by default.
      {"",
       {Code::UNAUTHENTICATED, Code::UNAUTHENTICATED, Code::UNAUTHENTICATED, Code::UNAUTHENTICATED,
        Code::UNAUTHENTICATED, Code::OK, Code::OK, Code::OK},
       {"needs a bearer token"}},
      {"not-a-token",
       {Code::UNAUTHENTICATED, Code::UNAUTHENTICATED, Code::UNAUTHENTICATED, Code::UNAUTHENTICATED,
        Code::UNAUTHENTICATED, Code::OK, Code::OK, Code::OK},
       {"not known"}},
      // A token's hash is not the token.
      {"", {}, {}},
      {kAcmeToken,
       {Code::OK, Code::PERMISSION_DENIED, Code::OK, Code::PERMISSION_DENIED, Code::OK, Code::OK,
        Code::OK, Code::OK},
       {"vehicle_ids[1] is not a vehicle principal 'acme' may read",
        "vehicle_ids[0] is not a vehicle principal 'acme' may read"}},
      {kNoListToken,
       {Code::OK, Code::PERMISSION_DENIED, Code::PERMISSION_DENIED, Code::PERMISSION_DENIED,
        Code::PERMISSION_DENIED, Code::OK, Code::OK, Code::OK},
       {"vehicle_ids[1] is not a vehicle", "principal 'nolist' may not call GetLatestPositions",
        "principal 'nolist' may not call GetLatestPositions",
        "principal 'nolist' may not call ListVehicles"}},
      {kOpsToken,
       {Code::OK, Code::OK, Code::OK, Code::OK, Code::OK, Code::OK, Code::OK, Code::OK},
       {}},
  };
  const std::vector<CallCase> calls = EveryCall();
  for (const Expected& e : table) {
    if (e.codes.empty()) {
      // The hash of a valid token, sent as if it were one.
      for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(calls[i].call(channel, TokenDigestHex(kOpsToken)).error_code(),
                  Code::UNAUTHENTICATED)
            << calls[i].name;
      }
      continue;
    }
    size_t message = 0;
    for (size_t i = 0; i < calls.size(); ++i) {
      const grpc::Status status = calls[i].call(channel, e.token);
      EXPECT_EQ(status.error_code(), e.codes[i])
          << calls[i].name << " with token '" << e.token << "': " << status.error_message();
      if (status.ok() || e.messages.empty()) continue;
      const std::string& expected = e.messages[std::min(message, e.messages.size() - 1)];
      EXPECT_TRUE(absl::StrContains(status.error_message(), expected))
          << calls[i].name << ": " << status.error_message() << " vs " << expected;
      if (e.messages.size() > 1) ++message;
    }
  }
  EXPECT_GT(gateway_->subscription_counters().rejected_unauthorized.load(), 0u);
}

TEST_F(SecurityTest, HealthAndReflectionNeedATokenWhenNotPublic) {
  GatewayOptions options = TokenOptions();
  options.grpc_security.public_calls = 0;
  Start(options);
  Publish(testing::CsvLine("acme-1", kStartMs, 1, 2, 0), 1);
  const auto channel = PlainChannel(gateway_->grpc_port());
  const std::vector<CallCase> calls = EveryCall();
  for (size_t i = 5; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].call(channel, "").error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << calls[i].name;
    // acme may not call Health or Reflection; ops may.
    const grpc::Status denied = calls[i].call(channel, kAcmeToken);
    EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << calls[i].name;
    EXPECT_TRUE(absl::StrContains(denied.error_message(), "may not call"))
        << denied.error_message();
    EXPECT_TRUE(calls[i].call(channel, kOpsToken).ok()) << calls[i].name;
  }
}

TEST_F(SecurityTest, TlsAndTokensTogether) {
  GatewayOptions options = TokenOptions();
  options.grpc_security.tls_cert_file = pki_.cert("server");
  options.grpc_security.tls_key_file = pki_.key("server");
  Start(options);
  Publish(testing::CsvLine("acme-1", kStartMs, 1, 2, 0), 1);
  const auto channel = TlsChannel(gateway_->grpc_port(), pki_.cert("ca"));
  const std::vector<CallCase> calls = EveryCall();
  EXPECT_TRUE(calls[0].call(channel, kAcmeToken).ok());
  EXPECT_EQ(calls[0].call(channel, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(calls[1].call(channel, kAcmeToken).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// --- Scopes

// Lines of a mixed fleet: `n` records round-robin over acme-1, other-1,
// acme-2, other-2, fix times one second apart per line.
std::string MixedLines(int first, int n) {
  static const char* kIds[] = {"acme-1", "other-1", "acme-2", "other-2"};
  std::string lines;
  for (int i = first; i < first + n; ++i) {
    lines += testing::CsvLine(kIds[i % 4], kStartMs + i * 1000LL, 1 + i % 4, 2, 0);
  }
  return lines;
}

// The (sequence, vehicle) pairs of `records` whose vehicle starts with
// `prefix` (all of them for "").
std::vector<std::pair<uint64_t, std::string>> Pairs(const std::vector<v1::LocationRecord>& records,
                                                    const std::string& prefix = "") {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (const v1::LocationRecord& r : records) {
    if (absl::StartsWith(r.vehicle_id(), prefix)) out.emplace_back(r.sequence(), r.vehicle_id());
  }
  return out;
}

TEST_F(SecurityTest, ScopedSubscriberReceivesExactlyItsTenantsRecordsLiveResumedAndFromTheJournal) {
  GatewayOptions options = TokenOptions();
  options.journal.directory = dir_.path() + "/journal";
  // A small ring: the start of the run is only in the journal by the end.
  options.hub.max_records = 64;
  Start(options);
  const uint16_t port = gateway_->grpc_port();
  constexpr int kRecords = 400;
  constexpr size_t kAcme = kRecords / 2;

  uint64_t started = gateway_->subscription_counters().started.load();
  Subscriber all(PlainChannel(port), v1::SubscribeRequest(), kOpsToken);
  Subscriber acme(PlainChannel(port), v1::SubscribeRequest(), kAcmeToken);
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->subscription_counters().started.load() >= started + 2; }));
  // In steps the live streams keep up with (the ring holds 64).
  for (int i = 0; i < kRecords; i += 20) {
    Publish(MixedLines(i, 20), i + 20);
    ASSERT_TRUE(all.WaitForCount(i + 20));
    ASSERT_TRUE(acme.WaitForCount((i + 20) / 2));
  }
  EXPECT_TRUE(all.gaps().empty());
  EXPECT_TRUE(acme.gaps().empty());
  const std::vector<v1::LocationRecord> everything = all.records();
  ASSERT_EQ(everything.size(), static_cast<size_t>(kRecords));
  // Live: exactly the acme records, in order, nothing else.
  EXPECT_EQ(Pairs(acme.records()), Pairs(everything, "acme-"));
  EXPECT_EQ(acme.records().size(), kAcme);

  auto resumed = [&](v1::SubscribeRequest request, size_t expected_count) {
    const uint64_t before = gateway_->subscription_counters().started.load();
    Subscriber s(PlainChannel(port), request, kAcmeToken);
    EXPECT_TRUE(WaitFor([&] { return gateway_->subscription_counters().started.load() > before; }));
    EXPECT_TRUE(s.WaitForCount(expected_count));
    // Nothing beyond: one more acme record arrives next, not an old other.
    return s.records();
  };
  // Resumed within the ring.
  v1::SubscribeRequest from_middle;
  from_middle.set_start_sequence(kRecords - 40 + 1);
  std::vector<std::pair<uint64_t, std::string>> expected;
  for (const auto& p : Pairs(everything, "acme-")) {
    if (p.first >= kRecords - 40 + 1) expected.push_back(p);
  }
  EXPECT_EQ(Pairs(resumed(from_middle, expected.size())), expected);

  // From the journal: sequence 1 left the 64-record ring long ago.
  const uint64_t from_journal = gateway_->subscription_counters().records_from_journal.load();
  v1::SubscribeRequest from_start;
  from_start.set_start_sequence(1);
  EXPECT_EQ(Pairs(resumed(from_start, kAcme)), Pairs(everything, "acme-"));
  EXPECT_GT(gateway_->subscription_counters().records_from_journal.load(), from_journal);

  // With a filter of its own inside the scope.
  v1::SubscribeRequest own_filter;
  own_filter.set_start_sequence(1);
  own_filter.add_vehicle_ids("acme-2");
  EXPECT_EQ(Pairs(resumed(own_filter, kAcme / 2)), Pairs(everything, "acme-2"));

  // A bounding box only: the scope still applies (other-* share the box).
  v1::SubscribeRequest box;
  box.set_start_sequence(1);
  box.mutable_bounding_box()->set_min_latitude(-90);
  box.mutable_bounding_box()->set_max_latitude(90);
  box.mutable_bounding_box()->set_min_longitude(-180);
  box.mutable_bounding_box()->set_max_longitude(180);
  EXPECT_EQ(Pairs(resumed(box, kAcme)), Pairs(everything, "acme-"));

  // And the live stream after all of that got nothing of other-*: one more
  // acme record is its next.
  Publish(testing::CsvLine("other-1", kStartMs + 900'000, 1, 2, 0) +
              testing::CsvLine("acme-1", kStartMs + 900'000, 1, 2, 0),
          kRecords + 2);
  ASSERT_TRUE(acme.WaitForCount(kAcme + 1));
  ASSERT_TRUE(all.WaitForCount(kRecords + 2));
  EXPECT_EQ(acme.records().back().vehicle_id(), "acme-1");
  EXPECT_EQ(acme.records().back().sequence(), kRecords + 2u);
  EXPECT_EQ(Pairs(acme.records()), Pairs(all.records(), "acme-"));
}

TEST_F(SecurityTest, ScopedVehicleQueriesSeeOnlyTheirVehicles) {
  Start(TokenOptions());
  Publish(MixedLines(0, 8) + testing::CsvLine("zeta", kStartMs, 1, 2, 0), 9);
  const auto stub = v1::LocationService::NewStub(PlainChannel(gateway_->grpc_port()));

  // ListVehicles, page by page: acme-1, acme-2, and no hint of more.
  std::vector<std::string> listed;
  std::string token;
  for (int page = 0; page < 5; ++page) {
    grpc::ClientContext context;
    Authorize(&context, kAcmeToken);
    v1::ListVehiclesRequest request;
    request.set_page_size(1);
    request.set_page_token(token);
    v1::ListVehiclesResponse response;
    ASSERT_TRUE(stub->ListVehicles(&context, request, &response).ok());
    for (const auto& v : response.vehicles()) listed.push_back(v.vehicle_id());
    token = response.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_EQ(listed, (std::vector<std::string>{"acme-1", "acme-2"}));
  {
    // A page token naming another tenant's id leaks nothing either.
    grpc::ClientContext context;
    Authorize(&context, kAcmeToken);
    v1::ListVehiclesRequest request;
    request.set_page_token("other-1");
    v1::ListVehiclesResponse response;
    ASSERT_TRUE(stub->ListVehicles(&context, request, &response).ok());
    EXPECT_EQ(response.vehicles_size(), 0);
    EXPECT_TRUE(response.next_page_token().empty());
  }
  // GetLatestPositions without ids: acme's only.
  std::vector<std::string> latest;
  token.clear();
  for (int page = 0; page < 5; ++page) {
    grpc::ClientContext context;
    Authorize(&context, kAcmeToken);
    v1::GetLatestPositionsRequest request;
    request.set_page_size(1);
    request.set_page_token(token);
    v1::GetLatestPositionsResponse response;
    ASSERT_TRUE(stub->GetLatestPositions(&context, request, &response).ok());
    for (const auto& r : response.records()) latest.push_back(r.vehicle_id());
    token = response.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_EQ(latest, (std::vector<std::string>{"acme-1", "acme-2"}));
  // An unknown id in scope is unknown; one out of scope is refused the same
  // whether it exists (other-1) or not (other-404).
  for (const char* id : {"other-1", "other-404"}) {
    grpc::ClientContext context;
    Authorize(&context, kAcmeToken);
    v1::GetLatestPositionsRequest request;
    request.add_vehicle_ids(id);
    v1::GetLatestPositionsResponse response;
    const grpc::Status status = stub->GetLatestPositions(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << id;
    EXPECT_EQ(status.error_message(),
              "vehicle_ids[0] is not a vehicle principal 'acme' may read (its vehicles: acme-*)");
  }
  {
    grpc::ClientContext context;
    Authorize(&context, kAcmeToken);
    v1::GetLatestPositionsRequest request;
    request.add_vehicle_ids("acme-2");
    request.add_vehicle_ids("acme-404");
    v1::GetLatestPositionsResponse response;
    ASSERT_TRUE(stub->GetLatestPositions(&context, request, &response).ok());
    ASSERT_EQ(response.records_size(), 1);
    EXPECT_EQ(response.records(0).vehicle_id(), "acme-2");
    ASSERT_EQ(response.unknown_vehicle_ids_size(), 1);
    EXPECT_EQ(response.unknown_vehicle_ids(0), "acme-404");
  }
  {
    // ops sees every vehicle.
    grpc::ClientContext context;
    Authorize(&context, kOpsToken);
    v1::ListVehiclesRequest request;
    v1::ListVehiclesResponse response;
    ASSERT_TRUE(stub->ListVehicles(&context, request, &response).ok());
    EXPECT_EQ(response.vehicles_size(), 5);
  }
}

// --- Reloads

TEST_F(SecurityTest, ChangedTokensFileIsPutInForceAndABrokenOneIsNot) {
  Start(TokenOptions());
  const auto channel = PlainChannel(gateway_->grpc_port());
  const CallCase list = EveryCall()[4];
  ASSERT_TRUE(list.call(channel, kAcmeToken).ok());
  constexpr char kNewToken[] = "rotated-5566";
  WriteFile(tokens_path_,
            absl::StrCat(TokenDigestHex(kNewToken), " acme calls=* vehicles=acme-*\n"));
  EXPECT_TRUE(WaitFor([&] { return list.call(channel, kNewToken).ok(); }));
  EXPECT_EQ(list.call(channel, kAcmeToken).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(gateway_->token_principals(), 1u);

  // A broken file leaves the tokens in force. (Wait until it was seen: the
  // reload of a good file written after it is the marker.)
  WriteFile(tokens_path_, "this is not a tokens file\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(list.call(channel, kNewToken).ok());
  WriteFile(tokens_path_, TokensFile());
  EXPECT_TRUE(WaitFor([&] { return gateway_->token_principals() == 3; }));
  EXPECT_TRUE(list.call(channel, kAcmeToken).ok());
  EXPECT_EQ(list.call(channel, kNewToken).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SecurityTest, ReloadEndsTheLiveStreamsOfRemovedOrChangedGrantsOnly) {
  Start(TokenOptions());
  const uint16_t port = gateway_->grpc_port();
  const uint64_t before = gateway_->subscription_counters().started.load();
  Subscriber acme(PlainChannel(port), v1::SubscribeRequest(), kAcmeToken);
  Subscriber nolist(PlainChannel(port), v1::SubscribeRequest(), kNoListToken);
  Subscriber ops(PlainChannel(port), v1::SubscribeRequest(), kOpsToken);
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->subscription_counters().started.load() >= before + 3; }));
  Publish(testing::CsvLine("acme-1", kStartMs, 1, 2, 0), 1);
  ASSERT_TRUE(acme.WaitForCount(1));
  ASSERT_TRUE(nolist.WaitForCount(1));
  ASSERT_TRUE(ops.WaitForCount(1));

  // acme's token is gone, nolist's now reads other vehicles, ops's is as
  // it was: the idle streams are woken and decide at once.
  WriteFile(tokens_path_, absl::StrCat(TokenDigestHex(kOpsToken), " ops calls=* vehicles=*\n",
                                       TokenDigestHex(kNoListToken),
                                       " nolist calls=Subscribe vehicles=other-*\n"));
  ASSERT_TRUE(acme.WaitForEnd());
  EXPECT_EQ(acme.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(acme.status().error_message(), "was removed"))
      << acme.status().error_message();
  ASSERT_TRUE(nolist.WaitForEnd());
  EXPECT_EQ(nolist.status().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(gateway_->subscription_counters().ended_revoked.load(), 2u);

  Publish(testing::CsvLine("acme-1", kStartMs + 1000, 1, 2, 0), 2);
  ASSERT_TRUE(ops.WaitForCount(2));
  EXPECT_EQ(acme.count(), 1u);
}

// The real binary: SIGHUP reloads the tokens file (polling off here, so
// nothing else could), and neither a token nor its hash is ever logged.
TEST_F(SecurityTest, SighupReloadsTheTokensFileOfTheRealGateway) {
  tokens_path_ = pki_.path("tokens");
  WriteFile(tokens_path_, TokensFile());
  GatewayProcess gateway({"--grpc_tokens_file=" + tokens_path_, "--grpc_tokens_poll_ms=0"});
  ASSERT_NE(gateway.grpc_port(), 0);
  const auto channel = PlainChannel(gateway.grpc_port());
  const CallCase list = EveryCall()[4];
  ASSERT_TRUE(list.call(channel, kAcmeToken).ok());
  constexpr char kNewToken[] = "after-sighup-1234";
  WriteFile(tokens_path_, absl::StrCat(TokenDigestHex(kNewToken), " acme calls=* vehicles=*\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(list.call(channel, kNewToken).error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << "reloaded without SIGHUP although polling is off";
  ASSERT_EQ(::kill(gateway.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return list.call(channel, kNewToken).ok(); }));
  EXPECT_EQ(list.call(channel, kAcmeToken).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A broken file on SIGHUP: logged by line number, the old tokens stay.
  WriteFile(tokens_path_, absl::StrCat("# header\n", kNewToken, " leaked calls=* vehicles=*\n"));
  ASSERT_EQ(::kill(gateway.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] {
    gateway.Poll();
    return absl::StrContains(gateway.output(), "tokens file not reloaded");
  }));
  EXPECT_TRUE(list.call(channel, kNewToken).ok());
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
  const std::string& log = gateway.output();
  EXPECT_TRUE(absl::StrContains(log, "reloaded: 1 principals")) << log;
  EXPECT_TRUE(absl::StrContains(log, tokens_path_ + ":2: the first field")) << log;
  for (const std::string& secret : {std::string(kAcmeToken), std::string(kNewToken),
                                    TokenDigestHex(kAcmeToken), TokenDigestHex(kNewToken)}) {
    EXPECT_FALSE(absl::StrContains(log, secret)) << "logged: " << secret;
  }
}

// --- Plaintext exposure

TEST_F(SecurityTest, PlaintextGrpcIsRefusedBeyondLoopbackUnlessAllowed) {
  GatewayOptions options = Options();
  options.grpc_listen = "0.0.0.0:0";
  {
    Gateway gateway(options);
    absl::Status status = gateway.Start();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(status.message(), "--grpc_allow_plaintext_remote")) << status;
  }
  options.grpc_security.allow_plaintext_remote = true;
  {
    Gateway gateway(options);
    EXPECT_TRUE(gateway.Start().ok());
  }
  // With TLS, any address.
  GatewayOptions tls = TlsOptions();
  tls.grpc_listen = "0.0.0.0:0";
  Gateway gateway(tls);
  EXPECT_TRUE(gateway.Start().ok());
}

TEST_F(SecurityTest, TheRealGatewaySaysWhatProtectsItsGrpcListener) {
  {
    // The default: loopback, said so.
    GatewayProcess gateway;
    ASSERT_NE(gateway.grpc_port(), 0);
    EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
    EXPECT_TRUE(absl::StrContains(gateway.output(),
                                  "INFO gRPC security on 127.0.0.1:0: plaintext "
                                  "on loopback only"))
        << gateway.output();
  }
  {
    ChildProcess refused({FIXSTREAM_GATEWAY_BINARY, "--device_listen=127.0.0.1:0",
                          "--grpc_listen=0.0.0.0:0", "--metrics_listen=", "--journal_dir="});
    EXPECT_EQ(refused.Wait(), 2);
    EXPECT_TRUE(absl::StrContains(refused.output(),
                                  "would serve every vehicle's position in "
                                  "plaintext"))
        << refused.output();
  }
  {
    GatewayProcess gateway({"--grpc_listen=0.0.0.0:0", "--grpc_allow_plaintext_remote"});
    ASSERT_NE(gateway.grpc_port(), 0);
    EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
    EXPECT_TRUE(
        absl::StrContains(gateway.output(), "WARNING gRPC security on 0.0.0.0:0: PLAINTEXT"))
        << gateway.output();
  }
}

}  // namespace
}  // namespace fixstream
