// SPDX-License-Identifier: MIT
// Toeplitz RSS (xmaps/sim/rss.h): every verification vector of kernel-notes §4 (the Microsoft
// RSS verification suite, IPv4 and IPv6, 2- and 4-tuple) through the reference and the
// table-driven hash, the per-protocol field defaults, RETA fillers and checks, key parsing,
// and the symmetric key.
#include <arpa/inet.h>
#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/sim/rss.h"

namespace {

using xmaps::sim::FlowTuple;
using xmaps::sim::kMicrosoftRssKey;
using xmaps::sim::kRetaSize;
using xmaps::sim::kRssKeySize;
using xmaps::sim::parse_rss_key;
using xmaps::sim::Rss;
using xmaps::sim::RssConfig;
using xmaps::sim::toeplitz_reference;

std::array<std::uint8_t, 16> addr(const char* text, int family) {
  std::array<std::uint8_t, 16> out{};
  EXPECT_EQ(inet_pton(family, text, out.data()), 1) << text;
  return out;
}

struct Vector {
  const char* src;
  const char* dst;
  std::uint16_t sport;
  std::uint16_t dport;
  std::uint32_t ip_only;
  std::uint32_t with_ports;
};

// kernel-notes §4.
constexpr Vector kIpv4[] = {
    {"66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e8fc2, 0x51ccc178},
    {"199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718262a, 0xc626b0ea},
    {"24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0a5de, 0x5c2b394a},
    {"38.27.205.30", "209.142.163.6", 48228, 2217, 0x82989176, 0xafc7327f},
    {"153.39.163.191", "202.188.127.2", 44251, 1303, 0x5d1809c5, 0x10e828a2},
};
constexpr Vector kIpv6[] = {
    {"3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x2cc18cd5, 0x40207d3d},
    {"3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0x0f0c461c, 0xdde51bbf},
    {"3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x4b61e985,
     0x02d1feef},
};

FlowTuple tuple_of(const Vector& v, std::uint8_t version, std::uint8_t protocol) {
  FlowTuple t;
  t.ip_version = version;
  t.protocol = protocol;
  const int family = version == 6 ? AF_INET6 : AF_INET;
  t.src_ip = addr(v.src, family);
  t.dst_ip = addr(v.dst, family);
  t.src_port = v.sport;
  t.dst_port = v.dport;
  return t;
}

// The reference's input, built independently of rss.cc: addresses then ports, network order.
std::vector<std::uint8_t> input_of(const FlowTuple& t, bool with_ports) {
  const std::size_t n = t.ip_version == 6 ? 16 : 4;
  std::vector<std::uint8_t> in(t.src_ip.begin(), t.src_ip.begin() + static_cast<long>(n));
  in.insert(in.end(), t.dst_ip.begin(), t.dst_ip.begin() + static_cast<long>(n));
  if (with_ports) {
    const std::uint16_t sp = htons(t.src_port);
    const std::uint16_t dp = htons(t.dst_port);
    const auto* a = reinterpret_cast<const std::uint8_t*>(&sp);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&dp);
    in.insert(in.end(), a, a + 2);
    in.insert(in.end(), b, b + 2);
  }
  return in;
}

void check_vectors(std::span<const Vector> vectors, std::uint8_t version) {
  const Rss rss(RssConfig{.queues = 4});
  for (const Vector& v : vectors) {
    SCOPED_TRACE(std::string(v.src) + " -> " + v.dst);
    const FlowTuple t = tuple_of(v, version, 6);
    EXPECT_EQ(toeplitz_reference(kMicrosoftRssKey, input_of(t, false)), v.ip_only);
    EXPECT_EQ(toeplitz_reference(kMicrosoftRssKey, input_of(t, true)), v.with_ports);
    EXPECT_EQ(rss.hash(t, false), v.ip_only);
    EXPECT_EQ(rss.hash(t, true), v.with_ports);
  }
}

TEST(SimRss, Ipv4VerificationVectors) {
  check_vectors(kIpv4, 4);
}

TEST(SimRss, Ipv6VerificationVectors) {
  check_vectors(kIpv6, 6);
}

TEST(SimRss, TcpHashesFourTupleUdpTwoTupleByDefault) {
  const Rss rss(RssConfig{.queues = 8});
  for (const Vector& v : kIpv4) {
    EXPECT_EQ(rss.hash(tuple_of(v, 4, 6)), v.with_ports);
    EXPECT_EQ(rss.hash(tuple_of(v, 4, 17)), v.ip_only);
    EXPECT_EQ(rss.hash(tuple_of(v, 4, 1)), v.ip_only);  // ICMP and others: addresses only
  }
  for (const Vector& v : kIpv6) {
    EXPECT_EQ(rss.hash(tuple_of(v, 6, 6)), v.with_ports);
    EXPECT_EQ(rss.hash(tuple_of(v, 6, 17)), v.ip_only);
  }
}

TEST(SimRss, Udp4TupleAndTcp2TupleOptions) {
  const Rss udp4(RssConfig{.queues = 2, .udp_4tuple = true});
  const Rss tcp2(RssConfig{.queues = 2, .tcp_4tuple = false});
  for (const Vector& v : kIpv4) {
    EXPECT_EQ(udp4.hash(tuple_of(v, 4, 17)), v.with_ports);
    EXPECT_EQ(udp4.hash(tuple_of(v, 4, 6)), v.with_ports);
    EXPECT_EQ(tcp2.hash(tuple_of(v, 4, 6)), v.ip_only);
    EXPECT_EQ(tcp2.hash(tuple_of(v, 4, 17)), v.ip_only);
  }
}

TEST(SimRss, TableDrivenEqualsReferenceOnRandomTuplesAndKeys) {
  std::mt19937_64 rng(20240607);
  for (int k = 0; k < 8; ++k) {
    RssConfig cfg{.queues = 16, .udp_4tuple = true};
    for (auto& b : cfg.key)
      b = static_cast<std::uint8_t>(rng());
    const Rss rss(cfg);
    for (int i = 0; i < 500; ++i) {
      FlowTuple t;
      t.ip_version = (i % 2) == 0 ? 4 : 6;
      t.protocol = 17;
      for (std::size_t j = 0; j < (t.ip_version == 6 ? 16U : 4U); ++j) {
        t.src_ip[j] = static_cast<std::uint8_t>(rng());
        t.dst_ip[j] = static_cast<std::uint8_t>(rng());
      }
      t.src_port = static_cast<std::uint16_t>(rng());
      t.dst_port = static_cast<std::uint16_t>(rng());
      for (const bool ports : {false, true}) {
        ASSERT_EQ(rss.hash(t, ports), toeplitz_reference(cfg.key, input_of(t, ports)))
            << "key " << k << " tuple " << i;
      }
      EXPECT_EQ(rss.queue_of(t), rss.reta()[rss.hash(t) & 127]);
    }
  }
}

TEST(SimRss, ReferenceTreatsMissingKeyBitsAsZero) {
  // A 4-byte key covers only the first input bit's window; later bits see zeros shifted in.
  const std::array<std::uint8_t, 4> key = {0x80, 0x00, 0x00, 0x01};
  const std::array<std::uint8_t, 1> first = {0x80};
  const std::array<std::uint8_t, 1> last = {0x01};
  EXPECT_EQ(toeplitz_reference(key, first), 0x80000001U);
  EXPECT_EQ(toeplitz_reference(key, last), 0x00000080U);  // window at bit 7: key << 7
  EXPECT_EQ(toeplitz_reference(key, std::span<const std::uint8_t>{}), 0U);
}

TEST(SimRss, RoundRobinRetaIsEqualNOverTheQueues) {
  for (const std::uint32_t q : {1U, 3U, 4U, 7U, 128U}) {
    const Rss rss(RssConfig{.queues = q});
    EXPECT_EQ(rss.queues(), q);
    for (std::uint32_t i = 0; i < kRetaSize; ++i)
      EXPECT_EQ(rss.reta()[i], i % q);
    EXPECT_EQ(xmaps::sim::reta_round_robin(q), xmaps::sim::reta_equal(q));
  }
  // equal 2 on an 8-queue NIC: only queues 0 and 1 are used.
  const auto eq2 = xmaps::sim::reta_equal(2);
  const Rss rss(RssConfig{.queues = 8, .reta = std::vector<std::uint32_t>(eq2.begin(), eq2.end())});
  std::set<std::uint32_t> used;
  for (std::uint32_t h = 0; h < 4096; ++h)
    used.insert(rss.queue_of_hash(h * 2654435761U));
  EXPECT_EQ(used, (std::set<std::uint32_t>{0, 1}));
  EXPECT_THROW((void)xmaps::sim::reta_equal(0), std::invalid_argument);
  EXPECT_THROW((void)xmaps::sim::reta_equal(129), std::invalid_argument);
  EXPECT_THROW((void)xmaps::sim::reta_round_robin(0), std::invalid_argument);
}

TEST(SimRss, QueueOfHashUsesTheLowSevenBits) {
  std::vector<std::uint32_t> reta(kRetaSize, 0);
  reta[5] = 3;
  const Rss rss(RssConfig{.queues = 4, .reta = reta});
  EXPECT_EQ(rss.queue_of_hash(5), 3U);
  EXPECT_EQ(rss.queue_of_hash(0xabcdef80U | 5U), 3U);
  EXPECT_EQ(rss.queue_of_hash(6), 0U);
  EXPECT_EQ(rss.config().reta, reta);
}

TEST(SimRss, ConfigurationErrors) {
  EXPECT_THROW(Rss(RssConfig{.queues = 0}), std::invalid_argument);
  EXPECT_THROW(Rss(RssConfig{.queues = 129}), std::invalid_argument);
  EXPECT_NO_THROW(Rss(RssConfig{.queues = 128}));
  EXPECT_THROW(Rss(RssConfig{.queues = 4, .reta = std::vector<std::uint32_t>(127, 0)}),
               std::invalid_argument);
  EXPECT_THROW(Rss(RssConfig{.queues = 4, .reta = std::vector<std::uint32_t>(129, 0)}),
               std::invalid_argument);
  std::vector<std::uint32_t> bad(kRetaSize, 1);
  bad[100] = 4;  // == queues
  EXPECT_THROW(Rss(RssConfig{.queues = 4, .reta = bad}), std::invalid_argument);
  bad[100] = 3;
  EXPECT_NO_THROW(Rss(RssConfig{.queues = 4, .reta = bad}));
}

TEST(SimRss, ParseKeyWithAndWithoutSeparators) {
  const std::string plain =
      "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";
  EXPECT_EQ(parse_rss_key(plain), kMicrosoftRssKey);
  std::string colons;
  std::string spaces;
  for (std::size_t i = 0; i < plain.size(); i += 2) {
    if (i != 0) {
      colons += ':';
      spaces += ' ';
    }
    colons += plain.substr(i, 2);
    spaces += plain.substr(i, 2);
  }
  EXPECT_EQ(parse_rss_key(colons), kMicrosoftRssKey);
  EXPECT_EQ(parse_rss_key(spaces), kMicrosoftRssKey);
  // As kernel-notes writes it: 4-byte groups, upper case, surrounding white space.
  EXPECT_EQ(parse_rss_key(" 6D5A56DA 255B0EC2 4167253D 43A38FB0 D0CA2BCB AE7B30B4 77CB2DA3 "
                          "8030F20C 6A42B73B BEAC01FA\n"),
            kMicrosoftRssKey);
}

TEST(SimRss, ParseKeyRejectsBadInput) {
  const std::string plain =
      "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";
  for (const std::string& bad : {
           std::string(), std::string("   "), plain.substr(0, 78),  // 39 bytes
           plain + "00",                                            // 41 bytes
           plain.substr(0, 79),                                     // odd digit count
           "zz" + plain.substr(2),                                  // not hex
           "6" + plain.substr(1, 1) + "g" + plain.substr(3),        // not hex inside
           "6d::" + plain.substr(2),                                // doubled separator
           ":" + plain,                                             // leading separator
           plain + ":",                                             // trailing separator
           "6:d" + plain.substr(2),                                 // separator inside a byte
       }) {
    EXPECT_THROW((void)parse_rss_key(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

TEST(SimRss, SymmetricKeyHashesBothDirectionsAlike) {
  RssConfig cfg{.queues = 8, .udp_4tuple = true};
  for (std::size_t i = 0; i < kRssKeySize; i += 2) {
    cfg.key[i] = 0x6d;
    cfg.key[i + 1] = 0x5a;
  }
  const Rss rss(cfg);
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    FlowTuple a;
    a.ip_version = (i % 3) == 0 ? 6 : 4;
    a.protocol = (i % 2) == 0 ? 6 : 17;
    for (std::size_t j = 0; j < 16; ++j) {
      a.src_ip[j] = a.ip_version == 6 || j < 4 ? static_cast<std::uint8_t>(rng()) : 0;
      a.dst_ip[j] = a.ip_version == 6 || j < 4 ? static_cast<std::uint8_t>(rng()) : 0;
    }
    a.src_port = static_cast<std::uint16_t>(rng());
    a.dst_port = static_cast<std::uint16_t>(rng());
    FlowTuple b = a;
    std::swap(b.src_ip, b.dst_ip);
    std::swap(b.src_port, b.dst_port);
    ASSERT_EQ(rss.hash(a), rss.hash(b)) << i;
    ASSERT_EQ(rss.queue_of(a), rss.queue_of(b)) << i;
  }
  // The Microsoft key is not symmetric.
  const Rss ms(RssConfig{.queues = 8});
  const FlowTuple t = tuple_of(kIpv4[0], 4, 6);
  FlowTuple r = t;
  std::swap(r.src_ip, r.dst_ip);
  std::swap(r.src_port, r.dst_port);
  EXPECT_NE(ms.hash(t), ms.hash(r));
}

}  // namespace
