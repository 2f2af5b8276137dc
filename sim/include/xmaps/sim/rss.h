// SPDX-License-Identifier: MIT
//
// Receive-side scaling as a NIC does it: a Toeplitz hash over the packet's addresses (and,
// per protocol, its ports) with a 40-byte key, and a 128-entry indirection table (RETA) that
// maps hash & 127 to an RX queue.
//
//   xmaps::sim::Rss rss(xmaps::sim::RssConfig{.queues = 4});   // Microsoft key, round-robin
//   std::uint32_t h = rss.hash(tuple);
//   std::uint32_t q = rss.queue_of_hash(h);
//
// Hash fields per protocol follow NIC defaults: TCP over the 4-tuple, UDP over the 2-tuple
// (IP addresses only; set udp_4tuple for ports too, ethtool's `rx-flow-hash udp4 sdfn`), other
// protocols over the 2-tuple. IPv4 and IPv6 input is src ip, dst ip, src port, dst port in
// network byte order (12 or 36 bytes).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "xmaps/sim/flow_tuple.h"

namespace xmaps::sim {

inline constexpr std::size_t kRssKeySize = 40;
inline constexpr std::size_t kRetaSize = 128;

// The standard key (Microsoft RSS verification suite; also Intel's and DPDK's default).
inline constexpr std::array<std::uint8_t, kRssKeySize> kMicrosoftRssKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

// Bit-by-bit Toeplitz hash of `input` under `key` (the reference definition; key must be at
// least input.size() + 4 bytes, otherwise the missing key bits are taken as 0).
[[nodiscard]] std::uint32_t toeplitz_reference(std::span<const std::uint8_t> key,
                                               std::span<const std::uint8_t> input) noexcept;

// RETA fillers: queue i % queues for entry i (round-robin over `queues`, the NIC's default),
// and `equal N` as ethtool -X: entry i is queue i % n, spread over the first n queues (so
// reta_round_robin(q) == reta_equal(q)). Both throw std::invalid_argument for 0 or > 128.
[[nodiscard]] std::array<std::uint32_t, kRetaSize> reta_round_robin(std::uint32_t queues);
[[nodiscard]] std::array<std::uint32_t, kRetaSize> reta_equal(std::uint32_t n);

struct RssConfig {
  std::uint32_t queues = 1;  // 1 .. 128
  std::array<std::uint8_t, kRssKeySize> key = kMicrosoftRssKey;
  // Empty: round-robin over `queues`. Otherwise exactly 128 entries, each < queues.
  std::vector<std::uint32_t> reta{};  // {}: designated initializers may omit it (-Wextra)
  bool udp_4tuple = false;            // hash UDP's ports too
  bool tcp_4tuple = true;             // hash TCP's ports (NIC default)
};

// Parses a key written as 40 hex bytes, with or without ':' or ' ' between them; throws
// std::invalid_argument otherwise.
[[nodiscard]] std::array<std::uint8_t, kRssKeySize> parse_rss_key(const std::string& text);

class Rss {
 public:
  // Throws std::invalid_argument: queues 0 or > 128, a RETA not of 128 entries, an entry >=
  // queues.
  explicit Rss(const RssConfig& cfg);

  // The hash the NIC would compute for this tuple (table-driven: equal to toeplitz_reference
  // over the same input, one table lookup per input byte).
  [[nodiscard]] std::uint32_t hash(const FlowTuple& t) const noexcept;
  // Over explicit fields: 2-tuple (ports ignored) or 4-tuple.
  [[nodiscard]] std::uint32_t hash(const FlowTuple& t, bool with_ports) const noexcept;
  [[nodiscard]] std::uint32_t queue_of_hash(std::uint32_t h) const noexcept {
    return reta_[h & (kRetaSize - 1)];
  }
  [[nodiscard]] std::uint32_t queue_of(const FlowTuple& t) const noexcept {
    return queue_of_hash(hash(t));
  }
  [[nodiscard]] const std::array<std::uint32_t, kRetaSize>& reta() const noexcept { return reta_; }
  [[nodiscard]] std::uint32_t queues() const noexcept { return queues_; }
  [[nodiscard]] const RssConfig& config() const noexcept { return cfg_; }

 private:
  RssConfig cfg_;
  std::uint32_t queues_;
  std::array<std::uint32_t, kRetaSize> reta_{};
  // table_[i][b]: the hash contribution of byte value b at input position i (36 positions).
  std::vector<std::array<std::uint32_t, 256>> table_;
};

}  // namespace xmaps::sim
