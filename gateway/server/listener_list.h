// The device listeners as the configuration writes them: the --listeners
// flag (entries separated by `;`) and the config file's repeatable
// `listener = ENTRY` lines (docs/OPERATIONS.md, "Device listeners").
//
//   ENTRY  = ADDRESS *( WHITESPACE OPTION )
//   OPTION = format=(auto|csv|nmea|json)                     default auto
//          | ident=(pfsid|source_address:FILE|first_line)    default pfsid
//          | ack=(off|on)                                    default off
//          | tls=(off|on)                                    default off (TLS: --device_tls_cert)
//          | policy=(open|registered|authenticated)          default --device_policy
//
// e.g. `0.0.0.0:7878 format=nmea ident=source_address:/etc/fixstream/vehicles.map ack=on`.
// ADDRESS is HOST:PORT or [IPv6]:PORT (port 0 picks a free port); each option
// at most once; FILE cannot contain whitespace or `;`.
//
// Thread-safe (pure functions).
#ifndef FIXSTREAM_GATEWAY_SERVER_LISTENER_LIST_H_
#define FIXSTREAM_GATEWAY_SERVER_LISTENER_LIST_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/device/device_server.h"

namespace fixstream::gateway {

// Parses one entry. InvalidArgument says which part is wrong and why.
absl::StatusOr<ListenerOptions> ParseListener(std::string_view entry);

// Parses `;`-separated entries (empty ones, e.g. after a final `;`, are
// skipped). Errors name the entry by position and text. Two entries with the
// same host and non-zero port are an error.
absl::StatusOr<std::vector<ListenerOptions>> ParseListenerList(std::string_view text);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_SERVER_LISTENER_LIST_H_
