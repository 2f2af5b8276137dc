// SPDX-License-Identifier: MIT
#include "xmaps/sim/packet.h"

#include <cstring>

namespace xmaps::sim {

namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;  // 802.1Q TPID
constexpr std::uint32_t kIpv4Header = 20;     // without options
constexpr std::uint32_t kIpv6Header = 40;
constexpr std::uint32_t kUdpHeader = 8;
constexpr std::uint32_t kTcpHeader = 20;  // without options
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kTtl = 64;  // Linux's default TTL / hop limit

std::uint16_t load16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] << 8U | p[1]);
}

void store16(unsigned char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<unsigned char>(v >> 8U);
  p[1] = static_cast<unsigned char>(v);
}

void store32(unsigned char* p, std::uint32_t v) noexcept {
  store16(p, v >> 16U);
  store16(p + 2, v);
}

// RFC 1071 one's-complement sum of big-endian 16-bit words, unfolded: a 64-bit accumulator
// cannot overflow for any frame up to kMaxFrame bytes. An odd last byte is padded with zero.
std::uint64_t sum16(const unsigned char* p, std::uint32_t n) noexcept {
  std::uint64_t sum = 0;
  std::uint32_t i = 0;
  for (; i + 1 < n; i += 2)
    sum += load16(p + i);
  if (i < n)
    sum += static_cast<std::uint64_t>(p[i]) << 8U;
  return sum;
}

std::uint16_t fold(std::uint64_t sum) noexcept {
  while ((sum >> 16U) != 0)
    sum = (sum & 0xFFFFU) + (sum >> 16U);
  return static_cast<std::uint16_t>(sum);
}

// The TCP/UDP pseudo-header (RFC 768, RFC 793; RFC 8200 §8.1 for IPv6), summed.
std::uint64_t pseudo_sum(bool v6, const unsigned char* src, const unsigned char* dst,
                         std::uint8_t protocol, std::uint32_t l4_len) noexcept {
  const std::uint32_t addr_len = v6 ? 16 : 4;
  return sum16(src, addr_len) + sum16(dst, addr_len) + protocol + (l4_len >> 16U) +
         (l4_len & 0xFFFFU);
}

bool spec_valid(const PacketSpec& spec) noexcept {
  return (spec.flow.ip_version == 4 || spec.flow.ip_version == 6) &&
         (spec.flow.protocol == kProtoTcp || spec.flow.protocol == kProtoUdp) &&
         spec.vlan_id <= 4095;
}

}  // namespace

std::uint32_t header_bytes(const PacketSpec& spec) noexcept {
  return kEthHeader + (spec.vlan ? kVlanTag : 0) +
         (spec.flow.ip_version == 6 ? kIpv6Header : kIpv4Header) +
         (spec.flow.protocol == kProtoTcp ? kTcpHeader : kUdpHeader);
}

std::uint32_t build_packet(const PacketSpec& spec, unsigned char* buf,
                           std::uint32_t capacity) noexcept {
  if (buf == nullptr || !spec_valid(spec))
    return 0;
  const std::uint32_t hdr = header_bytes(spec);
  std::uint32_t len = spec.frame_len;
  if (len < hdr)
    len = hdr;
  if (len < kMinFrame)
    len = kMinFrame;
  if (len > capacity || len > kMaxFrame)
    return 0;

  const bool v6 = spec.flow.ip_version == 6;
  const bool tcp = spec.flow.protocol == kProtoTcp;
  std::memcpy(buf, spec.dst_mac.data(), 6);
  std::memcpy(buf + 6, spec.src_mac.data(), 6);
  std::uint32_t l3 = 12;
  if (spec.vlan) {
    store16(buf + l3, kEtherVlan);
    store16(buf + l3 + 2, spec.vlan_id);  // PCP 0, DEI 0
    l3 += kVlanTag;
  }
  store16(buf + l3, v6 ? kEtherIpv6 : kEtherIpv4);
  l3 += 2;

  const std::uint32_t l4 = l3 + (v6 ? kIpv6Header : kIpv4Header);
  const std::uint32_t l4_len = len - l4;
  unsigned char* ip = buf + l3;
  if (v6) {
    store32(ip, 0x60000000U);  // version 6, traffic class 0, flow label 0
    store16(ip + 4, l4_len);
    ip[6] = spec.flow.protocol;
    ip[7] = kTtl;
    std::memcpy(ip + 8, spec.flow.src_ip.data(), 16);
    std::memcpy(ip + 24, spec.flow.dst_ip.data(), 16);
  } else {
    ip[0] = 0x45;  // version 4, IHL 5
    ip[1] = 0;
    store16(ip + 2, len - l3);
    store16(ip + 4, 0);       // identification: unused with DF
    store16(ip + 6, 0x4000);  // DF, offset 0
    ip[8] = kTtl;
    ip[9] = spec.flow.protocol;
    store16(ip + 10, 0);
    std::memcpy(ip + 12, spec.flow.src_ip.data(), 4);
    std::memcpy(ip + 16, spec.flow.dst_ip.data(), 4);
    store16(ip + 10, static_cast<std::uint16_t>(~fold(sum16(ip, kIpv4Header))));
  }

  unsigned char* seg = buf + l4;
  store16(seg, spec.flow.src_port);
  store16(seg + 2, spec.flow.dst_port);
  std::uint32_t csum_at = 0;
  std::uint32_t l4_hdr = 0;
  if (tcp) {
    store32(seg + 4, spec.tcp_seq);
    store32(seg + 8, 0);  // acknowledgement number
    seg[12] = 0x50;       // data offset 5 words
    seg[13] = spec.tcp_flags;
    store16(seg + 14, 0xFFFF);  // window
    store16(seg + 16, 0);
    store16(seg + 18, 0);  // urgent pointer
    csum_at = 16;
    l4_hdr = kTcpHeader;
  } else {
    store16(seg + 4, l4_len);
    store16(seg + 6, 0);
    csum_at = 6;
    l4_hdr = kUdpHeader;
  }
  std::memset(seg + l4_hdr, 0, l4_len - l4_hdr);
  const unsigned char* src = v6 ? ip + 8 : ip + 12;
  const unsigned char* dst = v6 ? ip + 24 : ip + 16;
  auto csum = static_cast<std::uint16_t>(
      ~fold(pseudo_sum(v6, src, dst, spec.flow.protocol, l4_len) + sum16(seg, l4_len)));
  if (!tcp && csum == 0)
    csum = 0xFFFF;  // RFC 768: 0 means "no checksum", so a computed 0 is sent as all ones
  store16(seg + csum_at, csum);
  return len;
}

std::string_view to_string(ParseStatus s) noexcept {
  switch (s) {
    case ParseStatus::ok: return "ok";
    case ParseStatus::truncated: return "truncated";
    case ParseStatus::not_ip: return "not_ip";
    case ParseStatus::bad_ip_header: return "bad_ip_header";
    case ParseStatus::fragment: return "fragment";
    case ParseStatus::unsupported_l4: return "unsupported_l4";
  }
  return "unknown";
}

// Each step checks that the bytes it is about to read lie inside data[0 .. len) before
// reading them; the offsets stay far below 2^32, so the additions cannot wrap.
ParseStatus parse_packet(const unsigned char* data, std::uint32_t len, ParsedPacket& out) noexcept {
  out = ParsedPacket{};
  out.flow.ip_version = 0;
  out.flow.protocol = 0;
  if (data == nullptr || len < kEthHeader)
    return ParseStatus::truncated;
  std::uint32_t off = 12;
  std::uint16_t ether = load16(data + off);
  if (ether == kEtherVlan) {
    if (len < kEthHeader + kVlanTag)
      return ParseStatus::truncated;
    out.has_vlan = true;
    out.vlan_id = static_cast<std::uint16_t>(load16(data + off + 2) & 0x0FFFU);
    off += kVlanTag;
    ether = load16(data + off);
  }
  off += 2;
  const unsigned char* ip = data + off;
  const std::uint32_t room = len - off;
  std::uint32_t l4_off = 0;
  std::uint32_t payload = 0;
  std::uint8_t protocol = 0;
  if (ether == kEtherIpv4) {
    if (room < kIpv4Header)
      return ParseStatus::truncated;
    const std::uint32_t ihl = (ip[0] & 0x0FU) * 4U;
    if ((ip[0] >> 4U) != 4 || ihl < kIpv4Header)
      return ParseStatus::bad_ip_header;
    if (room < ihl)
      return ParseStatus::truncated;
    const std::uint32_t total = load16(ip + 2);
    if (total < ihl || total > room)
      return ParseStatus::bad_ip_header;
    protocol = ip[9];
    out.flow.ip_version = 4;
    out.flow.protocol = protocol;
    std::memcpy(out.flow.src_ip.data(), ip + 12, 4);
    std::memcpy(out.flow.dst_ip.data(), ip + 16, 4);
    out.l3_offset = static_cast<std::uint16_t>(off);
    payload = total - ihl;
    out.ip_payload_len = payload;
    if ((load16(ip + 6) & 0x1FFFU) != 0)
      return ParseStatus::fragment;
    l4_off = off + ihl;
  } else if (ether == kEtherIpv6) {
    if (room < kIpv6Header)
      return ParseStatus::truncated;
    if ((ip[0] >> 4U) != 6)
      return ParseStatus::bad_ip_header;
    payload = load16(ip + 4);
    if (payload > room - kIpv6Header)
      return ParseStatus::bad_ip_header;
    protocol = ip[6];  // extension headers are not walked: they count as unsupported_l4
    out.flow.ip_version = 6;
    out.flow.protocol = protocol;
    std::memcpy(out.flow.src_ip.data(), ip + 8, 16);
    std::memcpy(out.flow.dst_ip.data(), ip + 24, 16);
    out.l3_offset = static_cast<std::uint16_t>(off);
    out.ip_payload_len = payload;
    l4_off = off + kIpv6Header;
  } else {
    return ParseStatus::not_ip;
  }

  const unsigned char* l4 = data + l4_off;
  if (protocol == kProtoUdp) {
    if (payload < kUdpHeader)
      return ParseStatus::truncated;
  } else if (protocol == kProtoTcp) {
    if (payload < kTcpHeader)
      return ParseStatus::truncated;
    const std::uint32_t doff = (l4[12] >> 4U) * 4U;
    if (doff < kTcpHeader || doff > payload)
      return ParseStatus::truncated;
    out.tcp_flags = l4[13];
  } else {
    return ParseStatus::unsupported_l4;
  }
  out.flow.src_port = load16(l4);
  out.flow.dst_port = load16(l4 + 2);
  out.l4_offset = static_cast<std::uint16_t>(l4_off);
  return ParseStatus::ok;
}

bool checksums_valid(const unsigned char* data, std::uint32_t len) noexcept {
  ParsedPacket p;
  if (parse_packet(data, len, p) != ParseStatus::ok)
    return false;
  const unsigned char* ip = data + p.l3_offset;
  const unsigned char* seg = data + p.l4_offset;
  const bool v6 = p.flow.ip_version == 6;
  // A correct header sums (checksum field included) to all ones.
  if (!v6 && fold(sum16(ip, p.l4_offset - p.l3_offset)) != 0xFFFF)
    return false;
  std::uint32_t seg_len = p.ip_payload_len;
  if (p.flow.protocol == kProtoUdp) {
    const std::uint16_t csum = load16(seg + 6);
    if (csum == 0)
      return !v6;  // IPv4 allows "no checksum"; IPv6 does not (RFC 8200 §8.1)
    seg_len = load16(seg + 4);
    if (seg_len < kUdpHeader || seg_len > p.ip_payload_len)
      return false;
  }
  const unsigned char* src = v6 ? ip + 8 : ip + 12;
  const unsigned char* dst = v6 ? ip + 24 : ip + 16;
  return fold(pseudo_sum(v6, src, dst, p.flow.protocol, seg_len) + sum16(seg, seg_len)) == 0xFFFF;
}

}  // namespace xmaps::sim
