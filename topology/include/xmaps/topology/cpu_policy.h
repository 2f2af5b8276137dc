// SPDX-License-Identifier: MIT
//
// pick_cpus(): an ordered set of OS CPUs chosen from a Topology by policy, e.g. "4 workers on
// the NUMA node of RX CPU 0, one per core, not the RX CPUs" or "one CPU per package, in turn".
//
// A CpuPolicy is four independent choices, applied in this order:
//   1. where:   any CPU | same NUMA node as a reference CPU | any other NUMA node than it;
//   2. exclude: OS CPUs never to pick (e.g. the RX CPUs);
//   3. smt:     use siblings in logical order | siblings last (one PU per core first, then the
//               cores' second PUs, ...) | never (one PU per core: the first one not excluded);
//   4. order:   compact (hwloc logical order: package, core, sibling) | spread_packages
//               (round-robin over packages, and within each package over its NUMA nodes).
// and then the first `count` CPUs are returned (or all, with CpuPolicy::kAll).
//
// Example: pick_cpus(t, CpuPolicy::same_numa_as(rx, 4).excluding(rx_cpus).with_smt(Smt::never))
//
// Errors: std::invalid_argument, with a message that states the request and what the topology
// has, when the request cannot be met in full: fewer CPUs qualify than `count` (never a shorter
// result), a count below 1 (other than kAll), a reference or excluded CPU that is not in the
// topology. Thread safety: pure functions of their arguments.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "xmaps/topology.h"

namespace xmaps::topology {

struct CpuPolicy {
  // count value: every CPU that qualifies (still at least one, or std::invalid_argument).
  static constexpr int kAll = -1;

  enum class Where {
    any,              // every usable CPU
    same_numa_as,     // CPUs on reference_cpu's NUMA node (reference_cpu itself included)
    other_numa_than,  // CPUs on every other NUMA node (for cross-NUMA tests)
  };
  enum class Smt {
    use,            // siblings are ordinary candidates, adjacent in logical order
    siblings_last,  // one PU per core first; second PUs only if more are needed, and so on
    never,          // at most one PU per core
  };
  enum class Order {
    compact,          // hwloc logical order
    spread_packages,  // round-robin across packages, then across each package's NUMA nodes
  };

  int count = 1;
  Where where = Where::any;
  int reference_cpu = -1;  // OS index; used by same_numa_as and other_numa_than
  Smt smt = Smt::use;
  Order order = Order::compact;
  std::vector<int> exclude;  // OS indices never picked

  // `count` CPUs in logical order, siblings included.
  [[nodiscard]] static CpuPolicy compact(int count) { return make(count, Where::any, -1); }

  // `count` CPUs on the NUMA node of OS CPU `cpu` (which may be among them), in logical order.
  [[nodiscard]] static CpuPolicy same_numa_as(int cpu, int count) {
    return make(count, Where::same_numa_as, cpu);
  }

  // `count` CPUs on any NUMA node but that of OS CPU `cpu`, in logical order.
  [[nodiscard]] static CpuPolicy other_numa_than(int cpu, int count) {
    return make(count, Where::other_numa_than, cpu);
  }

  // `count` CPUs on distinct cores (Smt::never: fails rather than use a sibling; use
  // with_smt(Smt::siblings_last) to allow siblings once every core has one).
  [[nodiscard]] static CpuPolicy skip_smt(int count) {
    return make(count, Where::any, -1).with_smt(Smt::never);
  }

  // `count` CPUs taken from each package in turn (and each of its NUMA nodes in turn).
  [[nodiscard]] static CpuPolicy spread_packages(int count) {
    return make(count, Where::any, -1).with_order(Order::spread_packages);
  }

  // This policy with `cpus` added to exclude / with another SMT rule / with another order.
  [[nodiscard]] CpuPolicy excluding(const std::vector<int>& cpus) const {
    CpuPolicy p = *this;
    p.exclude.insert(p.exclude.end(), cpus.begin(), cpus.end());
    return p;
  }
  [[nodiscard]] CpuPolicy with_smt(Smt rule) const {
    CpuPolicy p = *this;
    p.smt = rule;
    return p;
  }
  [[nodiscard]] CpuPolicy with_order(Order rule) const {
    CpuPolicy p = *this;
    p.order = rule;
    return p;
  }

 private:
  [[nodiscard]] static CpuPolicy make(int count, Where where, int reference_cpu) {
    CpuPolicy p;
    p.count = count;
    p.where = where;
    p.reference_cpu = reference_cpu;
    return p;
  }
};

// The policy in words, for messages and benchmark labels, e.g.
// "4 CPUs on the NUMA node of CPU 0, one per core, compact, excluding {0, 1}".
[[nodiscard]] std::string to_string(const CpuPolicy& policy);

// The OS indices chosen by `policy` from `topology`'s usable CPUs, in pick order, no duplicates.
// Throws std::invalid_argument as described at the top of this header.
[[nodiscard]] std::vector<int> pick_cpus(const Topology& topology, const CpuPolicy& policy);

}  // namespace xmaps::topology
