// SPDX-License-Identifier: MIT
#include "xmaps/topology/cpu_policy.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "xmaps/topology.h"

namespace xmaps::topology {

namespace {

[[noreturn]] void reject(const CpuPolicy& policy, const std::string& why) {
  throw std::invalid_argument("xmaps::topology: pick_cpus(" + to_string(policy) + "): " + why);
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string out = "{";
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    out += (i == 0 ? "" : ", ") + std::to_string(cpus[i]);
  }
  return out + "}";
}

// Step 4, spread_packages: the CPUs of `tier` (in logical order) dealt out one package at a
// time; each package deals its CPUs one NUMA node at a time.
std::vector<const Cpu*> spread(const std::vector<const Cpu*>& tier) {
  // package -> node -> CPUs, each level in logical order (std::map orders logical indices).
  std::map<int, std::map<int, std::vector<const Cpu*>>> by_package;
  for (const Cpu* cpu : tier) {
    by_package[cpu->package][cpu->numa].push_back(cpu);
  }
  std::vector<std::vector<const Cpu*>> package_queues;
  for (auto& [package, nodes] : by_package) {
    std::vector<const Cpu*> queue;
    for (std::size_t round = 0; queue.size() < tier.size(); ++round) {
      bool any = false;
      for (auto& [node, cpus] : nodes) {
        if (round < cpus.size()) {
          queue.push_back(cpus[round]);
          any = true;
        }
      }
      if (!any) {
        break;
      }
    }
    package_queues.push_back(std::move(queue));
  }
  std::vector<const Cpu*> out;
  out.reserve(tier.size());
  for (std::size_t round = 0; out.size() < tier.size(); ++round) {
    for (const std::vector<const Cpu*>& queue : package_queues) {
      if (round < queue.size()) {
        out.push_back(queue[round]);
      }
    }
  }
  return out;
}

}  // namespace

std::string to_string(const CpuPolicy& policy) {
  std::string out = policy.count == CpuPolicy::kAll ? std::string("all CPUs")
                    : policy.count == 1             ? std::string("1 CPU")
                                                    : std::to_string(policy.count) + " CPUs";
  switch (policy.where) {
    case CpuPolicy::Where::any: break;
    case CpuPolicy::Where::same_numa_as:
      out += " on the NUMA node of CPU " + std::to_string(policy.reference_cpu);
      break;
    case CpuPolicy::Where::other_numa_than:
      out += " off the NUMA node of CPU " + std::to_string(policy.reference_cpu);
      break;
  }
  switch (policy.smt) {
    case CpuPolicy::Smt::use: out += ", SMT siblings in logical order"; break;
    case CpuPolicy::Smt::siblings_last: out += ", SMT siblings last"; break;
    case CpuPolicy::Smt::never: out += ", one per core"; break;
  }
  switch (policy.order) {
    case CpuPolicy::Order::compact: out += ", compact"; break;
    case CpuPolicy::Order::spread_packages: out += ", spread across packages"; break;
  }
  if (!policy.exclude.empty()) {
    out += ", excluding " + cpu_list(policy.exclude);
  }
  return out;
}

// Steps (see cpu_policy.h): 0. validate; 1. where; 2. exclude; 3. SMT rank per core; 4. order
// each SMT tier; 5. take count.
std::vector<int> pick_cpus(const Topology& topology, const CpuPolicy& policy) {
  // 0.
  if (policy.count != CpuPolicy::kAll && policy.count < 1) {
    reject(policy, "count must be at least 1 (or CpuPolicy::kAll)");
  }
  int reference_node = -1;
  if (policy.where != CpuPolicy::Where::any) {
    if (!topology.has_cpu(policy.reference_cpu)) {
      reject(policy, "reference CPU " + std::to_string(policy.reference_cpu) +
                         " is not a usable CPU of " + topology.description());
    }
    reference_node = topology.cpu(policy.reference_cpu).numa;
  }
  for (const int cpu : policy.exclude) {
    if (!topology.has_cpu(cpu)) {
      reject(policy, "excluded CPU " + std::to_string(cpu) + " is not a usable CPU of " +
                         topology.description());
    }
  }
  const std::set<int> excluded(policy.exclude.begin(), policy.exclude.end());

  // 1, 2.
  std::size_t in_place = 0;
  std::vector<const Cpu*> candidates;
  for (const Cpu& cpu : topology.cpus()) {
    const bool where_ok =
        policy.where == CpuPolicy::Where::any ||
        (policy.where == CpuPolicy::Where::same_numa_as) == (cpu.numa == reference_node);
    if (!where_ok) {
      continue;
    }
    ++in_place;
    if (!excluded.contains(cpu.os_index)) {
      candidates.push_back(&cpu);
    }
  }

  // 3. Rank = how many earlier candidates share the CPU's core: 0 for a core's first PU.
  std::map<int, std::size_t> seen_on_core;
  std::vector<std::vector<const Cpu*>> tiers;
  for (const Cpu* cpu : candidates) {
    const std::size_t rank = seen_on_core[cpu->core]++;
    if (policy.smt == CpuPolicy::Smt::never && rank > 0) {
      continue;
    }
    const std::size_t tier = policy.smt == CpuPolicy::Smt::siblings_last ? rank : 0;
    if (tiers.size() <= tier) {
      tiers.resize(tier + 1);
    }
    tiers[tier].push_back(cpu);
  }

  // 4.
  std::vector<int> picked;
  for (const std::vector<const Cpu*>& tier : tiers) {
    const std::vector<const Cpu*> ordered =
        policy.order == CpuPolicy::Order::spread_packages ? spread(tier) : tier;
    for (const Cpu* cpu : ordered) {
      picked.push_back(cpu->os_index);
    }
  }

  // 5.
  const std::size_t wanted =
      policy.count == CpuPolicy::kAll ? 1 : static_cast<std::size_t>(policy.count);
  if (picked.size() < wanted) {
    std::string why = "only " + std::to_string(picked.size()) + " qualify (";
    if (policy.where == CpuPolicy::Where::any) {
      why += std::to_string(in_place) + " usable CPUs";
    } else {
      why += std::to_string(in_place) + " CPUs " +
             (policy.where == CpuPolicy::Where::same_numa_as ? "on" : "off") + " NUMA node " +
             std::to_string(reference_node) + " of " + std::to_string(topology.numa_nodes());
    }
    why += ", " + std::to_string(candidates.size()) + " not excluded";
    if (policy.smt == CpuPolicy::Smt::never) {
      why += ", on " + std::to_string(seen_on_core.size()) + " distinct cores";
    }
    why += ") in " + topology.description();
    reject(policy, why);
  }
  if (policy.count != CpuPolicy::kAll) {
    picked.resize(wanted);
  }
  return picked;
}

}  // namespace xmaps::topology
