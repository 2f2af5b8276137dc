// SPDX-License-Identifier: MIT
//
// Packet frames as the simulator writes and reads them: Ethernet II, an optional 802.1Q tag,
// IPv4 (with header checksum) or IPv6, then UDP or TCP (with the pseudo-header checksum) and
// a zero-filled payload up to the requested frame length (FCS excluded, as a capture holds it).
//
//   std::uint32_t n = xmaps::sim::build_packet(spec, frame.data, frame.tailroom() + frame.len);
//   xmaps::sim::ParsedPacket p;
//   if (xmaps::sim::parse_packet(frame.data, frame.len, p) == xmaps::sim::ParseStatus::ok) ...
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "xmaps/sim/flow_tuple.h"

namespace xmaps::sim {

inline constexpr std::uint32_t kEthHeader = 14;
inline constexpr std::uint32_t kVlanTag = 4;
inline constexpr std::uint32_t kMinFrame = 60;    // 64-byte Ethernet minimum without the FCS
inline constexpr std::uint32_t kMaxFrame = 9018;  // jumbo frame, without the FCS

// TCP flag bits (the low byte of the TCP header's flags field).
inline constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                              kTcpAck = 0x10;

struct PacketSpec {
  FlowTuple flow;                       // ip_version 4 or 6, protocol 17 (UDP) or 6 (TCP)
  std::uint32_t frame_len = kMinFrame;  // total bytes written; raised to the headers' size
  bool vlan = false;
  std::uint16_t vlan_id = 0;         // 0 .. 4095
  std::uint8_t tcp_flags = kTcpAck;  // TCP only
  std::uint32_t tcp_seq = 0;         // TCP only
  std::array<std::uint8_t, 6> src_mac{0x02, 0, 0, 0, 0, 1};
  std::array<std::uint8_t, 6> dst_mac{0x02, 0, 0, 0, 0, 2};
};

// Bytes of headers for a spec (Ethernet + VLAN + IP + L4): the smallest frame_len it can have
// before kMinFrame applies.
[[nodiscard]] std::uint32_t header_bytes(const PacketSpec& spec) noexcept;

// Writes the frame into buf[0 .. capacity) and returns its length: max(spec.frame_len,
// header_bytes(spec), kMinFrame). Returns 0 (nothing written) if that exceeds capacity or
// kMaxFrame, or if the spec is invalid (ip_version not 4/6, protocol not 6/17, vlan_id > 4095).
// Allocates nothing.
[[nodiscard]] std::uint32_t build_packet(const PacketSpec& spec, unsigned char* buf,
                                         std::uint32_t capacity) noexcept;

enum class ParseStatus : std::uint8_t {
  ok,
  truncated,       // shorter than the headers it announces
  not_ip,          // EtherType (after any VLAN tag) is neither IPv4 nor IPv6
  bad_ip_header,   // IPv4 IHL < 5 or version field wrong, total length beyond the frame
  fragment,        // IPv4 fragment with offset != 0: no L4 header (ports stay 0)
  unsupported_l4,  // IP protocol other than TCP/UDP: flow.src_port/dst_port stay 0
};
[[nodiscard]] std::string_view to_string(ParseStatus s) noexcept;

struct ParsedPacket {
  FlowTuple flow;  // protocol from the IP header; ports 0 unless TCP/UDP parsed
  bool has_vlan = false;
  std::uint16_t vlan_id = 0;
  std::uint8_t tcp_flags = 0;
  std::uint16_t l3_offset = 0;  // first byte of the IP header
  std::uint16_t l4_offset = 0;  // first byte of the TCP/UDP header (0 if none)
  std::uint32_t ip_payload_len = 0;
};

// Parses an Ethernet frame. For unsupported_l4 and fragment, out.flow's addresses and protocol
// are still filled. Never reads outside data[0 .. len). Allocates nothing.
[[nodiscard]] ParseStatus parse_packet(const unsigned char* data, std::uint32_t len,
                                       ParsedPacket& out) noexcept;

// True if the IPv4 header checksum and the UDP/TCP checksum of a parsed frame are correct.
[[nodiscard]] bool checksums_valid(const unsigned char* data, std::uint32_t len) noexcept;

}  // namespace xmaps::sim
