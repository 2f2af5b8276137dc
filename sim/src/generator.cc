// SPDX-License-Identifier: MIT
//
// How frames are made fast: at construction every flow gets a template, the first kSlot bytes
// of its frame at the smallest size (headers, then zeros), plus, per frame size, the length
// fields and checksums that size needs. Since the payload is all zeros it adds nothing to any
// checksum, so those values follow from the template's by RFC 1624 updates. A packet is then
// one fixed-size memcpy, a few 16-bit stores (IMIX only), and for TCP a sequence number with
// its checksum update; a SYN flood also writes a random source with incremental checksums.
//
//   FlowTemplate (128 bytes, two cache lines):
//     bytes[96]   Ethernet .. L4 header, zero padding
//     l3, l4      offsets of the IP and TCP/UDP headers
//     sizes[3]    per size: frame length, IP length, IPv4 checksum, UDP length, L4 checksum
#include "xmaps/sim/generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>

#include "xmaps/sim/packet.h"

namespace xmaps::sim {

namespace {

constexpr std::uint32_t kMaxFlows = 1U << 20;  // 128 MiB of templates at most
constexpr std::uint32_t kSlot = 96;            // >= the largest header: 14 + 4 + 40 + 20
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
// Simple IMIX (7:4:1), without the FCS.
constexpr std::array<std::uint32_t, 3> kImixSizes{60, 590, 1514};
constexpr std::array<std::uint8_t, 12> kImixBlock{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2};

// SplitMix64 (Steele, Lea, Flood 2014), to expand a seed into xoshiro's state.
std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

// xoshiro256** 1.0 (Blackman, Vigna 2018): fast, every output bit usable, and the same
// sequence everywhere (std:: distributions promise no particular sequence).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (std::uint64_t& w : s_)
      w = splitmix64(seed);
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17U;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) by multiply-shift (Lemire); the bias is below n / 2^32.
  std::uint32_t below(std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32U) * n) >> 32U);
  }
  // Uniform in [0, 1).
  double unit() noexcept { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << static_cast<unsigned>(k)) | (x >> static_cast<unsigned>(64 - k));
  }
  std::uint64_t s_[4]{};
};

std::uint16_t load16(const unsigned char* p) noexcept {
  return static_cast<std::uint16_t>(p[0] << 8U | p[1]);
}
std::uint32_t load32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(load16(p)) << 16U | load16(p + 2);
}
void store16(unsigned char* p, std::uint32_t v) noexcept {
  p[0] = static_cast<unsigned char>(v >> 8U);
  p[1] = static_cast<unsigned char>(v);
}
void store32(unsigned char* p, std::uint32_t v) noexcept {
  store16(p, v >> 16U);
  store16(p + 2, v);
}

// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for any number of replaced 16-bit words m -> m':
// `delta` accumulates ~m + m' per word (a word that was 0 adds just m', as ~0 is -0).
std::uint16_t csum_apply(std::uint16_t hc, std::uint64_t delta) noexcept {
  std::uint64_t s = static_cast<std::uint16_t>(~hc) + delta;
  while ((s >> 16U) != 0)
    s = (s & 0xFFFFU) + (s >> 16U);
  return static_cast<std::uint16_t>(~s);
}
std::uint64_t csum_replace(std::uint16_t old_word, std::uint16_t new_word) noexcept {
  return static_cast<std::uint16_t>(~old_word) + static_cast<std::uint64_t>(new_word);
}

struct SizePatch {
  std::uint16_t len;      // frame bytes
  std::uint16_t ip_len;   // IPv4 total length or IPv6 payload length
  std::uint16_t ip_csum;  // IPv4 only
  std::uint16_t l4_len;   // UDP only
  std::uint16_t l4_csum;
};

struct alignas(64) FlowTemplate {
  unsigned char bytes[kSlot];
  std::uint8_t l3;
  std::uint8_t l4;
  SizePatch sizes[3];
};
static_assert(sizeof(FlowTemplate) == 128, "a template is two cache lines");

// Walker's alias method (Vose's construction): O(1) per draw from one 64-bit random, the
// high half picking a column and the low half deciding between it and its alias.
struct AliasEntry {
  std::uint32_t threshold;  // keep the column if the low 32 random bits are below this
  std::uint32_t alias;
};

std::vector<AliasEntry> make_alias(const std::vector<double>& weights) {
  const std::size_t n = weights.size();
  double total = 0;
  for (double w : weights)
    total += w;
  std::vector<double> p(n);
  std::vector<std::uint32_t> small;
  std::vector<std::uint32_t> large;
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = weights[i] * static_cast<double>(n) / total;
    (p[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
  }
  std::vector<AliasEntry> table(n);
  while (!small.empty() && !large.empty()) {
    const std::uint32_t s = small.back();
    small.pop_back();
    const std::uint32_t l = large.back();
    const double t = std::ldexp(p[s], 32);
    table[s] = {t >= 4294967295.0 ? 0xFFFFFFFFU : static_cast<std::uint32_t>(t), l};
    p[l] = (p[l] + p[s]) - 1.0;
    if (p[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left is full up to rounding error: always keep the column.
  for (std::uint32_t i : small)
    table[i] = {0xFFFFFFFFU, i};
  for (std::uint32_t i : large)
    table[i] = {0xFFFFFFFFU, i};
  return table;
}

std::uint64_t tuple_key(const FlowTuple& f) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ULL;  // FNV-1a 64
  auto mix = [&h](std::uint8_t b) {
    h ^= b;
    h *= 0x100000001B3ULL;
  };
  mix(f.ip_version);
  mix(f.protocol);
  mix(static_cast<std::uint8_t>(f.src_port >> 8U));
  mix(static_cast<std::uint8_t>(f.src_port));
  mix(static_cast<std::uint8_t>(f.dst_port >> 8U));
  mix(static_cast<std::uint8_t>(f.dst_port));
  for (std::uint8_t b : f.src_ip)
    mix(b);
  for (std::uint8_t b : f.dst_ip)
    mix(b);
  return h;
}

std::uint16_t random_port(Rng& rng) noexcept {
  return static_cast<std::uint16_t>(1024 + rng.below(65536 - 1024));  // unprivileged ports
}

// Source 10.0.0.0/8 or fd00:0:0:1::/64; destination 192.168.0.0/16 or fd00:0:0:2::/64.
void random_address(Rng& rng, bool v6, bool source, std::array<std::uint8_t, 16>& out) {
  out = {};
  const std::uint64_t r = rng.next();
  if (v6) {
    out[0] = 0xFD;
    out[7] = source ? 1 : 2;
    for (int i = 0; i < 8; ++i)
      out[8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(r >> (8U * unsigned(i)));
  } else if (source) {
    out[0] = 10;
    out[1] = static_cast<std::uint8_t>(r);
    out[2] = static_cast<std::uint8_t>(r >> 8U);
    out[3] = static_cast<std::uint8_t>(r >> 16U);
  } else {
    out[0] = 192;
    out[1] = 168;
    out[2] = static_cast<std::uint8_t>(r);
    out[3] = static_cast<std::uint8_t>(r >> 8U);
  }
}

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("xmaps::sim: TrafficConfig." + what);
}

bool mix_uses_table_size(FlowMix m) noexcept {
  return m != FlowMix::syn_flood;
}

}  // namespace

std::string_view to_string(FlowMix m) noexcept {
  switch (m) {
    case FlowMix::uniform: return "uniform";
    case FlowMix::zipf: return "zipf";
    case FlowMix::elephants_mice: return "elephants";
    case FlowMix::syn_flood: return "syn-flood";
    case FlowMix::single_destination: return "single-dst";
  }
  return "unknown";
}

bool parse_flow_mix(std::string_view s, FlowMix& out) noexcept {
  for (FlowMix m : {FlowMix::uniform, FlowMix::zipf, FlowMix::elephants_mice, FlowMix::syn_flood,
                    FlowMix::single_destination}) {
    if (s == to_string(m)) {
      out = m;
      return true;
    }
  }
  return false;
}

void validate(const TrafficConfig& cfg) {
  if (cfg.mix > FlowMix::single_destination)
    bad("mix is not a known FlowMix");
  if (mix_uses_table_size(cfg.mix) && (cfg.flows < 1 || cfg.flows > kMaxFlows))
    bad("flows must be in 1 .. " + std::to_string(kMaxFlows) + " (got " +
        std::to_string(cfg.flows) + ")");
  if (cfg.mix == FlowMix::zipf && !(cfg.zipf_s > 0.0 && std::isfinite(cfg.zipf_s)))
    bad("zipf_s must be a finite number > 0 (got " + std::to_string(cfg.zipf_s) + ")");
  if (cfg.mix == FlowMix::elephants_mice) {
    if (cfg.elephants < 1 || cfg.elephants >= cfg.flows)
      bad("elephants must be in 1 .. flows - 1 (got " + std::to_string(cfg.elephants) +
          " with flows " + std::to_string(cfg.flows) + ")");
    if (!(cfg.elephant_share > 0.0 && cfg.elephant_share < 1.0))
      bad("elephant_share must be in (0, 1) (got " + std::to_string(cfg.elephant_share) + ")");
  }
  if (cfg.protocol != kProtoUdp && cfg.protocol != kProtoTcp)
    bad("protocol must be 17 (UDP) or 6 (TCP) (got " + std::to_string(cfg.protocol) + ")");
  if (!(cfg.ipv6_share >= 0.0 && cfg.ipv6_share <= 1.0))
    bad("ipv6_share must be in [0, 1] (got " + std::to_string(cfg.ipv6_share) + ")");
  if (cfg.vlan_id > 4095)
    bad("vlan_id must be in 0 .. 4095 (got " + std::to_string(cfg.vlan_id) + ")");
  if (cfg.sizes != SizeMix::fixed && cfg.sizes != SizeMix::imix)
    bad("sizes is not a known SizeMix");
  if (cfg.sizes == SizeMix::fixed && (cfg.frame_len < kMinFrame || cfg.frame_len > kMaxFrame))
    bad("frame_len must be in " + std::to_string(kMinFrame) + " .. " + std::to_string(kMaxFrame) +
        " (got " + std::to_string(cfg.frame_len) + ")");
  if ((cfg.mix == FlowMix::syn_flood || cfg.mix == FlowMix::single_destination) &&
      cfg.destination.ip_version != 4 && cfg.destination.ip_version != 6)
    bad("destination.ip_version must be 4 or 6 (got " + std::to_string(cfg.destination.ip_version) +
        ")");
}

struct TrafficGenerator::Impl {
  TrafficConfig cfg;
  std::vector<FlowTuple> flows;
  std::vector<FlowTemplate> templates;  // [flows.size()], or [1] for syn_flood
  std::vector<AliasEntry> alias;        // zipf, elephants_mice
  std::vector<std::uint32_t> tcp_seq;   // next sequence number per flow (TCP, not syn_flood)
  // Separate streams, so drawing flows ahead (below) never shifts the sizes or the sources.
  Rng flow_rng;
  Rng size_rng;
  Rng source_rng;
  // The next kLookahead flows, drawn early so their templates can be prefetched: with a big
  // table a template is a cache miss, and this overlaps it with the frames before it. Kept
  // across fill() calls, so the frames do not depend on how the caller batches them.
  static constexpr std::uint32_t kLookahead = 8;
  std::array<std::uint32_t, kLookahead> ahead{};
  std::uint32_t ahead_pos = 0;
  bool imix = false;
  bool tcp = false;
  bool syn = false;
  std::array<std::uint8_t, 12> imix_block = kImixBlock;
  std::uint32_t imix_pos = 12;  // reshuffle before the first packet
  std::uint64_t generated = 0;
  std::uint64_t oversize = 0;

  // Stream seeds: the seed's splitmix64 sequence (the table uses the seed itself).
  explicit Impl(const TrafficConfig& c, std::uint64_t x)
      : cfg(c), flow_rng(splitmix64(x)), size_rng(splitmix64(x)), source_rng(splitmix64(x)) {}

  std::uint32_t draw_flow() noexcept {
    const auto nflows = static_cast<std::uint32_t>(templates.size());
    if (!alias.empty()) {
      const std::uint64_t r = flow_rng.next();
      const auto col = static_cast<std::uint32_t>(((r >> 32U) * nflows) >> 32U);
      const AliasEntry& e = alias[col];
      return static_cast<std::uint32_t>(r) < e.threshold ? col : e.alias;
    }
    return nflows > 1 ? flow_rng.below(nflows) : 0;
  }
  void prime() noexcept {
    for (std::uint32_t& k : ahead)
      k = draw_flow();
  }
  std::uint32_t next_flow() noexcept {
    const std::uint32_t k = ahead[ahead_pos];
    const std::uint32_t fresh = draw_flow();
    ahead[ahead_pos] = fresh;
    ahead_pos = (ahead_pos + 1) % kLookahead;
    __builtin_prefetch(&templates[fresh]);
    __builtin_prefetch(&templates[fresh].bytes[64]);
    if (!tcp_seq.empty())
      __builtin_prefetch(&tcp_seq[fresh], 1);
    return k;
  }

  void build_flows();
  void build_template(const FlowTuple& flow, std::uint32_t tcp_seq0, FlowTemplate& t) const;
  // flow_of: null, or room for n flow indices (FrameSource::fill_with_flows()).
  std::size_t fill(Frame* const* frames, std::size_t n, std::uint32_t* flow_of) noexcept;
};

void TrafficGenerator::Impl::build_flows() {
  Rng table_rng(cfg.seed);
  imix = cfg.sizes == SizeMix::imix;
  syn = cfg.mix == FlowMix::syn_flood;
  tcp = syn || cfg.protocol == kProtoTcp;
  if (syn) {
    // One template with a zero source; each packet adds its source to the checksums.
    FlowTuple target = cfg.destination;
    target.protocol = kProtoTcp;
    target.src_ip = {};
    target.src_port = 0;
    templates.resize(1);
    build_template(target, 0, templates[0]);
    return;
  }

  const bool single = cfg.mix == FlowMix::single_destination;
  std::unordered_set<std::uint64_t> seen;
  seen.reserve(cfg.flows * 2ULL);
  flows.reserve(cfg.flows);
  while (flows.size() < cfg.flows) {
    FlowTuple f;
    f.protocol = cfg.protocol;
    if (single) {
      f.ip_version = cfg.destination.ip_version;
      f.dst_ip = cfg.destination.dst_ip;
      f.dst_port = cfg.destination.dst_port;
      random_address(table_rng, f.ip_version == 6, true, f.src_ip);
      f.src_port = random_port(table_rng);
    } else {
      f.ip_version = table_rng.unit() < cfg.ipv6_share ? 6 : 4;
      random_address(table_rng, f.ip_version == 6, true, f.src_ip);
      random_address(table_rng, f.ip_version == 6, false, f.dst_ip);
      f.src_port = random_port(table_rng);
      f.dst_port = random_port(table_rng);
    }
    if (seen.insert(tuple_key(f)).second)
      flows.push_back(f);
  }

  templates.resize(flows.size());
  if (tcp)
    tcp_seq.resize(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto seq0 = static_cast<std::uint32_t>(table_rng.next());
    if (tcp)
      tcp_seq[i] = seq0;
    build_template(flows[i], seq0, templates[i]);
  }

  if (cfg.mix == FlowMix::zipf || cfg.mix == FlowMix::elephants_mice) {
    std::vector<double> weights(flows.size());
    for (std::size_t k = 0; k < weights.size(); ++k) {
      if (cfg.mix == FlowMix::zipf)
        weights[k] = std::pow(static_cast<double>(k + 1), -cfg.zipf_s);
      else if (k < cfg.elephants)
        weights[k] = cfg.elephant_share / cfg.elephants;
      else
        weights[k] = (1.0 - cfg.elephant_share) / (cfg.flows - cfg.elephants);
    }
    alias = make_alias(weights);
  }
}

void TrafficGenerator::Impl::build_template(const FlowTuple& flow, std::uint32_t tcp_seq0,
                                            FlowTemplate& t) const {
  PacketSpec spec;
  spec.flow = flow;
  spec.vlan = cfg.vlan;
  spec.vlan_id = cfg.vlan_id;
  spec.tcp_flags = syn ? kTcpSyn : kTcpAck;
  spec.tcp_seq = tcp_seq0;
  spec.frame_len = kMinFrame;
  std::memset(t.bytes, 0, kSlot);
  const std::uint32_t base = build_packet(spec, t.bytes, kSlot);  // <= 78 bytes: always fits
  t.l3 = static_cast<std::uint8_t>(kEthHeader + (cfg.vlan ? kVlanTag : 0));
  t.l4 = static_cast<std::uint8_t>(t.l3 + (flow.ip_version == 6 ? 40 : 20));
  const bool v6 = flow.ip_version == 6;
  const unsigned char* ip = t.bytes + t.l3;
  const unsigned char* l4 = t.bytes + t.l4;
  const std::uint16_t ip_len0 = load16(v6 ? ip + 4 : ip + 2);
  const std::uint16_t ip_csum0 = v6 ? 0 : load16(ip + 10);
  const std::uint32_t l4_len0 = base - t.l4;
  const std::uint16_t l4_csum0 = load16(l4 + (tcp ? 16 : 6));
  for (std::size_t s = 0; s < 3; ++s) {
    std::uint32_t len = imix ? kImixSizes[s] : cfg.frame_len;
    len = std::max(len, base);
    const std::uint32_t l4_len = len - t.l4;
    SizePatch& p = t.sizes[s];
    p.len = static_cast<std::uint16_t>(len);
    p.ip_len = static_cast<std::uint16_t>(v6 ? l4_len : len - t.l3);
    p.ip_csum = v6 ? 0 : csum_apply(ip_csum0, csum_replace(ip_len0, p.ip_len));
    p.l4_len = static_cast<std::uint16_t>(l4_len);
    // The pseudo-header's length (and UDP's own length field) change; the zeros add nothing.
    std::uint64_t delta = csum_replace(static_cast<std::uint16_t>(l4_len0), p.l4_len);
    if (!tcp)
      delta += delta;
    p.l4_csum = csum_apply(l4_csum0, delta);
    if (!tcp && p.l4_csum == 0)
      p.l4_csum = 0xFFFF;  // RFC 768: 0 would mean "no checksum"
  }
  if (!imix) {
    // Fixed size: the template is already the frame's first kSlot bytes.
    unsigned char* w = t.bytes;
    const SizePatch& p = t.sizes[0];
    store16(w + t.l3 + (v6 ? 4 : 2), p.ip_len);
    if (!v6)
      store16(w + t.l3 + 10, p.ip_csum);
    if (!tcp)
      store16(w + t.l4 + 4, p.l4_len);
    store16(w + t.l4 + (tcp ? 16 : 6), p.l4_csum);
  }
}

std::size_t TrafficGenerator::Impl::fill(Frame* const* frames, std::size_t n,
                                         std::uint32_t* flow_of) noexcept {
  const std::uint32_t csum_off = tcp ? 16 : 6;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t k = syn ? 0 : next_flow();
    std::uint32_t s = 0;
    if (imix) {
      if (imix_pos == imix_block.size()) {
        for (std::uint32_t j = static_cast<std::uint32_t>(imix_block.size()) - 1; j > 0; --j)
          std::swap(imix_block[j], imix_block[size_rng.below(j + 1)]);  // Fisher-Yates
        imix_pos = 0;
      }
      s = imix_block[imix_pos++];
    }
    const FlowTemplate& t = templates[k];
    const SizePatch& p = t.sizes[s];
    Frame* const f = frames[i];
    const std::uint32_t capacity = f->buffer_size() - f->headroom();
    const std::uint32_t len = p.len;
    if (len > capacity) {
      ++oversize;
      return i;
    }
    unsigned char* d = f->data;
    if (capacity >= kSlot) {
      std::memcpy(d, t.bytes, kSlot);  // a constant size: a few vector moves
      if (len > kSlot)
        std::memset(d + kSlot, 0, len - kSlot);
    } else {
      std::memcpy(d, t.bytes, len);
    }
    const bool v6 = t.l4 - t.l3 == 40;
    unsigned char* ip = d + t.l3;
    unsigned char* l4 = d + t.l4;
    if (imix) {
      store16(ip + (v6 ? 4 : 2), p.ip_len);
      if (!v6)
        store16(ip + 10, p.ip_csum);
      if (!tcp)
        store16(l4 + 4, p.l4_len);
      store16(l4 + csum_off, p.l4_csum);
    }
    if (syn) {
      // A new source each packet, added to checksums computed with a zero source.
      std::uint64_t ip_delta = 0;
      std::uint64_t l4_delta = 0;
      unsigned char* src = ip + (v6 ? 8 : 12);
      if (v6) {
        const std::uint64_t a = source_rng.next();
        const std::uint64_t b = source_rng.next();
        store32(src, 0xFD000000U | static_cast<std::uint32_t>(a >> 40U));
        store32(src + 4, static_cast<std::uint32_t>(a));
        store32(src + 8, static_cast<std::uint32_t>(b >> 32U));
        store32(src + 12, static_cast<std::uint32_t>(b));
        for (std::uint32_t w = 0; w < 16; w += 2)
          l4_delta += load16(src + w);
      } else {
        const auto a = static_cast<std::uint32_t>(source_rng.next() >> 32U);
        store32(src, a);
        ip_delta = (a >> 16U) + (a & 0xFFFFU);
        l4_delta = ip_delta;
      }
      const std::uint64_t r = source_rng.next();
      const auto port = static_cast<std::uint16_t>(1024 + (((r >> 48U) * (65536 - 1024)) >> 16U));
      const auto seq = static_cast<std::uint32_t>(r);
      store16(l4, port);
      store32(l4 + 4, seq);
      l4_delta += port + (seq >> 16U) + (seq & 0xFFFFU);
      if (!v6)
        store16(ip + 10, csum_apply(load16(ip + 10), ip_delta));
      store16(l4 + 16, csum_apply(load16(l4 + 16), l4_delta));
    } else if (tcp) {
      const std::uint32_t old_seq = load32(l4 + 4);
      const std::uint32_t seq = tcp_seq[k];
      store32(l4 + 4, seq);
      const std::uint64_t delta =
          csum_replace(static_cast<std::uint16_t>(old_seq >> 16U),
                       static_cast<std::uint16_t>(seq >> 16U)) +
          csum_replace(static_cast<std::uint16_t>(old_seq), static_cast<std::uint16_t>(seq));
      store16(l4 + 16, csum_apply(load16(l4 + 16), delta));
      tcp_seq[k] = seq + (len - t.l4 - 20);  // the next segment follows this one's payload
    }
    f->len = len;
    if (flow_of != nullptr)
      flow_of[i] = syn ? kNoFlow : k;
    ++generated;
  }
  return n;
}

TrafficGenerator::TrafficGenerator(const TrafficConfig& cfg) {
  validate(cfg);
  impl_ = std::make_unique<Impl>(cfg, cfg.seed);
  impl_->build_flows();
  impl_->prime();
}

TrafficGenerator::~TrafficGenerator() = default;

std::size_t TrafficGenerator::fill(Frame* const* frames, std::size_t n) {
  return impl_->fill(frames, n, nullptr);
}
std::size_t TrafficGenerator::fill_with_flows(Frame* const* frames, std::size_t n,
                                              std::uint32_t* flows) {
  return impl_->fill(frames, n, flows);
}
std::uint32_t TrafficGenerator::flow_count() const noexcept {
  return impl_->syn ? 0 : static_cast<std::uint32_t>(impl_->flows.size());
}
std::uint64_t TrafficGenerator::generated() const noexcept {
  return impl_->generated;
}
std::uint64_t TrafficGenerator::oversize() const noexcept {
  return impl_->oversize;
}
const TrafficConfig& TrafficGenerator::config() const noexcept {
  return impl_->cfg;
}
const std::vector<FlowTuple>& TrafficGenerator::flows() const noexcept {
  return impl_->flows;
}

// Token bucket. It starts full, so the first call may send a whole burst; time running
// backwards (now_ns below the last call) adds nothing.
Pacer::Pacer(double pps, std::uint32_t burst) : pps_(pps), burst_(burst) {
  if (!(pps >= 0.0) || !std::isfinite(pps))
    throw std::invalid_argument("xmaps::sim: Pacer pps must be a finite number >= 0 (got " +
                                std::to_string(pps) + ")");
  if (burst == 0)
    throw std::invalid_argument("xmaps::sim: Pacer burst must be >= 1");
  tokens_ = burst;
}

std::uint32_t Pacer::allowance(std::uint64_t now_ns) noexcept {
  if (unlimited())
    return burst_;
  if (!started_) {
    started_ = true;
    last_ns_ = now_ns;
  } else if (now_ns > last_ns_) {
    tokens_ += static_cast<double>(now_ns - last_ns_) * pps_ / 1e9;
    if (tokens_ > burst_)
      tokens_ = burst_;
    last_ns_ = now_ns;
  }
  return static_cast<std::uint32_t>(tokens_);
}

void Pacer::consume(std::uint32_t n) noexcept {
  if (unlimited())
    return;
  tokens_ -= n;
  if (tokens_ < 0.0)
    tokens_ = 0.0;
}

}  // namespace xmaps::sim
