// SPDX-License-Identifier: MIT
//
// The simulator's built-in XDP programs: the first program, run on the ingress CPUs, which
// picks a CPUMAP entry for every frame (samples/bpf/xdp_redirect_cpu's choices), and flow
// accounting, the default second program, run on the CPUMAP workers.
//
//   xmaps::CpuMap map(n, opts);                    // entries 2 and 3 created by the caller
//   auto counters = std::make_shared<xmaps::sim::FirstProgramCounters>();
//   auto first = xmaps::sim::make_first_program(xmaps::sim::FirstProgram::flow_hash, map,
//                                               {2, 3}, counters);
//   xmaps::sim::FlowAccounting acct(65536);
//   (void)map.update(2, 2048, acct.program());     // the worker counts, then passes to the sink
//   ...ingress thread: RedirectContext ctx; ctx.run(*first, frame); ... ctx.flush();
//
// First programs (FirstProgram):
//   round_robin  targets[i++ % n], with one counter per ingress CPU (current_cpu()), as a BPF
//                program keeps it in a PERCPU_ARRAY. Does not parse the frame.
//   flow_hash    targets[jhash(5-tuple) % n]: every frame of a flow goes to one worker. A
//                different hash from the NIC's Toeplitz RSS, so the flows of one RX queue
//                spread over all targets.
//   l4_port      targets[dst_port % n].
//   drop_all     XDP_DROP for every frame (the first program's cost alone).
// flow_hash and l4_port parse the frame (parse_packet(), xmaps/sim/packet.h): truncated, not
// IP and bad IP headers are XDP_DROP, counted by reason; fragments and protocols other than
// TCP/UDP have no ports and are hashed on addresses and protocol (l4_port too), counted as
// no_ports. A chosen target is returned as redirect_map(map, target, 0) returns it
// (XDP_REDIRECT, or XDP_ABORTED if the entry does not exist; counted as redirect_failed).
//
// Flow accounting (FlowAccounting): per-flow packet and byte counters in an LRU_HASH of
// FlowKey -> FlowCounters, updated as the classic BPF program does it:
//   1. v = lookup(key)             (a datapath lookup: sets the entry's reference bit)
//   2. hit:  atomic add 1 and len  (__sync_fetch_and_add; relaxed: statistics)
//   3. miss: update(key, {1, len}, BPF_NOEXIST); EEXIST (another worker inserted it first):
//            lookup again and add (counted as an insert race; lost if it is gone again)
// It returns XDP_PASS for every frame, so frames always reach the sink; frames that do not
// parse are passed and counted as parse failures.
// Why a common LRU_HASH and not LRU_PERCPU_HASH: a flow has one entry whichever worker sees
// it (round_robin sends one flow to every worker), memory is max_entries values rather than
// max_entries x CPUs, and reading a flow is one copy, not a sum over CPUs. The atomic add is
// uncontended whenever the first program keeps a flow on one worker (flow_hash, l4_port);
// with round_robin the contention is the real cost a kernel user would pay too. Pass
// map_flag::kNoCommonLru to give each worker its own LRU lists.
//
// Thread safety: the programs may run on any number of threads at once. Counters are per CPU
// (current_cpu()), each on its own cache line, added with relaxed RMWs (threads may share a
// CPU id); stats() and snapshots sum them and are exact once traffic has stopped. A program
// keeps its counters and the accounting table alive (shared ownership); a first program
// refers to `map` without owning it: the map must outlive every run of the program.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "xmaps/cpumap.h"
#include "xmaps/detail/cache_line.h"
#include "xmaps/lru_hash_map.h"
#include "xmaps/sim/flow_tuple.h"
#include "xmaps/xdp.h"

namespace xmaps::sim {

enum class FirstProgram : std::uint8_t { round_robin, flow_hash, l4_port, drop_all };

// "round-robin", "hash", "port", "drop".
[[nodiscard]] std::string_view to_string(FirstProgram p) noexcept;
// The inverse of to_string(); std::nullopt for any other text.
[[nodiscard]] std::optional<FirstProgram> try_parse_first_program(std::string_view text) noexcept;
// As try_parse_first_program(); throws std::invalid_argument naming the valid choices.
[[nodiscard]] FirstProgram parse_first_program(std::string_view text);

// What a first program did (a snapshot).
struct FirstProgramStats {
  std::uint64_t frames = 0;           // frames the program ran on
  std::uint64_t redirected = 0;       // redirect_map() returned XDP_REDIRECT
  std::uint64_t redirect_failed = 0;  // redirect_map() returned anything else (no entry)
  std::uint64_t dropped = 0;          // drop_all's XDP_DROP
  std::uint64_t truncated = 0;        // parse failures, XDP_DROP ...
  std::uint64_t not_ip = 0;
  std::uint64_t bad_ip_header = 0;
  std::uint64_t no_ports = 0;  // fragments and other L4 protocols: chosen by addresses

  [[nodiscard]] std::uint64_t parse_failures() const noexcept {
    return truncated + not_ip + bad_ip_header;
  }
};

namespace detail {

// N counters per CPU, each CPU's on its own cache line(s).
template <std::size_t N>
class PerCpuCounters {
 public:
  PerCpuCounters()
      : cpus_(xmaps::possible_cpus()),
        shards_(std::make_unique<xmaps::detail::CacheAligned<Shard>[]>(
            static_cast<std::size_t>(cpus_))) {}

  void add(std::size_t counter, std::uint64_t n = 1) noexcept {
    // Relaxed: statistics, ordered with nothing; an RMW because threads may share a CPU id.
    shard().v[counter].fetch_add(n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::array<std::uint64_t, N> sum() const noexcept {
    std::array<std::uint64_t, N> out{};
    for (int c = 0; c < cpus_; ++c) {
      for (std::size_t i = 0; i < N; ++i) {
        // Relaxed: a statistics snapshot; exact once the writers have stopped (joined).
        out[i] += shards_[static_cast<std::size_t>(c)].value.v[i].load(std::memory_order_relaxed);
      }
    }
    return out;
  }
  // One CPU's counters (zeros outside [0, possible_cpus())): O(N), for per-step deltas.
  [[nodiscard]] std::array<std::uint64_t, N> of(int cpu) const noexcept {
    std::array<std::uint64_t, N> out{};
    if (cpu < 0 || cpu >= cpus_)
      return out;
    for (std::size_t i = 0; i < N; ++i) {
      // Relaxed: as sum().
      out[i] = shards_[static_cast<std::size_t>(cpu)].value.v[i].load(std::memory_order_relaxed);
    }
    return out;
  }

 private:
  struct Shard {
    std::array<std::atomic<std::uint64_t>, N> v{};
  };
  Shard& shard() noexcept { return shards_[static_cast<std::size_t>(xmaps::current_cpu())].value; }

  int cpus_;
  std::unique_ptr<xmaps::detail::CacheAligned<Shard>[]> shards_;
};

}  // namespace detail

// A first program's counters; share one between programs to add them up. Each frame counts
// once, in its outcome (redirected, redirect_failed, dropped or a parse failure; no_ports is
// a note besides): FirstProgramStats::frames is their sum, so a frame costs one counter RMW.
class FirstProgramCounters {
 public:
  enum Counter : std::uint8_t {
    redirected,
    redirect_failed,
    dropped,
    truncated,
    not_ip,
    bad_ip_header,
    no_ports,
    count
  };
  void add(Counter c) noexcept { counters_.add(c); }
  [[nodiscard]] FirstProgramStats snapshot() const noexcept;

 private:
  detail::PerCpuCounters<count> counters_;
};

// The first program `kind` over `targets` (CPUMAP keys, in the order round_robin cycles over
// them), counting into `counters` if given. Throws std::invalid_argument for an empty target
// list or a target >= map.max_entries().
[[nodiscard]] std::shared_ptr<xmaps::XdpProgram> make_first_program(
    FirstProgram kind, xmaps::CpuMap& map, std::vector<std::uint32_t> targets,
    std::shared_ptr<FirstProgramCounters> counters = nullptr);

// A flow's key: the 5-tuple (and IP version), with no padding bytes, so equal flows are equal
// bytes (what a BPF map compares).
struct FlowKey {
  std::array<std::uint8_t, 16> src_ip{};  // network order; IPv4 in bytes 0..3
  std::array<std::uint8_t, 16> dst_ip{};
  std::uint16_t src_port = 0;  // host order
  std::uint16_t dst_port = 0;
  std::uint8_t protocol = 0;
  std::uint8_t ip_version = 0;
  std::uint16_t pad = 0;  // always 0

  [[nodiscard]] static FlowKey of(const FlowTuple& t) noexcept {
    FlowKey k;
    k.src_ip = t.src_ip;
    k.dst_ip = t.dst_ip;
    k.src_port = t.src_port;
    k.dst_port = t.dst_port;
    k.protocol = t.protocol;
    k.ip_version = t.ip_version;
    return k;
  }
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};
static_assert(sizeof(FlowKey) == 40 && std::has_unique_object_representations_v<FlowKey>,
              "FlowKey has no padding: map keys compare as bytes");

struct FlowCounters {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // frame bytes (frame.len)
};

struct FlowAccountingStats {
  std::uint64_t frames = 0;          // frames the program ran on
  std::uint64_t parse_failures = 0;  // truncated / not IP / bad IP header: passed, not counted
  std::uint64_t lookups = 0;         // first lookups (one per parsed frame)
  std::uint64_t hits = 0;            // ... that found the flow
  std::uint64_t inserts = 0;         // new entries (update NOEXIST succeeded)
  std::uint64_t insert_races = 0;    // NOEXIST lost to another worker; added by a second lookup
  std::uint64_t lost = 0;            // could not be counted (inserted and evicted at once)
  std::uint64_t evictions = 0;       // entries the LRU evicted (LruStats)
};

class FlowAccounting {
 public:
  using Table = xmaps::LruHashMap<FlowKey, FlowCounters>;

  // `map_flags`: as LruHashMap's (e.g. map_flag::kNoCommonLru). Throws as LruHashMap.
  explicit FlowAccounting(std::uint32_t max_entries, std::uint32_t map_flags = 0);

  // The program (one instance, the same every call): counts the frame, returns XDP_PASS.
  [[nodiscard]] std::shared_ptr<xmaps::XdpProgram> program() const { return program_; }
  // The program's body, for callers that run it directly.
  xmaps::XdpAction account(const xmaps::Frame& frame) noexcept;

  [[nodiscard]] FlowAccountingStats stats() const noexcept;
  // What the program did on CPU `cpu` (current_cpu() when it ran), evictions included (those
  // that CPU's inserts made): cheap (one CPU's counters), for per-batch deltas (model mode).
  [[nodiscard]] FlowAccountingStats stats(int cpu) const noexcept;
  // hits / lookups (0 before the first lookup).
  [[nodiscard]] double hit_ratio() const noexcept;
  // A flow's counters as user space reads them (does not set the reference bit).
  [[nodiscard]] std::optional<FlowCounters> flow(const FlowTuple& t) const noexcept;
  [[nodiscard]] Table& table() noexcept;
  [[nodiscard]] const Table& table() const noexcept;

 private:
  struct State;
  static void run(State& s, const xmaps::Frame& f) noexcept;

  std::shared_ptr<State> state_;
  std::shared_ptr<xmaps::XdpProgram> program_;
};

}  // namespace xmaps::sim
