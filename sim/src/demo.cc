// SPDX-License-Identifier: MIT
#include "xmaps/sim/demo.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <latch>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "xmaps/array_map.h"
#include "xmaps/cpu.h"
#include "xmaps/hash_map.h"
#include "xmaps/queue_map.h"
#include "xmaps/stack_map.h"
#include "xmaps/topology.h"

namespace xmaps::sim {

namespace {

constexpr std::uint32_t kProtocolClasses = 8;  // PercpuHashMap keys 0..7
constexpr std::uint32_t kPorts = 16;           // ArrayMap entries
constexpr std::uint32_t kMinFrame = 64;        // Ethernet minimum frame
constexpr std::uint32_t kMaxFrame = 1518;      // Ethernet maximum frame (no jumbo)

// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, and the same on every platform, so a
// seed names the same packets everywhere (std:: distributions do not promise that).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
  }

 private:
  std::uint64_t state_;
};

struct Packet {
  std::uint32_t flow;
  std::uint32_t length;
};

Packet next_packet(SplitMix64& rng, std::uint32_t flow_space) noexcept {
  const std::uint64_t r = rng.next();
  return {static_cast<std::uint32_t>(r % flow_space),
          kMinFrame + static_cast<std::uint32_t>((r >> 32U) % (kMaxFrame - kMinFrame + 1))};
}

// In-place add through a pointer from lookup(), as BPF programs do with __sync_fetch_and_add.
// Relaxed: each counter is an independent sum; join() orders the final reads.
void add(std::uint64_t& counter, std::uint64_t n) noexcept {
  std::atomic_ref<std::uint64_t>(counter).fetch_add(n, std::memory_order_relaxed);
}

// One worker's view of its packets; summed after join().
struct WorkerTally {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t inserted = 0;
  std::uint64_t insert_races = 0;
  std::uint64_t dropped = 0;
  std::uint64_t dropped_bytes = 0;
  std::uint64_t unexpected = 0;
};

struct Maps {
  HashMap<std::uint32_t, Counters> flows;
  PercpuHashMap<std::uint32_t, std::uint64_t> per_cpu;
  ArrayMap<Counters> ports;
  PercpuArrayMap<std::uint64_t> cpu_total;

  explicit Maps(std::uint32_t flow_capacity)
      : flows(flow_capacity), per_cpu(kProtocolClasses), ports(kPorts), cpu_total(1) {}
};

// The per-packet program: count the packet on this CPU, in its protocol class and port slot,
// then on its flow (inserting the flow if new, dropping the packet if the table is full).
void run_worker(Maps& maps, const DemoOptions& options, int thread, std::latch& start,
                WorkerTally& tally) {
  const CpuBinding binding(thread % possible_cpus());
  SplitMix64 rng(options.seed ^ (0x5851f42d4c957f2dULL * static_cast<std::uint64_t>(thread + 1)));
  start.arrive_and_wait();
  for (std::uint32_t i = 0; i < options.packets_per_thread; ++i) {
    const Packet p = next_packet(rng, options.flow_space);
    ++tally.packets;
    tally.bytes += p.length;

    // Every packet, dropped or not, counts on its CPU, its class and its port.
    add(*maps.cpu_total.lookup(0), 1);
    if (std::uint64_t* per_class = maps.per_cpu.lookup(p.flow % kProtocolClasses)) {
      add(*per_class, 1);  // atomic: threads > CPUs share a CPU id, hence a slot
    } else {
      ++tally.unexpected;
    }
    Counters* port = maps.ports.lookup(p.flow % kPorts);
    add(port->packets, 1);
    add(port->bytes, p.length);

    Counters* flow = maps.flows.lookup(p.flow);
    if (flow != nullptr) {
      ++tally.hits;
    } else {
      ++tally.misses;
      switch (maps.flows.update(p.flow, Counters{1, p.length}, UpdateFlag::no_exist)) {
        case Errc::ok: ++tally.inserted; break;
        case Errc::exists:  // another worker inserted it between our lookup and update
          ++tally.insert_races;
          flow = maps.flows.lookup(p.flow);  // nothing deletes during traffic: found
          if (flow == nullptr) {
            ++tally.unexpected;
          }
          break;
        case Errc::too_big:
          ++tally.dropped;
          tally.dropped_bytes += p.length;
          continue;  // a dropped packet is counted nowhere else
        default: ++tally.unexpected; break;
      }
    }
    if (flow != nullptr) {
      add(flow->packets, 1);
      add(flow->bytes, p.length);
    }
  }
}

// After traffic, single thread: walk the flow table with get_next_key and sum its counters.
void walk_flows(const Maps& maps, DemoReport& report) {
  std::uint32_t key = 0;
  std::uint32_t next = 0;
  const std::uint32_t* prev = nullptr;
  const std::uint64_t bound = 2ULL * maps.flows.max_entries() + 2;  // a cycle would be a bug
  while (report.walked_keys < bound && maps.flows.get_next_key(prev, next) == Errc::ok) {
    ++report.walked_keys;
    if (const std::optional<Counters> c = maps.flows.lookup_copy(next)) {
      report.table_packets += c->packets;
      report.table_bytes += c->bytes;
    }
    key = next;
    prev = &key;
  }
  report.approx_size = maps.flows.approx_size();
}

std::uint64_t count_keys(const HashMap<std::uint32_t, Counters>& map) {
  std::uint64_t n = 0;
  std::uint32_t key = 0;
  std::uint32_t next = 0;
  const std::uint32_t* prev = nullptr;
  const std::uint64_t bound = 2ULL * map.max_entries() + 2;
  while (n < bound && map.get_next_key(prev, next) == Errc::ok) {
    ++n;
    key = next;
    prev = &key;
  }
  return n;
}

// After traffic, single thread: the kernel's error vocabulary, one operation each.
void check_semantics(Maps& maps, const DemoOptions& options, DemoReport& report) {
  auto check = [&](std::string operation, Errc expected, Errc got) {
    report.checks.push_back({std::move(operation), expected, got});
  };
  const std::uint32_t absent = options.flow_space + 0x100000;  // never generated
  std::uint32_t present = 0;
  const Errc first = maps.flows.get_next_key(nullptr, present);
  check("get_next_key(nullptr) on the flow table", Errc::ok, first);
  if (first != Errc::ok) {
    return;
  }
  check("update(present flow, no_exist)", Errc::exists,
        maps.flows.update(present, Counters{}, UpdateFlag::no_exist));
  check("update(absent flow, exist)", Errc::not_found,
        maps.flows.update(absent, Counters{}, UpdateFlag::exist));
  check("update(flow, flag 7)", Errc::invalid,
        maps.flows.update(present, Counters{}, static_cast<UpdateFlag>(7)));
  check("erase(absent flow)", Errc::not_found, maps.flows.erase(absent));
  Counters out{};
  check("lookup_and_erase(present flow)", Errc::ok, maps.flows.lookup_and_erase(present, out));
  check("erase(the flow just erased)", Errc::not_found, maps.flows.erase(present));

  // Fill the table with new flows until it refuses one: E2BIG at exactly max_entries.
  Errc fill = Errc::ok;
  for (std::uint32_t i = 0; i <= maps.flows.max_entries() && fill == Errc::ok; ++i) {
    fill = maps.flows.update(absent + 1 + i, Counters{1, kMinFrame}, UpdateFlag::no_exist);
  }
  check("update(new flow) on a full table", Errc::too_big, fill);
  report.filled_to = maps.flows.approx_size();
  check("update(present flow, any) on a full table", Errc::ok,
        maps.flows.update(absent + 1, Counters{2, 2ULL * kMinFrame}, UpdateFlag::any));
  report.walked_after_fill = count_keys(maps.flows);

  check("ports.update(max_entries)", Errc::too_big, maps.ports.update(kPorts, Counters{}));
  check("ports.update(0, no_exist)", Errc::exists,
        maps.ports.update(0, Counters{}, UpdateFlag::no_exist));
  check("ports.lookup_copy(max_entries)", Errc::not_found,
        maps.ports.lookup_copy(kPorts) ? Errc::ok : Errc::not_found);

  // "Remember the last N events" with QUEUE and STACK: E2BIG when full, EXIST drops the oldest.
  Queue<std::uint32_t> last(2);
  Stack<std::uint32_t> recent(2);
  for (const std::uint32_t v : {1U, 2U}) {
    (void)last.push(v);
    (void)recent.push(v);
  }
  check("queue.push(3) on a full queue", Errc::too_big, last.push(3));
  check("queue.push(3, exist) drops the oldest", Errc::ok, last.push(3, UpdateFlag::exist));
  check("queue.pop() is then the second oldest (2)", Errc::ok,
        last.pop() == std::optional<std::uint32_t>(2) ? Errc::ok : Errc::invalid);
  check("stack.push(3, exist) drops the bottom", Errc::ok, recent.push(3, UpdateFlag::exist));
  check("stack.pop() is the newest (3)", Errc::ok,
        recent.pop() == std::optional<std::uint32_t>(3) ? Errc::ok : Errc::invalid);
  check("stack.pop() then 2 (bottom 1 dropped)", Errc::ok,
        recent.pop() == std::optional<std::uint32_t>(2) ? Errc::ok : Errc::invalid);
  check("stack.pop() on the empty stack", Errc::not_found,
        recent.pop().has_value() ? Errc::ok : Errc::not_found);
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) {
    text.append(width - text.size(), ' ');
  }
  return text;
}

std::uint64_t sum(const std::vector<std::uint64_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::uint64_t{0});
}

std::string per_cpu_line(const std::vector<std::uint64_t>& v) {
  std::string line;
  for (std::size_t cpu = 0; cpu < v.size(); ++cpu) {
    line += (cpu == 0 ? "" : " + ") + std::string("cpu") + std::to_string(cpu) + " " +
            std::to_string(v[cpu]);
  }
  return line + " = " + std::to_string(sum(v));
}

}  // namespace

std::vector<std::string> DemoReport::failures() const {
  std::vector<std::string> out;
  auto expect = [&out](bool ok, const std::string& what) {
    if (!ok) {
      out.push_back(what);
    }
  };
  expect(unexpected == 0, std::to_string(unexpected) + " unexpected map results during traffic");
  expect(hits + misses == packets, "hits + misses != packets");
  expect(misses == inserted + insert_races + dropped,
         "misses != inserted + insert races + dropped");
  expect(table_packets + dropped == packets, "flow table packets + dropped != packets sent");
  expect(table_bytes + dropped_bytes == bytes, "flow table bytes + dropped bytes != bytes sent");
  expect(walked_keys == inserted, "get_next_key walk count != flows inserted");
  expect(approx_size == inserted, "approx_size() != flows inserted");
  expect(inserted <= options.flow_capacity, "more flows than max_entries");
  expect(dropped == 0 || inserted == options.flow_capacity, "E2BIG before the flow table was full");
  expect(sum(per_cpu_packets) == packets, "per-CPU class counters do not sum to packets");
  expect(sum(cpu_total) == packets, "per-CPU totals do not sum to packets");
  expect(port_packets == packets && port_bytes == bytes, "port counters do not sum to traffic");
  expect(filled_to == options.flow_capacity,
         "fill stopped at " + std::to_string(filled_to) + " entries, not max_entries");
  expect(walked_after_fill == options.flow_capacity, "walk of the full table visited " +
                                                         std::to_string(walked_after_fill) +
                                                         " keys, not max_entries");
  for (const Check& c : checks) {
    expect(c.got == c.expected, c.operation + " returned " + std::string(to_string(c.got)) +
                                    ", expected " + std::string(to_string(c.expected)));
  }
  return out;
}

DemoReport run_demo(const DemoOptions& options) {
  if (options.threads < 1 || options.threads > 64) {
    throw std::invalid_argument("threads must be 1..64, got " + std::to_string(options.threads));
  }
  if (options.flow_capacity == 0 || options.flow_space == 0 || options.flow_space > 0x100000) {
    throw std::invalid_argument("flow capacity must be > 0 and flow space 1..1048576");
  }
  DemoReport report;
  report.options = options;
  report.possible_cpus = possible_cpus();
  report.machine = topology::Topology::discover().description();

  Maps maps(options.flow_capacity);
  // User side: create every class key with all CPUs' slots zero (bpf_map_update_elem with a
  // possible_cpus()-sized value buffer).
  const std::vector<std::uint64_t> zeros(static_cast<std::size_t>(report.possible_cpus), 0);
  for (std::uint32_t c = 0; c < kProtocolClasses; ++c) {
    if (maps.per_cpu.update_all(c, zeros) != Errc::ok) {
      throw std::logic_error("PercpuHashMap::update_all failed on an empty map");
    }
  }

  std::vector<WorkerTally> tallies(static_cast<std::size_t>(options.threads));
  {
    std::latch start(options.threads);
    std::vector<std::jthread> workers;
    workers.reserve(tallies.size());
    for (int t = 0; t < options.threads; ++t) {
      workers.emplace_back(run_worker, std::ref(maps), std::cref(options), t, std::ref(start),
                           std::ref(tallies[static_cast<std::size_t>(t)]));
    }
  }  // jthreads join here
  for (const WorkerTally& w : tallies) {
    report.packets += w.packets;
    report.bytes += w.bytes;
    report.hits += w.hits;
    report.misses += w.misses;
    report.inserted += w.inserted;
    report.insert_races += w.insert_races;
    report.dropped += w.dropped;
    report.dropped_bytes += w.dropped_bytes;
    report.unexpected += w.unexpected;
  }

  walk_flows(maps, report);
  report.per_cpu_packets.assign(static_cast<std::size_t>(report.possible_cpus), 0);
  report.cpu_total.assign(static_cast<std::size_t>(report.possible_cpus), 0);
  for (std::uint32_t cpu = 0; cpu < static_cast<std::uint32_t>(report.possible_cpus); ++cpu) {
    for (std::uint32_t c = 0; c < kProtocolClasses; ++c) {
      if (const std::uint64_t* v = maps.per_cpu.lookup_percpu(c, cpu)) {
        report.per_cpu_packets[cpu] += *v;
      }
    }
    report.cpu_total[cpu] = *maps.cpu_total.lookup_percpu(0, cpu);
  }
  for (std::uint32_t port = 0; port < kPorts; ++port) {
    const Counters c = maps.ports.lookup_copy(port).value_or(Counters{});
    report.port_packets += c.packets;
    report.port_bytes += c.bytes;
  }
  check_semantics(maps, options, report);
  return report;
}

std::string format_report(const DemoReport& r) {
  const DemoOptions& o = r.options;
  std::string s;
  s += "xmaps-sim: map demo (the traffic simulator is not written yet)\n";
  s += "machine    " + r.machine + "; possible_cpus() = " + std::to_string(r.possible_cpus) + "\n";
  s += "traffic    seed " + std::to_string(o.seed) + ", " + plural(o.threads, "thread", "threads") +
       " (CpuBinding to ids 0.." + std::to_string(std::min(o.threads, r.possible_cpus) - 1) +
       "), " + std::to_string(o.packets_per_thread) +
       " packets each: " + plural(r.packets, "packet", "packets") + ", " + std::to_string(r.bytes) +
       " bytes, over " + std::to_string(o.flow_space) + " flows\n";
  s += "\nflows      HashMap<uint32_t, Counters>, max_entries " + std::to_string(o.flow_capacity) +
       "\n";
  s += "  lookup   " + std::to_string(r.hits) + " hits, " + std::to_string(r.misses) +
       " misses (split depends on scheduling)\n";
  s += "  insert   " + std::to_string(r.inserted) + " new flows; " +
       std::to_string(r.insert_races) + " lost races (EEXIST, counted on the winner's entry)\n";
  s += "  drop     " + plural(r.dropped, "packet", "packets") + " refused with E2BIG: table full\n";
  s += "  walk     get_next_key visited " + std::to_string(r.walked_keys) + " keys (approx_size " +
       std::to_string(r.approx_size) + "); table packets " + std::to_string(r.table_packets) +
       " + dropped " + std::to_string(r.dropped) + " = " +
       std::to_string(r.table_packets + r.dropped) + "\n";
  s += "  fill     new flows accepted up to " + std::to_string(r.filled_to) +
       " entries; walk of the full table: " + std::to_string(r.walked_after_fill) + " keys\n";
  s += "per_cpu    PercpuHashMap<uint32_t, uint64_t>, " + std::to_string(kProtocolClasses) +
       " classes: " + per_cpu_line(r.per_cpu_packets) + "\n";
  s += "cpu_total  PercpuArrayMap<uint64_t>[0]: " + per_cpu_line(r.cpu_total) + "\n";
  s += "ports      ArrayMap<Counters>, " + std::to_string(kPorts) +
       " entries: " + std::to_string(r.port_packets) + " packets, " + std::to_string(r.port_bytes) +
       " bytes\n";
  s += "\nerror semantics\n";
  for (const DemoReport::Check& c : r.checks) {
    s += "  " + pad(c.operation, 45) + " -> " + pad(std::string(to_string(c.got)), 40) + " " +
         (c.got == c.expected ? "ok" : "WRONG") + "\n";
  }
  const std::vector<std::string> failed = r.failures();
  if (failed.empty()) {
    s += "\nresult: every packet counted exactly once; all checks passed\n";
  } else {
    s += "\nresult: " + plural(failed.size(), "check", "checks") + " FAILED\n";
    for (const std::string& f : failed) {
      s += "  - " + f + "\n";
    }
  }
  return s;
}

}  // namespace xmaps::sim
