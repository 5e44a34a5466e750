// Line builders for tests: an oracle written independently of ingest/, so the
// integration tests check the parsers instead of agreeing with them.
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_LINES_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_LINES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace fixstream::testing {

// RFC 3339 UTC with milliseconds, e.g. 2026-11-24T10:15:30.256Z.
std::string Rfc3339Millis(int64_t unix_ms);

std::string CsvLine(std::string_view vehicle, int64_t unix_ms, double lat, double lon,
                    double speed_mps);
std::string JsonLine(std::string_view vehicle, int64_t unix_ms, double lat, double lon,
                     double speed_mps);
// "$<body>*hh\r\n" with the correct XOR checksum.
std::string WithNmeaChecksum(std::string_view body);
std::string NmeaIdentify(std::string_view vehicle);
std::string NmeaRmc(int64_t unix_ms, double lat, double lon, double speed_knots);
std::string NmeaGga(int64_t unix_ms, double lat, double lon, double altitude_m, int satellites);

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_LINES_H_
