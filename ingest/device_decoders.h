// The protocol decoders behind MakeProtocolDecoder, one factory per protocol
// (each in its own .cc). Internal to the ingest library.
#ifndef FIXSTREAM_INGEST_DEVICE_DECODERS_H_
#define FIXSTREAM_INGEST_DEVICE_DECODERS_H_

#include <memory>

#include "ingest/device_protocol.h"

namespace fixstream::ingest::internal {

std::unique_ptr<ProtocolDecoder> MakeH02Decoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeGps103Decoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeTk103Decoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeWatchDecoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeQueclinkDecoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeMeitrackDecoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeSuntechDecoder(const ProtocolDecoderOptions& options);
std::unique_ptr<ProtocolDecoder> MakeOsmAndDecoder(const ProtocolDecoderOptions& options);

// Junk up to the next `start` byte (all of `buffered` if none), for Scan()s
// whose messages begin with one known byte. Precondition: buffered[0] != start.
FrameScan JunkUntil(std::string_view buffered, char start);

}  // namespace fixstream::ingest::internal

#endif  // FIXSTREAM_INGEST_DEVICE_DECODERS_H_
