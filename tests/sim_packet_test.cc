// SPDX-License-Identifier: MIT
// xmaps/sim/packet.h: frames built for every header combination parse back to their spec with
// valid checksums; a known IPv4 header checksum; every parse status; and a parser that never
// reads outside the buffer (random and mutated frames in exactly-sized heap buffers, which
// ASan checks).
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/sim/packet.h"

namespace {

using xmaps::sim::build_packet;
using xmaps::sim::checksums_valid;
using xmaps::sim::FlowTuple;
using xmaps::sim::header_bytes;
using xmaps::sim::ipv4;
using xmaps::sim::PacketSpec;
using xmaps::sim::parse_packet;
using xmaps::sim::ParsedPacket;
using xmaps::sim::ParseStatus;

PacketSpec make_spec(int ip_version, int protocol, bool vlan, std::uint32_t len) {
  PacketSpec s;
  s.flow.ip_version = static_cast<std::uint8_t>(ip_version);
  s.flow.protocol = static_cast<std::uint8_t>(protocol);
  s.flow.src_port = 40000;
  s.flow.dst_port = 443;
  if (ip_version == 4) {
    s.flow.src_ip = ipv4(10, 1, 2, 3);
    s.flow.dst_ip = ipv4(192, 168, 7, 9);
  } else {
    for (std::size_t i = 0; i < 16; ++i) {
      s.flow.src_ip[i] = static_cast<std::uint8_t>(0xF0 + i);
      s.flow.dst_ip[i] = static_cast<std::uint8_t>(0x20 + 3 * i);
    }
  }
  s.vlan = vlan;
  s.vlan_id = 321;
  s.frame_len = len;
  s.tcp_flags = xmaps::sim::kTcpSyn | xmaps::sim::kTcpAck;
  s.tcp_seq = 0xDEADBEEF;
  return s;
}

std::uint16_t be16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

TEST(SimPacket, HeaderBytes) {
  EXPECT_EQ(header_bytes(make_spec(4, 17, false, 0)), 14U + 20U + 8U);
  EXPECT_EQ(header_bytes(make_spec(4, 6, false, 0)), 14U + 20U + 20U);
  EXPECT_EQ(header_bytes(make_spec(6, 17, false, 0)), 14U + 40U + 8U);
  EXPECT_EQ(header_bytes(make_spec(6, 6, true, 0)), 14U + 4U + 40U + 20U);
}

TEST(SimPacket, EveryCombinationRoundTripsWithValidChecksums) {
  std::vector<unsigned char> buf(xmaps::sim::kMaxFrame);
  for (int v : {4, 6}) {
    for (int proto : {17, 6}) {
      for (bool vlan : {false, true}) {
        for (std::uint32_t len : {0U, 60U, 61U, 77U, 79U, 590U, 1514U, 9018U}) {
          SCOPED_TRACE(testing::Message()
                       << "v" << v << " proto " << proto << " vlan " << vlan << " len " << len);
          const PacketSpec spec = make_spec(v, proto, vlan, len);
          const std::uint32_t want = std::max({len, header_bytes(spec), xmaps::sim::kMinFrame});
          const std::uint32_t n =
              build_packet(spec, buf.data(), static_cast<std::uint32_t>(buf.size()));
          ASSERT_EQ(n, want);
          ParsedPacket p;
          ASSERT_EQ(parse_packet(buf.data(), n, p), ParseStatus::ok);
          EXPECT_EQ(p.flow, spec.flow);
          EXPECT_EQ(p.has_vlan, vlan);
          EXPECT_EQ(p.vlan_id, vlan ? 321 : 0);
          EXPECT_EQ(p.tcp_flags, proto == 6 ? spec.tcp_flags : 0);
          EXPECT_EQ(p.l3_offset, vlan ? 18 : 14);
          EXPECT_EQ(p.l4_offset, p.l3_offset + (v == 4 ? 20 : 40));
          EXPECT_EQ(p.ip_payload_len, n - p.l4_offset);
          EXPECT_TRUE(checksums_valid(buf.data(), n));
          if (proto == 6) {
            EXPECT_EQ(be16(buf.data() + p.l4_offset + 4), 0xDEAD);
          }
          EXPECT_EQ(std::memcmp(buf.data(), spec.dst_mac.data(), 6), 0);
          EXPECT_EQ(std::memcmp(buf.data() + 6, spec.src_mac.data(), 6), 0);
          // Every single-bit error in the checksummed headers is caught (IPv6's version,
          // traffic class, flow label and hop limit are covered by no checksum).
          for (std::uint32_t i = p.l3_offset; i < header_bytes(spec); ++i) {
            const std::uint32_t at = i - p.l3_offset;
            if (v == 6 && (at < 4 || at == 7))
              continue;
            buf[i] ^= 0x04;
            EXPECT_FALSE(checksums_valid(buf.data(), n)) << "byte " << i;
            buf[i] ^= 0x04;
          }
          buf[n - 1] ^= 0x80;  // and in the payload
          EXPECT_FALSE(checksums_valid(buf.data(), n));
          buf[n - 1] ^= 0x80;
        }
      }
    }
  }
}

// The classic example header (Wikipedia, "Internet checksum"): 4500 0073 0000 4000 4011 xxxx
// c0a8 0001 c0a8 00c7 has the checksum b861.
TEST(SimPacket, KnownIpv4HeaderChecksum) {
  PacketSpec s = make_spec(4, 17, false, 14 + 0x73);
  s.flow.src_ip = ipv4(192, 168, 0, 1);
  s.flow.dst_ip = ipv4(192, 168, 0, 199);
  unsigned char buf[256];
  ASSERT_EQ(build_packet(s, buf, sizeof buf), 14U + 0x73U);
  const unsigned char want[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                  0xB8, 0x61, 0xC0, 0xA8, 0x00, 0x01, 0xC0, 0xA8, 0x00, 0xC7};
  EXPECT_EQ(std::memcmp(buf + 14, want, 20), 0);
  EXPECT_EQ(be16(buf + 12), 0x0800);
}

TEST(SimPacket, RejectsBadSpecsAndSmallBuffers) {
  unsigned char buf[2048];
  PacketSpec s = make_spec(4, 17, false, 60);
  EXPECT_EQ(build_packet(s, buf, 59), 0U);
  EXPECT_EQ(build_packet(s, buf, 60), 60U);
  EXPECT_EQ(build_packet(s, nullptr, 60), 0U);
  s.frame_len = xmaps::sim::kMaxFrame + 1;
  EXPECT_EQ(build_packet(s, buf, sizeof buf), 0U);
  s = make_spec(5, 17, false, 60);
  EXPECT_EQ(build_packet(s, buf, sizeof buf), 0U);
  s = make_spec(4, 1, false, 60);
  EXPECT_EQ(build_packet(s, buf, sizeof buf), 0U);
  s = make_spec(4, 17, true, 60);
  s.vlan_id = 4096;
  EXPECT_EQ(build_packet(s, buf, sizeof buf), 0U);
}

TEST(SimPacket, UdpZeroChecksumMeansNoneOnIpv4Only) {
  for (int v : {4, 6}) {
    unsigned char buf[128];
    const PacketSpec s = make_spec(v, 17, false, 100);
    const std::uint32_t n = build_packet(s, buf, sizeof buf);
    ParsedPacket p;
    ASSERT_EQ(parse_packet(buf, n, p), ParseStatus::ok);
    buf[p.l4_offset + 6] = 0;
    buf[p.l4_offset + 7] = 0;
    EXPECT_EQ(checksums_valid(buf, n), v == 4);
  }
}

TEST(SimPacket, ParseStatuses) {
  unsigned char buf[256];
  const PacketSpec s = make_spec(4, 17, true, 100);
  const std::uint32_t n = build_packet(s, buf, sizeof buf);
  ParsedPacket p;

  // Any prefix of the headers is truncated; a longer prefix announces more than it holds.
  for (std::uint32_t len = 0; len < header_bytes(s); ++len) {
    const ParseStatus st = parse_packet(buf, len, p);
    EXPECT_TRUE(st == ParseStatus::truncated || st == ParseStatus::bad_ip_header) << len;
  }
  EXPECT_EQ(parse_packet(buf, 13, p), ParseStatus::truncated);
  EXPECT_EQ(parse_packet(buf, 17, p), ParseStatus::truncated);
  EXPECT_EQ(parse_packet(buf, 30, p), ParseStatus::truncated);
  EXPECT_EQ(parse_packet(buf, n - 1, p), ParseStatus::bad_ip_header);
  EXPECT_EQ(parse_packet(nullptr, 0, p), ParseStatus::truncated);

  unsigned char b[256];
  std::memcpy(b, buf, n);
  b[16] = 0x08;  // ARP
  b[17] = 0x06;
  EXPECT_EQ(parse_packet(b, n, p), ParseStatus::not_ip);

  std::memcpy(b, buf, n);
  b[18] = 0x44;  // IHL 4
  EXPECT_EQ(parse_packet(b, n, p), ParseStatus::bad_ip_header);
  b[18] = 0x55;  // version 5
  EXPECT_EQ(parse_packet(b, n, p), ParseStatus::bad_ip_header);

  std::memcpy(b, buf, n);
  b[18 + 6] = 0x00;  // fragment offset 8 bytes
  b[18 + 7] = 0x01;
  EXPECT_EQ(parse_packet(b, n, p), ParseStatus::fragment);
  EXPECT_EQ(p.flow.src_ip, s.flow.src_ip);
  EXPECT_EQ(p.flow.protocol, 17);
  EXPECT_EQ(p.flow.src_port, 0);

  std::memcpy(b, buf, n);
  b[18 + 9] = 1;  // ICMP
  EXPECT_EQ(parse_packet(b, n, p), ParseStatus::unsupported_l4);
  EXPECT_EQ(p.flow.dst_ip, s.flow.dst_ip);
  EXPECT_EQ(p.flow.protocol, 1);
  EXPECT_EQ(p.flow.dst_port, 0);
  EXPECT_EQ(p.l4_offset, 0);
  EXPECT_FALSE(checksums_valid(b, n));

  EXPECT_EQ(xmaps::sim::to_string(ParseStatus::ok), "ok");
  EXPECT_EQ(xmaps::sim::to_string(ParseStatus::truncated), "truncated");
  EXPECT_EQ(xmaps::sim::to_string(ParseStatus::unsupported_l4), "unsupported_l4");
}

TEST(SimPacket, TcpWithBadDataOffsetIsTruncated) {
  unsigned char buf[128];
  const PacketSpec s = make_spec(6, 6, false, 0);
  const std::uint32_t n = build_packet(s, buf, sizeof buf);  // 74 bytes, no TCP payload
  ParsedPacket p;
  ASSERT_EQ(parse_packet(buf, n, p), ParseStatus::ok);
  const std::uint32_t l4 = p.l4_offset;
  buf[l4 + 12] = 0x60;  // 24 bytes of TCP header in a 20-byte segment
  EXPECT_EQ(parse_packet(buf, n, p), ParseStatus::truncated);
  buf[l4 + 12] = 0x40;
  EXPECT_EQ(parse_packet(buf, n, p), ParseStatus::truncated);
}

// Each input sits in a heap block of exactly its length, so any read past the end is an ASan
// error; the parser and checksum check must also give consistent answers.
void parse_exact(const unsigned char* src, std::uint32_t len) {
  auto copy = std::make_unique<unsigned char[]>(len == 0 ? 1 : len);
  if (len != 0)
    std::memcpy(copy.get(), src, len);
  ParsedPacket p;
  const ParseStatus st = parse_packet(copy.get(), len, p);
  const bool valid = checksums_valid(copy.get(), len);
  if (valid) {
    EXPECT_EQ(st, ParseStatus::ok);
  }
  if (st == ParseStatus::ok) {
    EXPECT_LE(p.l4_offset, len);
    EXPECT_LE(p.l4_offset + p.ip_payload_len, len);
  }
}

TEST(SimPacket, FuzzNeverReadsOutOfBounds) {
  std::mt19937_64 rng(12345);  // the test's own inputs; seed printed on failure by the trace
  SCOPED_TRACE("seed 12345");
  std::vector<unsigned char> buf(xmaps::sim::kMaxFrame);
  std::vector<unsigned char> valid_frames[8];
  int k = 0;
  for (int v : {4, 6})
    for (int proto : {17, 6})
      for (bool vlan : {false, true}) {
        const PacketSpec s = make_spec(v, proto, vlan, 60 + 17 * static_cast<std::uint32_t>(k));
        const std::uint32_t n = build_packet(s, buf.data(), 2048);
        valid_frames[k++].assign(buf.begin(), buf.begin() + n);
      }
  for (int iter = 0; iter < 200000; ++iter) {
    const std::vector<unsigned char>& base = valid_frames[rng() % 8];
    std::vector<unsigned char> f = base;
    const int mode = static_cast<int>(rng() % 4);
    if (mode == 0) {
      // Random bytes, random length.
      f.resize(rng() % 200);
      for (unsigned char& c : f)
        c = static_cast<unsigned char>(rng());
      if (f.size() > 13 && rng() % 2 == 0) {  // steer towards the IP parsers
        f[12] = rng() % 2 ? 0x86 : 0x08;
        f[13] = f[12] == 0x86 ? 0xDD : 0x00;
      }
    } else {
      // A valid frame with a few bytes of the headers changed, then maybe cut short.
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int j = 0; j < flips; ++j)
        f[rng() % 80 % f.size()] = static_cast<unsigned char>(rng());
      if (mode >= 2)
        f.resize(rng() % (f.size() + 1));
    }
    parse_exact(f.data(), static_cast<std::uint32_t>(f.size()));
  }
  for (const auto& base : valid_frames)
    for (std::size_t len = 0; len <= base.size(); ++len)
      parse_exact(base.data(), static_cast<std::uint32_t>(len));
}

}  // namespace
