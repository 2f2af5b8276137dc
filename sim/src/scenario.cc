// SPDX-License-Identifier: MIT
//
// Scenario knobs (xmaps/sim/scenario.h): one table of {name, help, kind, set, get} that the
// CLI, the JSON and TOML config files and the JSON echo all go through, and validate().
#include "xmaps/sim/scenario.h"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#if XMAPS_SIM_HAVE_TOML
#include <toml++/toml.h>
#endif

#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/sim/packet.h"

namespace xmaps::sim {

std::string_view to_string(Placement p) noexcept {
  switch (p) {
    case Placement::compact: return "compact";
    case Placement::numa: return "numa";
    case Placement::skip_smt: return "skip-smt";
    case Placement::spread: return "spread";
  }
  return "?";
}

bool parse_placement(std::string_view s, Placement& out) noexcept {
  for (Placement p :
       {Placement::compact, Placement::numa, Placement::skip_smt, Placement::spread}) {
    if (s == to_string(p)) {
      out = p;
      return true;
    }
  }
  return false;
}

namespace {

using Kind = KnobInfo::Kind;

// Appends `item` to a comma-separated list.
void append_item(std::string& list, const std::string& item) {
  if (!list.empty())
    list.push_back(',');
  list.append(item);
}

[[noreturn]] void bad_value(std::string_view name, std::string_view value, std::string_view what) {
  throw std::invalid_argument(std::string(name) + ": '" + std::string(value) + "' is not " +
                              std::string(what));
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::uint64_t to_u64(std::string_view name, std::string_view text, std::uint64_t max) {
  const std::string_view t = trim(text);
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc{} || p != t.data() + t.size())
    bad_value(name, text, "a non-negative integer");
  if (v > max)
    bad_value(name, text, "in range (at most " + std::to_string(max) + ")");
  return v;
}

std::uint32_t to_u32(std::string_view name, std::string_view text) {
  return static_cast<std::uint32_t>(to_u64(name, text, UINT32_MAX));
}

double to_double(std::string_view name, std::string_view text) {
  const std::string_view t = trim(text);
  double v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc{} || p != t.data() + t.size() || !std::isfinite(v))
    bad_value(name, text, "a number");
  return v;
}

bool to_bool(std::string_view name, std::string_view text) {
  const std::string_view t = trim(text);
  if (t == "true" || t == "1" || t == "yes" || t == "on")
    return true;
  if (t == "false" || t == "0" || t == "no" || t == "off")
    return false;
  bad_value(name, text, "a boolean (true/false)");
}

// "0-3,8,10-11" (or empty) -> ids in the order written.
std::vector<int> to_cpu_list(std::string_view name, std::string_view text) {
  std::vector<int> out;
  std::string_view rest = trim(text);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const std::size_t dash = item.find('-');
    const auto lo = static_cast<int>(to_u64(name, item.substr(0, dash), 1U << 16));
    int hi = lo;
    if (dash != std::string_view::npos)
      hi = static_cast<int>(to_u64(name, item.substr(dash + 1), 1U << 16));
    if (hi < lo)
      bad_value(name, text, "a CPU list (a range goes up: 2-5)");
    for (int c = lo; c <= hi; ++c)
      out.push_back(c);
  }
  return out;
}

std::string from_cpu_list(const std::vector<int>& cpus) {
  std::string s;
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
      ++j;
    append_item(s, std::to_string(cpus[i]));
    if (j > i + 1) {
      s.push_back('-');
      s.append(std::to_string(cpus[j]));
      i = j;
    }
  }
  return s;
}

std::string from_double(double v) {
  char buf[64];
  const auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, p) : std::to_string(v);
}

std::string from_bool(bool b) {
  return b ? "true" : "false";
}

// "192.168.0.1:4791" or "[fd00::1]:4791" -> the destination's IP version, address and port
// (the rest of `out` is left as it is).
void to_destination(std::string_view name, std::string_view text, FlowTuple& out) {
  constexpr std::string_view kForm = "IP:PORT (a.b.c.d:PORT, or [IPv6 address]:PORT)";
  const std::string_view t = trim(text);
  const bool v6 = !t.empty() && t.front() == '[';
  std::string_view addr;
  std::string_view port;
  if (v6) {
    const std::size_t close = t.find(']');
    if (close == std::string_view::npos || close + 1 >= t.size() || t[close + 1] != ':')
      bad_value(name, text, kForm);
    addr = t.substr(1, close - 1);
    port = t.substr(close + 2);
  } else {
    const std::size_t colon = t.find(':');
    if (colon == std::string_view::npos)
      bad_value(name, text, kForm);
    if (t.find(':', colon + 1) != std::string_view::npos)
      bad_value(name, text, "IP:PORT (an IPv6 address goes in brackets: [fd00::1]:PORT)");
    addr = t.substr(0, colon);
    port = t.substr(colon + 1);
  }
  std::array<std::uint8_t, 16> ip{};
  if (inet_pton(v6 ? AF_INET6 : AF_INET, std::string(addr).c_str(), ip.data()) != 1)
    bad_value(name, text,
              v6 ? "[IPv6 address]:PORT (the address does not parse)"
                 : "IP:PORT (the IPv4 address a.b.c.d does not parse)");
  std::uint32_t p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535)
    bad_value(name, text, "IP:PORT with a port 1..65535");
  out.ip_version = v6 ? 6 : 4;
  out.dst_ip = ip;
  out.dst_port = static_cast<std::uint16_t>(p);
}

std::string from_destination(const FlowTuple& d) {
  const bool v6 = d.ip_version == 6;
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, d.dst_ip.data(), buf, sizeof buf) == nullptr)
    return "?";
  // Appended piece by piece: GCC 12's -Wrestrict misfires at -O3 on `"[" + std::string(...)`.
  std::string out;
  if (v6)
    out += '[';
  out += buf;
  if (v6)
    out += ']';
  out += ':';
  out += std::to_string(d.dst_port);
  return out;
}

std::string hex_key(const std::array<std::uint8_t, kRssKeySize>& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i != 0)
      s += ':';
    s += kHex[key[i] >> 4];
    s += kHex[key[i] & 15];
  }
  return s;
}

struct Knob {
  KnobInfo info;
  std::function<void(Scenario&, std::string_view)> set;
  std::function<std::string(const Scenario&)> get;
};

// Knob builders for the common field types.
template <class Field>
Knob u32_knob(std::string name, std::string help, Field field) {
  std::string n = name;
  return {{std::move(name), std::move(help), Kind::integer},
          [n, field](Scenario& s, std::string_view v) { field(s) = to_u32(n, v); },
          [field](const Scenario& s) { return std::to_string(field(s)); }};
}
// A count >= 1, or "auto" (stored as 0).
template <class Field>
Knob auto_knob(std::string name, std::string help, Field field) {
  std::string n = name;
  return {{std::move(name), std::move(help), Kind::integer},
          [n, field](Scenario& s, std::string_view v) {
            if (trim(v) == "auto") {
              field(s) = 0;
              return;
            }
            const std::uint32_t x = to_u32(n, v);
            if (x == 0)
              bad_value(n, v, "a count >= 1 (or auto)");
            field(s) = x;
          },
          [field](const Scenario& s) {
            return field(s) == 0 ? std::string("auto") : std::to_string(field(s));
          }};
}
template <class Field>
Knob u64_knob(std::string name, std::string help, Field field) {
  std::string n = name;
  return {{std::move(name), std::move(help), Kind::integer},
          [n, field](Scenario& s, std::string_view v) { field(s) = to_u64(n, v, UINT64_MAX); },
          [field](const Scenario& s) { return std::to_string(field(s)); }};
}
template <class Field>
Knob double_knob(std::string name, std::string help, Field field) {
  std::string n = name;
  return {{std::move(name), std::move(help), Kind::number},
          [n, field](Scenario& s, std::string_view v) { field(s) = to_double(n, v); },
          [field](const Scenario& s) { return from_double(field(s)); }};
}
template <class Field>
Knob bool_knob(std::string name, std::string help, Field field) {
  std::string n = name;
  return {{std::move(name), std::move(help), Kind::boolean},
          [n, field](Scenario& s, std::string_view v) { field(s) = to_bool(n, v); },
          [field](const Scenario& s) { return from_bool(field(s)); }};
}
template <class Field>
Knob text_knob(std::string name, std::string help, Field field) {
  return {{std::move(name), std::move(help), Kind::text},
          [field](Scenario& s, std::string_view v) { field(s) = std::string(v); },
          [field](const Scenario& s) { return field(s); }};
}
template <class Field>
Knob cpu_knob(std::string name, std::string help, Field field) {
  std::string n = name;
  return {{std::move(name), std::move(help), Kind::cpu_list},
          [n, field](Scenario& s, std::string_view v) { field(s) = to_cpu_list(n, v); },
          [field](const Scenario& s) { return from_cpu_list(field(s)); }};
}

std::vector<Knob> make_knobs() {
  std::vector<Knob> k;
  // --- traffic ---
  k.push_back(u64_knob(
      "seed", "RNG seed: the same seed sends byte-identical frames",
      [](auto& s) -> auto& { return s.traffic.seed; }));
  k.push_back({{"mix", "flow mix: uniform | zipf | elephants | syn-flood | single-dst", Kind::text},
               [](Scenario& s, std::string_view v) {
                 if (!parse_flow_mix(trim(v), s.traffic.mix))
                   bad_value("mix", v,
                             "a flow mix (uniform, zipf, elephants, syn-flood, single-dst)");
               },
               [](const Scenario& s) {
                 // parse_flow_mix's spellings (to_string may name the enumerators).
                 switch (s.traffic.mix) {
                   case FlowMix::uniform: return std::string("uniform");
                   case FlowMix::zipf: return std::string("zipf");
                   case FlowMix::elephants_mice: return std::string("elephants");
                   case FlowMix::syn_flood: return std::string("syn-flood");
                   case FlowMix::single_destination: return std::string("single-dst");
                 }
                 return std::string("?");
               }});
  k.push_back(u32_knob(
      "flows", "number of flows (uniform, zipf, elephants, single-dst)",
      [](auto& s) -> auto& { return s.traffic.flows; }));
  k.push_back(
      {{"dst",
        "destination of --mix single-dst and syn-flood: IPv4 a.b.c.d:PORT or "
        "[IPv6]:PORT (its IP version is every flow's)",
        Kind::text},
       [](Scenario& s, std::string_view v) { to_destination("dst", v, s.traffic.destination); },
       [](const Scenario& s) { return from_destination(s.traffic.destination); }});
  k.push_back(double_knob(
      "zipf-s", "Zipf exponent s (> 0) for --mix zipf",
      [](auto& s) -> auto& { return s.traffic.zipf_s; }));
  k.push_back(u32_knob(
      "elephants", "elephant flows for --mix elephants",
      [](auto& s) -> auto& { return s.traffic.elephants; }));
  k.push_back(double_knob(
      "elephant-share", "share of packets the elephants carry, in (0, 1)",
      [](auto& s) -> auto& { return s.traffic.elephant_share; }));
  k.push_back(
      {{"protocol", "L4 protocol: udp | tcp (syn-flood is always TCP)", Kind::text},
       [](Scenario& s, std::string_view v) {
         const std::string_view t = trim(v);
         if (t == "udp")
           s.traffic.protocol = 17;
         else if (t == "tcp")
           s.traffic.protocol = 6;
         else
           bad_value("protocol", v, "udp or tcp");
       },
       [](const Scenario& s) { return std::string(s.traffic.protocol == 6 ? "tcp" : "udp"); }});
  k.push_back(
      {{"size", "frame size in bytes (60 .. 9018, without FCS) or imix (7:4:1 of 60/590/1514)",
        Kind::text},
       [](Scenario& s, std::string_view v) {
         if (trim(v) == "imix") {
           s.traffic.sizes = SizeMix::imix;
         } else {
           const std::uint32_t len = to_u32("size", v);
           if (len < kMinFrame || len > kMaxFrame)
             bad_value("size", v,
                       "a frame size in " + std::to_string(kMinFrame) + " .. " +
                           std::to_string(kMaxFrame) + " bytes (or imix)");
           s.traffic.sizes = SizeMix::fixed;
           s.traffic.frame_len = len;
         }
       },
       [](const Scenario& s) {
         return s.traffic.sizes == SizeMix::imix ? std::string("imix")
                                                 : std::to_string(s.traffic.frame_len);
       }});
  k.push_back(double_knob(
      "ipv6-share", "fraction of flows that are IPv6, in [0, 1]",
      [](auto& s) -> auto& { return s.traffic.ipv6_share; }));
  k.push_back(bool_knob(
      "vlan", "add an 802.1Q tag to every frame", [](auto& s) -> auto& { return s.traffic.vlan; }));
  k.push_back({{"vlan-id", "VLAN id (0 .. 4095) with --vlan", Kind::integer},
               [](Scenario& s, std::string_view v) {
                 s.traffic.vlan_id = static_cast<std::uint16_t>(to_u64("vlan-id", v, 4095));
               },
               [](const Scenario& s) { return std::to_string(s.traffic.vlan_id); }});
  k.push_back(text_knob(
      "pcap-in",
      "replay this pcap file instead of generating traffic (a capture with truncated frames, "
      "too short for their headers, is refused: see --pcap-truncated-ok)",
      [](auto& s) -> auto& { return s.pcap_in; }));
  k.push_back(bool_knob(
      "pcap-loop", "replay the capture from the start again at its end",
      [](auto& s) -> auto& { return s.pcap_loop; }));
  k.push_back(bool_knob(
      "pcap-truncated-ok",
      "replay truncated frames of --pcap-in as they are, as a NIC delivers runts (counted "
      "unparsed, docs/sim.md) instead of refusing the capture",
      [](auto& s) -> auto& { return s.pcap_truncated_ok; }));
  k.push_back(text_knob(
      "pcap-out", "write the first --pcap-out-packets frames to this pcap file",
      [](auto& s) -> auto& { return s.pcap_out; }));
  k.push_back(u64_knob(
      "pcap-out-packets", "how many frames --pcap-out writes",
      [](auto& s) -> auto& { return s.pcap_out_packets; }));
  // --- RSS ---
  k.push_back(auto_knob(
      "queues", "RX queues, 1 .. 128 (auto: one per ingress CPU, at least 2)",
      [](auto& s) -> auto& { return s.rss.queues; }));
  k.push_back(
      {{"reta", "RSS indirection table: round-robin | 'equal N' | 128 comma-separated queues",
        Kind::text},
       [](Scenario& s, std::string_view v) {
         const std::string_view t = trim(v);
         s.rss.reta.clear();
         s.reta_equal_n = 0;
         if (t == "round-robin" || t.empty())
           return;
         if (t.substr(0, 6) == "equal ") {
           s.reta_equal_n = to_u32("reta", t.substr(6));
           if (s.reta_equal_n == 0)
             bad_value("reta", v, "'equal N' with N >= 1");
           return;
         }
         std::string_view rest = t;
         while (!rest.empty()) {
           const std::size_t comma = rest.find(',');
           s.rss.reta.push_back(to_u32("reta", rest.substr(0, comma)));
           rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
         }
         if (s.rss.reta.size() != kRetaSize)
           bad_value("reta", v, "a table of exactly 128 entries");
       },
       [](const Scenario& s) {
         if (s.reta_equal_n != 0)
           return std::string("equal ").append(std::to_string(s.reta_equal_n));
         if (s.rss.reta.empty())
           return std::string("round-robin");
         std::string out;
         for (std::uint32_t q : s.rss.reta)
           append_item(out, std::to_string(q));
         return out;
       }});
  k.push_back({{"rss-key", "Toeplitz key: 40 hex bytes (':' or ' ' between allowed) or microsoft",
                Kind::text},
               [](Scenario& s, std::string_view v) {
                 if (trim(v) == "microsoft") {
                   s.rss.key = kMicrosoftRssKey;
                   return;
                 }
                 try {
                   s.rss.key = parse_rss_key(std::string(trim(v)));
                 } catch (const std::invalid_argument&) {
                   bad_value("rss-key", v, "40 hex bytes");
                 }
               },
               [](const Scenario& s) {
                 return s.rss.key == kMicrosoftRssKey ? std::string("microsoft")
                                                      : hex_key(s.rss.key);
               }});
  k.push_back(bool_knob(
      "udp-4tuple", "hash UDP's ports too (NICs hash UDP over the IPs only)",
      [](auto& s) -> auto& { return s.rss.udp_4tuple; }));
  // --- CPUs ---
  k.push_back(cpu_knob(
      "ingress-cpus", "ingress CPUs, e.g. 0,2-3 (empty: --ingress-count by --placement)",
      [](auto& s) -> auto& { return s.ingress_cpus; }));
  k.push_back(cpu_knob(
      "worker-cpus", "CPUMAP worker CPUs (empty: --worker-count by --placement)",
      [](auto& s) -> auto& { return s.worker_cpus; }));
  k.push_back(auto_knob(
      "ingress-count", "ingress CPUs to place (auto: a quarter of the CPUs, >= 1)",
      [](auto& s) -> auto& { return s.ingress_count; }));
  k.push_back(auto_knob(
      "worker-count",
      "worker CPUs to place (auto: every CPU --placement allows off the ingress CPUs, >= 1)",
      [](auto& s) -> auto& { return s.worker_count; }));
  k.push_back(
      {{"placement", "CPU placement by hwloc: compact | numa | skip-smt | spread", Kind::text},
       [](Scenario& s, std::string_view v) {
         if (!parse_placement(trim(v), s.placement))
           bad_value("placement", v, "compact, numa, skip-smt or spread");
       },
       [](const Scenario& s) { return std::string(to_string(s.placement)); }});
  k.push_back(u32_knob(
      "model-cpus", "model a machine with this many possible CPUs (0: this one)",
      [](auto& s) -> auto& { return s.model_cpus; }));
  k.push_back({{"source-cpu",
                "CPU of the traffic source thread: auto (a free CPU, else the first ingress "
                "CPU), none (unpinned), or a CPU id",
                Kind::text},
               [](Scenario& s, std::string_view v) {
                 const std::string_view t = trim(v);
                 if (t == "auto")
                   s.source_cpu = Scenario::kAutoCpu;
                 else if (t == "none")
                   s.source_cpu = Scenario::kNoCpu;
                 else
                   s.source_cpu = static_cast<int>(to_u64("source-cpu", t, 1U << 16));
               },
               [](const Scenario& s) {
                 return s.source_cpu == Scenario::kAutoCpu ? std::string("auto")
                        : s.source_cpu == Scenario::kNoCpu ? std::string("none")
                                                           : std::to_string(s.source_cpu);
               }});
  // --- programs ---
  k.push_back(text_knob(
      "first-program", "first (ingress) program: round-robin | hash | port | drop",
      [](auto& s) -> auto& { return s.first_program; }));
  k.push_back(u32_knob(
      "lru-entries", "flow accounting LRU entries (0: no second program)",
      [](auto& s) -> auto& { return s.lru_entries; }));
  // --- run ---
  k.push_back(double_knob(
      "duration", "seconds to run (0: until --packets)",
      [](auto& s) -> auto& { return s.duration_s; }));
  k.push_back(u64_knob(
      "packets", "packets to send (0: until --duration)",
      [](auto& s) -> auto& { return s.packets; }));
  k.push_back(double_knob(
      "rate", "target packets/s (0: as fast as the pipeline takes them)",
      [](auto& s) -> auto& { return s.rate_pps; }));
  k.push_back(u32_knob(
      "burst", "packets the pacer may send at once (with --rate)",
      [](auto& s) -> auto& { return s.burst; }));
  k.push_back(u32_knob(
      "pool", "frames in the frame pool", [](auto& s) -> auto& { return s.pool_frames; }));
  k.push_back(u32_knob(
      "frame-size", "bytes per frame buffer, 256 of them headroom (512 .. 65536)",
      [](auto& s) -> auto& { return s.frame_size; }));
  k.push_back(u32_knob(
      "rx-ring", "frames per RX queue ring (a power of two)",
      [](auto& s) -> auto& { return s.rx_ring; }));
  k.push_back(u32_knob(
      "qsize", "CPUMAP entry ring size (1 .. 16384)", [](auto& s) -> auto& { return s.qsize; }));
  k.push_back(u32_knob(
      "batch", "ingress poll batch (1 .. 64)", [](auto& s) -> auto& { return s.batch; }));
  k.push_back(u32_knob(
      "interval", "sampling interval of the time series, ms (10 .. 60000)",
      [](auto& s) -> auto& { return s.interval_ms; }));
  // --- output ---
  k.push_back(text_knob(
      "json", "write every metric, the config and the time series as JSON here",
      [](auto& s) -> auto& { return s.json_out; }));
  k.push_back(text_knob(
      "csv", "write the per-interval time series as CSV here",
      [](auto& s) -> auto& { return s.csv_out; }));
  k.push_back(bool_knob(
      "progress", "progress line on stderr while running (only on a terminal)",
      [](auto& s) -> auto& { return s.progress; }));
  return k;
}

const std::vector<Knob>& knobs() {
  static const std::vector<Knob> table = make_knobs();
  return table;
}

const Knob& knob(std::string_view name) {
  for (const Knob& k : knobs()) {
    if (k.info.name == name)
      return k;
  }
  throw std::invalid_argument("unknown setting '" + std::string(name) + "'");
}

[[noreturn]] void invalid(const std::string& what) {
  throw std::invalid_argument(what);
}

void check_cpus(const char* what, const std::vector<int>& cpus, int limit) {
  std::set<int> seen;
  for (int c : cpus) {
    if (c < 0 || c >= limit) {
      invalid(std::string(what) + ": CPU " + std::to_string(c) + " does not exist: CPUs are 0.." +
              std::to_string(limit - 1) +
              " (use model-cpus to model a larger machine; its extra CPUs run unpinned)");
    }
    if (!seen.insert(c).second)
      invalid(std::string(what) + ": CPU " + std::to_string(c) + " is listed twice");
  }
}

}  // namespace

const std::vector<KnobInfo>& scenario_knobs() {
  static const std::vector<KnobInfo> infos = [] {
    std::vector<KnobInfo> v;
    for (const Knob& k : knobs())
      v.push_back(k.info);
    return v;
  }();
  return infos;
}

void set_knob(Scenario& s, std::string_view name, std::string_view value) {
  knob(name).set(s, value);
}

std::string get_knob(const Scenario& s, std::string_view name) {
  return knob(name).get(s);
}

void validate(const Scenario& s) {
  try {
    validate(s.traffic);
  } catch (const std::invalid_argument& e) {
    invalid(std::string("traffic: ") + e.what());
  }
  if (s.rss.queues > kRetaSize)
    invalid("queues must be 1..128 (or auto), got " + std::to_string(s.rss.queues));
  if (!s.rss.reta.empty()) {
    if (s.rss.reta.size() != kRetaSize)
      invalid("reta must have exactly 128 entries, got " + std::to_string(s.rss.reta.size()));
    if (s.rss.queues != 0) {
      for (std::uint32_t q : s.rss.reta) {
        if (q >= s.rss.queues)
          invalid("reta: queue " + std::to_string(q) + " >= queues (" +
                  std::to_string(s.rss.queues) + ")");
      }
    }
  }
  if (s.reta_equal_n > kRetaSize || (s.rss.queues != 0 && s.reta_equal_n > s.rss.queues))
    invalid("reta 'equal " + std::to_string(s.reta_equal_n) + "': N must be 1..queues");
  // The possible CPUs: the modelled count, or this machine's (which fixes it).
  const int limit = s.model_cpus > 0 ? static_cast<int>(s.model_cpus) : possible_cpus();
  if (s.model_cpus > CpuMap::kMaxEntries)
    invalid("model-cpus must be at most 65536, got " + std::to_string(s.model_cpus));
  check_cpus("ingress-cpus", s.ingress_cpus, limit);
  check_cpus("worker-cpus", s.worker_cpus, limit);
  if (s.source_cpu >= 0)
    check_cpus("source-cpu", {s.source_cpu}, limit);
  else if (s.source_cpu != Scenario::kAutoCpu && s.source_cpu != Scenario::kNoCpu)
    invalid("source-cpu must be auto, none or a CPU id");
  if (s.ingress_count > static_cast<std::uint32_t>(limit) ||
      s.worker_count > static_cast<std::uint32_t>(limit))
    invalid("ingress-count / worker-count must be at most the " + std::to_string(limit) +
            " possible CPUs");
  if (s.first_program != "round-robin" && s.first_program != "hash" && s.first_program != "port" &&
      s.first_program != "drop")
    invalid("first-program must be round-robin, hash, port or drop, got '" + s.first_program + "'");
  if (!(s.duration_s >= 0) || !std::isfinite(s.duration_s) || s.duration_s > 86400)
    invalid("duration must be 0..86400 seconds, got " + from_double(s.duration_s));
  if (s.duration_s == 0 && s.packets == 0 && (s.pcap_in.empty() || s.pcap_loop))
    invalid("neither duration nor packets is set: the run would not end");
  if (!(s.rate_pps >= 0) || !std::isfinite(s.rate_pps))
    invalid("rate must be >= 0 packets/s (0: as fast as possible), got " + from_double(s.rate_pps));
  if (s.burst == 0)
    invalid("burst must be at least 1");
  if (s.batch == 0 || s.batch > CpuMap::kMaxBatch)
    invalid("batch must be 1..64, got " + std::to_string(s.batch));
  if (s.pool_frames < s.batch)
    invalid("pool must hold at least one batch (" + std::to_string(s.batch) + " frames), got " +
            std::to_string(s.pool_frames));
  if (s.frame_size < 512 || s.frame_size > 65536)
    invalid("frame-size must be 512..65536 bytes, got " + std::to_string(s.frame_size));
  if (s.traffic.sizes == SizeMix::fixed && s.pcap_in.empty() &&
      s.traffic.frame_len + 256 > s.frame_size)
    invalid("size " + std::to_string(s.traffic.frame_len) + " does not fit a frame of " +
            std::to_string(s.frame_size) + " bytes with 256 of headroom (raise frame-size)");
  if (s.rx_ring < 2 || s.rx_ring > (1U << 20) || (s.rx_ring & (s.rx_ring - 1)) != 0)
    invalid("rx-ring must be a power of two in 2..1048576, got " + std::to_string(s.rx_ring));
  if (s.qsize == 0 || s.qsize > CpuMap::kMaxQsize)
    invalid("qsize must be 1..16384, got " + std::to_string(s.qsize));
  if (s.interval_ms < 10 || s.interval_ms > 60000)
    invalid("interval must be 10..60000 ms, got " + std::to_string(s.interval_ms));
}

std::string scenario_to_json(const Scenario& s, int indent) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const Knob& k : knobs()) {
    const std::string text = k.get(s);
    switch (k.info.kind) {
      case Kind::integer:
        if (text == "auto")
          j[k.info.name] = text;
        else
          j[k.info.name] = std::stoull(text);
        break;
      case Kind::number: j[k.info.name] = std::stod(text); break;
      case Kind::boolean: j[k.info.name] = text == "true"; break;
      case Kind::text: j[k.info.name] = text; break;
      case Kind::cpu_list: {
        nlohmann::ordered_json a = nlohmann::ordered_json::array();
        for (int c : to_cpu_list(k.info.name, text))
          a.push_back(c);
        j[k.info.name] = a;
        break;
      }
    }
  }
  return j.dump(indent);
}

namespace {

// A config value (JSON or TOML scalar / array of scalars) as the CLI would write it.
std::string json_text(const std::string& key, const nlohmann::json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_boolean())
    return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned())
    return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer())
    return std::to_string(v.get<std::int64_t>());
  if (v.is_number_float())
    return from_double(v.get<double>());
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (e.is_array() || e.is_object())
        invalid(key + ": nested lists are not a value");
      append_item(out, json_text(key, e));
    }
    return out;
  }
  invalid(key + ": " + std::string(v.type_name()) + " is not a value");
}

}  // namespace

void apply_json(Scenario& s, std::string_view json_text_in) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text_in);
  } catch (const nlohmann::json::parse_error& e) {
    invalid(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object())
    invalid("the config must be a JSON object of settings");
  for (const auto& [key, value] : j.items())
    set_knob(s, key, json_text(key, value));
}

Scenario load_scenario(const std::string& path, const Scenario& base) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    invalid(path + ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  Scenario s = base;
  const bool toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  try {
    if (!toml) {
      apply_json(s, text.str());
      return s;
    }
#if XMAPS_SIM_HAVE_TOML
    toml::table t;
    try {
      t = toml::parse(text.str(), path);
    } catch (const toml::parse_error& e) {
      std::ostringstream m;
      m << "not valid TOML: " << e.description() << " (line " << e.source().begin.line << ")";
      invalid(m.str());
    }
    for (auto&& [key, node] : t) {
      const std::string k(key.str());
      std::string value;
      auto scalar = [&](const toml::node& n) -> std::string {
        if (auto v = n.value<std::string>(); n.is_string() && v)
          return *v;
        if (n.is_boolean())
          return *n.value<bool>() ? "true" : "false";
        if (n.is_integer()) {
          const std::int64_t i = *n.value<std::int64_t>();
          return std::to_string(i);
        }
        if (n.is_floating_point())
          return from_double(*n.value<double>());
        invalid(k + ": not a value (tables and nested arrays are not settings)");
      };
      if (const toml::array* a = node.as_array()) {
        for (const toml::node& e : *a)
          append_item(value, scalar(e));
      } else {
        value = scalar(node);
      }
      set_knob(s, k, value);
    }
    return s;
#else
    invalid("TOML support was not built (install libtomlplusplus-dev); use JSON");
#endif
  } catch (const std::invalid_argument& e) {
    invalid(path + ": " + e.what());
  }
}

}  // namespace xmaps::sim
