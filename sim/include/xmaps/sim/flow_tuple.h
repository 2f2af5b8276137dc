// SPDX-License-Identifier: MIT
//
// FlowTuple: the addresses, ports and protocol of one packet, the input of RSS hashing
// (xmaps/sim/rss.h), of the built-in first programs and of flow accounting. Produced by the
// generator's flow tables (xmaps/sim/generator.h) and by parse_packet() (xmaps/sim/packet.h).
#pragma once

#include <array>
#include <cstdint>

namespace xmaps::sim {

struct FlowTuple {
  std::uint8_t ip_version = 4;  // 4 or 6
  std::uint8_t protocol = 17;   // IP protocol number: 17 UDP, 6 TCP (others: ports are 0)
  std::uint16_t src_port = 0;   // host byte order
  std::uint16_t dst_port = 0;   // host byte order
  // Network byte order; an IPv4 address uses bytes 0..3, the rest stay 0.
  std::array<std::uint8_t, 16> src_ip{};
  std::array<std::uint8_t, 16> dst_ip{};

  friend bool operator==(const FlowTuple&, const FlowTuple&) = default;
};

// The IPv4 address a.b.c.d as FlowTuple stores it.
constexpr std::array<std::uint8_t, 16> ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                            std::uint8_t d) noexcept {
  return {a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
}

}  // namespace xmaps::sim
