// SPDX-License-Identifier: MIT
//
// pcap files through libpcap: writing frames so that Wireshark/tshark open them, and replaying
// a capture as the simulator's traffic source. Errors throw xmaps::sim::PcapError with the
// file name and libpcap's reason (missing file, not a pcap, truncated record, link type that is
// not Ethernet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "xmaps/sim/generator.h"

namespace xmaps::sim {

class PcapError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PcapWriter {
 public:
  // Creates (truncates) `path`, link type Ethernet, nanosecond timestamps.
  explicit PcapWriter(const std::string& path, std::uint32_t snaplen = 65535);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  // Appends one frame (captured length min(len, snaplen)), timestamp in ns since the epoch.
  void write(const unsigned char* data, std::uint32_t len, std::uint64_t ts_ns);
  // Flushes and closes; throws if the data could not be written. Idempotent.
  void close();
  [[nodiscard]] std::uint64_t written() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct PcapPacket {
  std::vector<unsigned char> data;  // captured bytes
  std::uint32_t orig_len = 0;       // length on the wire
  std::uint64_t ts_ns = 0;
};

// Reads a whole capture into memory (at most max_packets; throws PcapError beyond that).
[[nodiscard]] std::vector<PcapPacket> read_pcap(const std::string& path,
                                                std::size_t max_packets = 10'000'000);

// A capture as a FrameSource: copies packet after packet into frames, from the start again at
// the end when `loop` is true (otherwise fill() returns fewer once exhausted). Packets whose
// captured length is less than their wire length (snapped) are replayed as captured and counted
// in truncated(). Throws PcapError for an empty capture.
class PcapReplay final : public FrameSource {
 public:
  PcapReplay(std::vector<PcapPacket> packets, bool loop);
  std::size_t fill(Frame* const* frames, std::size_t n) override;
  [[nodiscard]] std::uint64_t generated() const noexcept override { return generated_; }
  [[nodiscard]] std::uint64_t oversize() const noexcept override { return oversize_; }
  [[nodiscard]] std::uint64_t truncated() const noexcept { return truncated_; }
  [[nodiscard]] std::size_t size() const noexcept { return packets_.size(); }

 private:
  std::vector<PcapPacket> packets_;
  bool loop_;
  std::size_t next_ = 0;
  std::uint64_t generated_ = 0;
  std::uint64_t oversize_ = 0;
  std::uint64_t truncated_ = 0;
};

}  // namespace xmaps::sim
