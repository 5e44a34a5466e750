// SubscriptionCounters: what happened on the subscription side, readable by
// tests and metrics without gRPC's headers.
#ifndef FIXSTREAM_GATEWAY_API_SUBSCRIPTION_COUNTERS_H_
#define FIXSTREAM_GATEWAY_API_SUBSCRIPTION_COUNTERS_H_

#include <atomic>
#include <cstdint>

#include "gateway/common/latency_histogram.h"

namespace fixstream::gateway {

// Counters of the subscription side, readable by tests and metrics.
struct SubscriptionCounters {
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> rejected_invalid{0};       // INVALID_ARGUMENT
  std::atomic<uint64_t> rejected_out_of_range{0};  // start_sequence not retained / not assigned
  std::atomic<uint64_t> rejected_too_many{0};      // RESOURCE_EXHAUSTED: max_subscribers
  // UNAUTHENTICATED or PERMISSION_DENIED (Authorizer; vehicles out of scope)
  std::atomic<uint64_t> rejected_unauthorized{0};
  std::atomic<uint64_t> gaps_sent{0};          // Gap notices (policy kGap)
  std::atomic<uint64_t> sequences_skipped{0};  // sequence numbers covered by gaps
  std::atomic<uint64_t> ended_ok{0};           // drained to the end (gateway shutdown)
  std::atomic<uint64_t> ended_cancelled{0};    // client cancelled or went away
  std::atomic<uint64_t> ended_fell_behind{0};  // RESOURCE_EXHAUSTED: fell off retention
  std::atomic<uint64_t> ended_revoked{0};      // its token was removed or its grant changed
  std::atomic<uint64_t> records_delivered{0};
  std::atomic<uint64_t> bytes_delivered{0};
  std::atomic<uint64_t> responses_delivered{0};
  std::atomic<uint64_t> records_from_journal{0};  // catch-up reads older than the ring
  // From a record's publication to the completion of the write that carried
  // it to a subscriber; observed once per response, for its oldest record,
  // with the response's record count.
  LatencyHistogram publish_to_delivery;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_API_SUBSCRIPTION_COUNTERS_H_
