// SPDX-License-Identifier: MIT
//
// Toeplitz RSS (xmaps/sim/rss.h). The hash of an input is the XOR, over every set input bit k
// (MSB first), of the 32-bit window of the key starting at key bit k. Since XOR is linear, the
// contribution of input byte i is a function of its value alone: table_[i][b] is the XOR of the
// windows at bits 8i .. 8i + 7 selected by b's set bits, and the hash is the XOR of
// table_[i][input[i]] over the input, one lookup per byte.
#include "xmaps/sim/rss.h"

#include <cstddef>
#include <stdexcept>
#include <string>

namespace xmaps::sim {

namespace {

constexpr std::size_t kMaxInput = 36;  // IPv6 4-tuple: 16 + 16 + 2 + 2 bytes

// Bit `bit` of the key (MSB first), 0 beyond its end.
unsigned key_bit(std::span<const std::uint8_t> key, std::size_t bit) noexcept {
  const std::size_t byte = bit / 8;
  if (byte >= key.size())
    return 0;
  return (key[byte] >> (7 - bit % 8)) & 1U;
}

// The 32 key bits starting at bit `start`.
std::uint32_t key_window(std::span<const std::uint8_t> key, std::size_t start) noexcept {
  std::uint32_t w = 0;
  for (std::size_t j = 0; j < 32; ++j)
    w = (w << 1) | key_bit(key, start + j);
  return w;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void check_queue_count(std::uint32_t n, const char* what) {
  if (n == 0 || n > kRetaSize)
    throw std::invalid_argument(std::string("xmaps-sim: ") + what + " must be 1 .. 128, got " +
                                std::to_string(n));
}

}  // namespace

std::uint32_t toeplitz_reference(std::span<const std::uint8_t> key,
                                 std::span<const std::uint8_t> input) noexcept {
  std::uint32_t result = 0;
  for (std::size_t k = 0; k < input.size() * 8; ++k) {
    if (((input[k / 8] >> (7 - k % 8)) & 1U) != 0)
      result ^= key_window(key, k);
  }
  return result;
}

std::array<std::uint32_t, kRetaSize> reta_equal(std::uint32_t n) {
  check_queue_count(n, "RETA equal N");
  std::array<std::uint32_t, kRetaSize> reta{};
  for (std::uint32_t i = 0; i < kRetaSize; ++i)
    reta[i] = i % n;
  return reta;
}

std::array<std::uint32_t, kRetaSize> reta_round_robin(std::uint32_t queues) {
  check_queue_count(queues, "RSS queues");
  return reta_equal(queues);
}

std::array<std::uint8_t, kRssKeySize> parse_rss_key(const std::string& text) {
  std::array<std::uint8_t, kRssKeySize> key{};
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  const std::size_t last = text.find_last_not_of(" \t\r\n");
  const auto fail = [&](const std::string& why) {
    return std::invalid_argument("xmaps-sim: bad RSS key '" + text + "': " + why +
                                 " (expected 40 hex bytes, optionally separated by ':' or ' ')");
  };
  if (first == std::string::npos)
    throw fail("empty");
  std::size_t n = 0;
  std::size_t pos = first;
  while (pos <= last) {
    if (n != 0 && (text[pos] == ':' || text[pos] == ' ')) {
      ++pos;  // one separator between two bytes
      if (pos > last)
        throw fail("ends with a separator");
    }
    if (pos + 1 > last)
      throw fail("odd number of hex digits");
    const int hi = hex_value(text[pos]);
    const int lo = hex_value(text[pos + 1]);
    if (hi < 0 || lo < 0)
      throw fail("not a hex byte at offset " + std::to_string(pos));
    if (n == kRssKeySize)
      throw fail("more than 40 bytes");
    key[n++] = static_cast<std::uint8_t>(hi * 16 + lo);
    pos += 2;
  }
  if (n != kRssKeySize)
    throw fail(std::to_string(n) + " bytes");
  return key;
}

Rss::Rss(const RssConfig& cfg) : cfg_(cfg), queues_(cfg.queues), table_(kMaxInput) {
  check_queue_count(cfg.queues, "RSS queues");
  if (cfg.reta.empty()) {
    reta_ = reta_round_robin(cfg.queues);
  } else {
    if (cfg.reta.size() != kRetaSize)
      throw std::invalid_argument("xmaps-sim: a RETA needs exactly 128 entries, got " +
                                  std::to_string(cfg.reta.size()));
    for (std::size_t i = 0; i < kRetaSize; ++i) {
      if (cfg.reta[i] >= cfg.queues)
        throw std::invalid_argument("xmaps-sim: RETA entry " + std::to_string(i) + " is queue " +
                                    std::to_string(cfg.reta[i]) + ", but there are only " +
                                    std::to_string(cfg.queues) + " queues");
      reta_[i] = cfg.reta[i];
    }
  }
  // table_[i][b]: for byte value b at input byte i, XOR of the windows of b's set bits.
  const std::span<const std::uint8_t> key(cfg_.key);
  for (std::size_t i = 0; i < kMaxInput; ++i) {
    std::array<std::uint32_t, 8> window{};  // window[j]: bit j of the byte (j = 0 the MSB)
    for (std::size_t j = 0; j < 8; ++j)
      window[j] = key_window(key, i * 8 + j);
    for (std::size_t b = 0; b < 256; ++b) {
      std::uint32_t h = 0;
      for (std::size_t j = 0; j < 8; ++j) {
        if (((b >> (7 - j)) & 1U) != 0)
          h ^= window[j];
      }
      table_[i][b] = h;
    }
  }
}

std::uint32_t Rss::hash(const FlowTuple& t) const noexcept {
  bool with_ports = false;
  if (t.protocol == 6)
    with_ports = cfg_.tcp_4tuple;
  else if (t.protocol == 17)
    with_ports = cfg_.udp_4tuple;
  return hash(t, with_ports);
}

std::uint32_t Rss::hash(const FlowTuple& t, bool with_ports) const noexcept {
  // The input (src ip, dst ip, src port, dst port, network order) read in place from the
  // tuple: input byte i indexes table_[i].
  const std::size_t addr = t.ip_version == 6 ? 16 : 4;
  const std::array<std::uint32_t, 256>* row = table_.data();
  std::uint32_t h = 0;
  for (std::size_t i = 0; i < addr; ++i)
    h ^= row[i][t.src_ip[i]] ^ row[addr + i][t.dst_ip[i]];
  if (with_ports) {
    row += 2 * addr;
    h ^= row[0][t.src_port >> 8] ^ row[1][t.src_port & 0xff] ^ row[2][t.dst_port >> 8] ^
         row[3][t.dst_port & 0xff];
  }
  return h;
}

}  // namespace xmaps::sim
