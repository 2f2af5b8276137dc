// SPDX-License-Identifier: MIT
//
// The xmaps-sim demo: a stand-in for the traffic simulator until it exists. It runs synthetic
// packets from several threads through the maps the way an XDP program would use them, then
// checks the kernel semantics it relies on and that no packet was lost or counted twice.
//
//   flows      HashMap<uint32_t, Counters>: per-flow packets/bytes, updated in place through
//              the pointer lookup() returns; a new flow is inserted with UpdateFlag::no_exist.
//              max_entries < flow count, so inserts start failing with E2BIG (the packet is
//              then dropped and counted as such).
//   per_cpu    PercpuHashMap<uint32_t, uint64_t>: packets per protocol class, per CPU.
//   ports      ArrayMap<Counters>: packets/bytes per destination port slot.
//   cpu_total  PercpuArrayMap<uint64_t>: packets per CPU (index 0).
// The semantic checks after the traffic also cover Queue<T> / Stack<T> (full, overwrite of the
// oldest, pop order).
//
// Each worker thread acts as CPU (thread % possible_cpus()) through xmaps::CpuBinding and
// draws its packets from its own SplitMix64 stream (seed, thread), so the packet multiset is a
// function of the options alone. Which thread inserts a flow first, and so the hit/miss split,
// depends on scheduling; every total and every check below does not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xmaps/errc.h"

namespace xmaps::sim {

// A flow's counters, as a BPF program keeps them. Updated with std::atomic_ref.
struct Counters {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

struct DemoOptions {
  std::uint64_t seed = 1;
  int threads = 2;  // worker threads (1..64)
  std::uint32_t packets_per_thread = 2000;
  std::uint32_t flow_capacity = 1024;  // flows' max_entries
  std::uint32_t flow_space = 1536;     // distinct flow keys drawn from: > capacity => E2BIG
};

// What the demo saw. Counts that depend on scheduling are marked so.
struct DemoReport {
  DemoOptions options;
  int possible_cpus = 0;
  std::string machine;  // xmaps::topology description of this system

  std::uint64_t packets = 0;  // generated, all threads
  std::uint64_t bytes = 0;

  // Flow table during traffic.
  std::uint64_t hits = 0;          // lookup found the flow (scheduling-dependent)
  std::uint64_t misses = 0;        // lookup missed (scheduling-dependent)
  std::uint64_t inserted = 0;      // update(no_exist) == ok
  std::uint64_t insert_races = 0;  // update(no_exist) == exists: another thread inserted first
  std::uint64_t dropped = 0;       // update(no_exist) == too_big: map full, packet dropped
  std::uint64_t dropped_bytes = 0;
  std::uint64_t unexpected = 0;  // any other result: always a bug

  // Flow table after traffic (single thread).
  std::uint64_t walked_keys = 0;  // get_next_key from nullptr to not_found
  std::uint64_t table_packets = 0;
  std::uint64_t table_bytes = 0;
  std::uint64_t approx_size = 0;

  // Kernel error semantics, each an operation and the Errc it returned.
  struct Check {
    std::string operation;
    Errc expected;
    Errc got;
  };
  std::vector<Check> checks;
  std::uint64_t filled_to = 0;          // entries when the fill loop hit E2BIG
  std::uint64_t walked_after_fill = 0;  // get_next_key walk on the full map

  // Per-CPU and array maps.
  std::vector<std::uint64_t> per_cpu_packets;  // PercpuHashMap, summed over classes, per CPU
  std::vector<std::uint64_t> cpu_total;        // PercpuArrayMap index 0, per CPU
  std::uint64_t port_packets = 0;              // ArrayMap, summed over ports
  std::uint64_t port_bytes = 0;

  // Descriptions of every failed invariant; empty when the run is consistent.
  [[nodiscard]] std::vector<std::string> failures() const;
};

// Runs the demo. Throws std::invalid_argument for options out of range.
[[nodiscard]] DemoReport run_demo(const DemoOptions& options);

// A readable multi-line summary of the report, ending with the verdict.
[[nodiscard]] std::string format_report(const DemoReport& report);

}  // namespace xmaps::sim
