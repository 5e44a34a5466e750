// A fixture for tests of the device registry (--devices_file) against an
// in-process gateway: the file in a temporary directory (written aside and
// renamed over, as an operator should), CSV lines with increasing fix times,
// and the vehicle ids a subscriber received.
#ifndef FIXSTREAM_TESTS_INTEGRATION_DEVICES_FILE_TEST_H_
#define FIXSTREAM_TESTS_INTEGRATION_DEVICES_FILE_TEST_H_

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/integration/test_gateway.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {

class DevicesFileTest : public GatewayTest {
 protected:
  void SetUp() override {}
  void TearDown() override { gateway_.reset(); }

  // Starts the gateway with the devices file under `policy`, polled often.
  void StartWithDevices(gateway::DevicePolicy policy, GatewayOptions options = {}) {
    options.device.devices_file = path_;
    options.device.device_policy = policy;
    options.device.source_map_poll_interval = absl::Milliseconds(10);
    StartGateway(options);
  }
  void Write(const std::string& text) {
    std::ofstream(path_ + ".new") << text;
    std::filesystem::rename(path_ + ".new", path_);
  }
  static std::vector<std::string> Vehicles(Subscriber& subscriber) {
    std::vector<std::string> ids;
    for (const v1::LocationRecord& r : subscriber.records()) ids.push_back(r.vehicle_id());
    return ids;
  }
  std::string Csv(const std::string& vehicle) {
    return testing::CsvLine(vehicle, kStartMs + 1000 * next_++, 52.5, 13.4, 0);
  }

  testing::TempDir dir_{"devices_file"};
  const std::string path_ = dir_.path() + "/devices";
  int next_ = 0;
};

}  // namespace fixstream

#endif  // FIXSTREAM_TESTS_INTEGRATION_DEVICES_FILE_TEST_H_
