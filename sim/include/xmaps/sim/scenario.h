// SPDX-License-Identifier: MIT
//
// Scenario: everything one simulator run needs (xmaps/sim/pipeline.h runs it). Every field has
// a default, so `Scenario{}` is the demo `xmaps-sim` runs without arguments: 1024 uniform UDP
// flows of 64-byte frames, as fast as the pipeline takes them, for 2 seconds, RSS over 2 RX
// queues, ingress and worker CPUs placed by hwloc (on a 2-core machine: ingress CPU 0, worker
// CPU 1), round-robin first program, flow accounting in a 65536-entry LRU hash.
//
// Each field is also a "knob": a name (the CLI's long option, the JSON/TOML key), a help text
// and a text form, so the CLI, the config files and the JSON echo share one table:
//
//   xmaps::sim::Scenario s = xmaps::sim::load_scenario("run.json");   // or .toml
//   xmaps::sim::set_knob(s, "queues", "4");                            // --queues 4
//   xmaps::sim::validate(s);                                           // std::invalid_argument
//
// CPU ids are OS CPU numbers and must be < xmaps::possible_cpus() (this machine's CPU count,
// or the modelled count set with model-cpus / xmaps::set_possible_cpus). Threads on CPUs that
// exist here are pinned; the others run unpinned (the result says which).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "xmaps/sim/generator.h"
#include "xmaps/sim/rss.h"

namespace xmaps::sim {

// How CPUs are picked when no explicit list is given (hwloc policy, xmaps/topology). When the
// policy cannot place worker-count workers off the ingress CPUs, the workers share them under
// the same policy; when it cannot place them at all (more than the NUMA node, the cores or the
// machine has), resolve() throws std::invalid_argument naming the count.
enum class Placement : std::uint8_t {
  compact,   // logical order: ingress CPUs first, workers on the next CPUs
  numa,      // workers on the NUMA node of the first ingress CPU, not on the ingress CPUs'
             // cores (SMT siblings last)
  skip_smt,  // one PU per core for ingress and workers alike
  spread,    // round-robin over packages (and their NUMA nodes)
};
[[nodiscard]] std::string_view to_string(Placement p) noexcept;
// "compact", "numa", "skip-smt", "spread"; false if unknown.
[[nodiscard]] bool parse_placement(std::string_view s, Placement& out) noexcept;

struct Scenario {
  // --- traffic -------------------------------------------------------------------------------
  TrafficConfig traffic;  // the generator's flows, sizes, seed (traffic.seed)
  std::string pcap_in;    // non-empty: replay this capture instead of generating
  bool pcap_loop = true;  // replay from the start again at the end
  // A capture with frames too short for the headers they announce (runts, headers cut off)
  // is refused unless this is set; then they are replayed as they are, counted unparsed.
  bool pcap_truncated_ok = false;
  std::string pcap_out;  // non-empty: write the first pcap_out_packets frames
  std::uint64_t pcap_out_packets = 10000;

  // --- RSS -----------------------------------------------------------------------------------
  // rss.queues 0: one RX queue per ingress CPU, at least 2. rss.reta empty: round-robin
  // (reta_equal_n > 0: `equal N`).
  RssConfig rss{.queues = 0};
  std::uint32_t reta_equal_n = 0;

  // --- CPUs ----------------------------------------------------------------------------------
  std::vector<int> ingress_cpus;    // explicit list, or empty: ingress_count by placement
  std::vector<int> worker_cpus;     // explicit list, or empty: worker_count by placement
  std::uint32_t ingress_count = 0;  // 0: a quarter of the usable CPUs, at least 1
  std::uint32_t worker_count = 0;   // 0: every CPU the placement allows off the ingress CPUs
                                    // (numa: their node's, off their cores), at least 1
  Placement placement = Placement::compact;
  std::uint32_t model_cpus = 0;  // > 0: xmaps::set_possible_cpus(model_cpus) before the run
  // The source thread's CPU: kAutoCpu (a usable CPU that is neither ingress nor worker, else
  // the first ingress CPU: the NIC's work lands on the ingress CPU, not a worker's), kNoCpu
  // (unpinned), or a CPU id.
  static constexpr int kAutoCpu = -2;
  static constexpr int kNoCpu = -1;
  int source_cpu = kAutoCpu;

  // --- programs ------------------------------------------------------------------------------
  std::string first_program = "round-robin";  // round-robin | hash | port | drop
  std::uint32_t lru_entries = 65536;          // flow accounting LRU size; 0: no second program

  // --- run -----------------------------------------------------------------------------------
  double duration_s = 2.0;           // wall-clock limit; 0: none (then packets must be set)
  std::uint64_t packets = 0;         // stop after this many packets; 0: no limit
  double rate_pps = 0.0;             // 0: as fast as the pipeline takes them (lossless input)
  std::uint32_t burst = 32;          // packets the pacer may send at once (rate > 0)
  std::uint32_t pool_frames = 8192;  // the FramePool
  std::uint32_t frame_size = 2048;   // bytes per frame buffer (256 of them headroom)
  std::uint32_t rx_ring = 1024;      // frames per RX queue ring (a power of two)
  std::uint32_t qsize = 2048;        // CPUMAP entry ring size (1 .. 16384)
  std::uint32_t batch = 64;          // ingress poll batch (1 .. 64)
  std::uint32_t interval_ms = 100;   // sampling interval for the time series

  // --- output --------------------------------------------------------------------------------
  std::string json_out;  // non-empty: write the results as JSON here
  std::string csv_out;   // non-empty: write the time series as CSV here
  bool progress = true;  // a progress line on stderr (only when it is a terminal)
};

// Throws std::invalid_argument naming the field for anything out of range: zero sizes, a
// batch above 64, qsize above 16384, an rx_ring that is not a power of two, duplicate CPUs in
// a list, CPU ids >= the possible CPUs, neither duration nor packets, an unknown first
// program, bad traffic (xmaps::sim::validate(TrafficConfig)), bad RSS settings.
void validate(const Scenario& s);

// One knob: its name (CLI option without "--", config key), help text and kind (booleans are
// flags on the command line: --vlan, --no-vlan). Counts that may be "auto" are integers whose
// text form is "auto" or a number >= 1.
struct KnobInfo {
  std::string name;
  std::string help;
  enum class Kind : std::uint8_t { integer, number, boolean, text, cpu_list } kind;
};
[[nodiscard]] const std::vector<KnobInfo>& scenario_knobs();

// Sets knob `name` from its text form (as on the command line). Throws std::invalid_argument
// for an unknown name or a value that does not parse ("flows: '-5' is not a non-negative
// integer").
void set_knob(Scenario& s, std::string_view name, std::string_view value);
// The knob's text form (the CLI's default display, the JSON echo's source).
[[nodiscard]] std::string get_knob(const Scenario& s, std::string_view name);

// The scenario as a flat JSON object of knobs (typed: numbers, booleans, strings, CPU lists
// as arrays), and back. Unknown keys are errors. Throw std::invalid_argument.
[[nodiscard]] std::string scenario_to_json(const Scenario& s, int indent = 2);
void apply_json(Scenario& s, std::string_view json_text);
// Loads a config file: JSON (".json"), TOML (".toml"), applied over `base`. Throws
// std::invalid_argument (with the file name) for a missing or malformed file.
[[nodiscard]] Scenario load_scenario(const std::string& path, const Scenario& base = {});

}  // namespace xmaps::sim
