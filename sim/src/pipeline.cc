// SPDX-License-Identifier: MIT
//
// The live pipeline (xmaps/sim/pipeline.h). Threads and what they own:
//
//   source     the FrameSource, the Pacer, the pcap writer; the producer end of every RX ring;
//              SourceShared's counters (single writer).
//   ingress i  its queues' consumer ends, its RedirectContext, IngressShared i (single writer).
//   workers    the CpuMap's; each writes only its WorkerSlot (delivered count, clock id) and,
//              under the slot's lock, the slot's interval histogram.
//   main       the sampler: reads every shared counter (relaxed: monitoring), swaps the
//              interval histograms under their locks, decides when to stop, drains, and reads
//              the final counters after the threads that wrote them have been joined (or, for
//              workers, after their entries were erased, which joins them).
//
// Stop protocol, numbered:
//   (1) main: stop_ = true (release)           -> the source finishes its burst and leaves
//   (2) source: source_done_ = true (release)  -> after its last ring push
//   (3) ingress: sees (2) (acquire), finds its rings empty, flushes and exits
//       (after drain_timeout main sets hard_stop_ and the ingress threads exit anyway)
//   (4) main: joins, then erases every CPUMAP entry (drains its ring, joins its worker)
#include "xmaps/sim/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <time.h>
#include <vector>

#include "clock.h"
#include "frame_source.h"
#include "nic_queue.h"
#include "run_result.h"
#include "rx_ring.h"
#include "xmaps/cpu.h"
#include "xmaps/detail/cache_line.h"
#include "xmaps/detail/spinlock.h"
#include "xmaps/frame_pool.h"
#include "xmaps/redirect.h"
#include "xmaps/sim/generator.h"
#include "xmaps/sim/packet.h"
#include "xmaps/sim/pcap_io.h"
#include "xmaps/sim/programs.h"
#include "xmaps/sim/rss.h"
#include "xmaps/topology.h"
#include "xmaps/topology/cpu_policy.h"

namespace xmaps::sim {

std::vector<std::pair<std::string, std::uint64_t>> DropCounts::items() const {
  return {{"oversize", oversize},
          {"no_free_frame", no_free_frame},
          {"rx_ring_full", rx_ring_full},
          {"parse_failure", parse_failure},
          {"first_program_drop", first_program},
          {"first_program_aborted", first_aborted},
          {"redirect_error", redirect_errors},
          {"cpumap_enqueue_drop", cpumap_enqueue},
          {"second_program_drop", second_program},
          {"second_program_aborted", second_aborted},
          {"second_program_redirect", second_redirect}};
}

namespace {

using detail::now_ns;

std::uint64_t wall_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

double clock_seconds(clockid_t id) noexcept {
  timespec ts{};
  if (clock_gettime(id, &ts) != 0)
    return -1;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Idle back-off of a polling thread: pause, then yield, then sleep, so that threads that
// outnumber the cores give the busy ones the CPU.
void back_off(std::uint32_t& idle) noexcept {
  if (idle < 16) {
    xmaps::detail::spin_pause();
  } else if (idle < 64) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  ++idle;
}

// A single-writer counter others read while it runs.
class Counter {
 public:
  // Writer only: a plain add published with a relaxed store (a statistic; final values are
  // read after the writer is joined).
  void add(std::uint64_t n) noexcept {
    // Relaxed (both): single writer; readers only monitor.
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(std::uint64_t n) noexcept {
    // Relaxed: as add().
    v_.store(n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept {
    // Relaxed: a monitoring read, or after a join (which orders it).
    return v_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A latency histogram the sampler swaps out while its owner records into it.
struct LatencySlot {
  std::mutex lock;  // owner: once per batch; sampler: once per interval
  LatencyHistogram interval;
};

struct WorkerSlot {
  int cpu = -1;
  LatencySlot latency;
  Counter delivered;  // written by the worker thread only (the sink / the wrapper program)
  // Set once by the worker (worker_init, or its first frame for an external map).
  std::atomic<bool> clock_ready{false};
  clockid_t clock{};
  double cpu_seconds = -1;  // main thread only
};

struct IngressSlot {
  int cpu = -1;
  std::vector<std::uint32_t> queues;
  std::thread thread;
  clockid_t clock{};
  bool have_clock = false;
  LatencySlot latency;  // XDP_PASS at ingress
  Counter frames, polls, work_polls, passed, redirected, redirect_errors, dropped, aborted;
  // Written by the thread before it exits; read after the join.
  bool pinned = false;
  double cpu_seconds = 0;
  RedirectStats final_stats;
  std::atomic<bool> exited{false};
};

struct SourceShared {
  Counter generated;      // every packet the source produced
  Counter oversize;       // ... that did not fit a frame
  Counter no_free_frame;  // ... dropped for want of a frame (paced)
  Counter unparsed;       // ... the NIC could not parse (hashed to queue 0)
  Counter pcap_written;
  std::vector<Counter> received;   // per queue: into the ring
  std::vector<Counter> ring_full;  // per queue: dropped at a full ring
  clockid_t clock{};               // main thread only
  bool have_clock = false;         // main thread only
  double cpu_seconds = 0;          // written before (2), read after it or after the join
  std::uint64_t pcap_truncated = 0;
  bool pinned = false;  // written by the thread at its start, read after join
};

int topology_cpu_count(const topology::Topology& t) {
  int n = 0;
  for (const topology::Cpu& c : t.cpus())
    n += c.os_index < possible_cpus() ? 1 : 0;
  return n;
}

void append_cpu(std::string& list, int cpu) {
  if (!list.empty())
    list.push_back(',');
  list.append(std::to_string(cpu));
}

std::vector<int> pick(const topology::Topology& t, topology::CpuPolicy p) {
  std::vector<int> out = topology::pick_cpus(t, p);
  return out;
}

}  // namespace

Scenario resolve(const Scenario& in) {
  if (in.model_cpus > 0) {
    try {
      set_possible_cpus(static_cast<int>(in.model_cpus));
    } catch (const std::exception& e) {
      throw std::invalid_argument("model-cpus " + std::to_string(in.model_cpus) + ": " + e.what());
    }
  }
  return resolve(in, topology::Topology::discover());
}

Scenario resolve(const Scenario& in, const topology::Topology& t) {
  Scenario s = in;
  validate(s);
  std::vector<int> usable;
  for (const topology::Cpu& c : t.cpus()) {
    if (c.os_index < possible_cpus())
      usable.push_back(c.os_index);
  }
  const int here = topology_cpu_count(t);
  const bool modelled = s.model_cpus > 0 && static_cast<int>(s.model_cpus) > here;
  using topology::CpuPolicy;
  if (s.ingress_cpus.empty()) {
    const int n = s.ingress_count != 0 ? static_cast<int>(s.ingress_count)
                                       : std::max(1, static_cast<int>(usable.size()) / 4);
    if (modelled && n > here) {
      for (int c = 0; c < n; ++c)
        s.ingress_cpus.push_back(c);
    } else {
      CpuPolicy p = CpuPolicy::compact(n);
      if (s.placement == Placement::skip_smt)
        p = CpuPolicy::skip_smt(n);
      else if (s.placement == Placement::spread)
        p = CpuPolicy::spread_packages(n);
      try {
        s.ingress_cpus = pick(t, p);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("ingress-count " + std::to_string(n) + ": " + e.what());
      }
    }
  }
  if (s.worker_cpus.empty()) {
    int rest = 0;
    for (int c : usable)
      rest += std::find(s.ingress_cpus.begin(), s.ingress_cpus.end(), c) == s.ingress_cpus.end();
    const int n = s.worker_count != 0 ? static_cast<int>(s.worker_count) : std::max(1, rest);
    if (modelled && s.worker_count != 0) {
      // Modelled ids after the ingress CPUs (wrapping round the possible CPUs).
      const int start = s.ingress_cpus.empty()
                            ? 0
                            : *std::max_element(s.ingress_cpus.begin(), s.ingress_cpus.end()) + 1;
      for (int i = 0; i < n; ++i)
        s.worker_cpus.push_back((start + i) % possible_cpus());
      std::sort(s.worker_cpus.begin(), s.worker_cpus.end());
      s.worker_cpus.erase(std::unique(s.worker_cpus.begin(), s.worker_cpus.end()),
                          s.worker_cpus.end());
    } else {
      // The ingress CPUs on this topology, and their cores' PUs (numa and skip-smt keep the
      // workers off those cores).
      std::vector<int> ingress_here;
      std::vector<int> avoid;
      for (int c : s.ingress_cpus) {
        if (!t.has_cpu(c))
          continue;
        ingress_here.push_back(c);
        for (int sib : t.smt_siblings(c))
          avoid.push_back(sib);
      }
      // worker-count auto: every CPU the policy allows off the ingress CPUs (at least one).
      const int want = s.worker_count != 0 ? n : CpuPolicy::kAll;
      CpuPolicy p = CpuPolicy::compact(want);
      std::vector<int> off = ingress_here;
      if (s.placement == Placement::numa && !ingress_here.empty()) {
        p = CpuPolicy::same_numa_as(ingress_here[0], want).with_smt(CpuPolicy::Smt::siblings_last);
        off = avoid;
      } else if (s.placement == Placement::skip_smt) {
        p = CpuPolicy::skip_smt(want);
        off = avoid;
      } else if (s.placement == Placement::spread) {
        p = CpuPolicy::spread_packages(want);
      }
      try {
        s.worker_cpus = pick(t, p.excluding(off));
      } catch (const std::invalid_argument&) {
        // Not enough CPUs apart from the ingress ones (a 1-CPU machine, or many workers
        // asked for): the same policy, sharing them (auto: one worker). If even that cannot
        // place them (more workers than the NUMA node, the cores or the machine has), it is
        // an error.
        if (want == CpuPolicy::kAll)
          p.count = 1;
        try {
          s.worker_cpus = pick(t, p);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument("worker-count " + get_knob(s, "worker-count") +
                                      " (placement " + std::string(to_string(s.placement)) +
                                      "): " + e.what());
        }
      }
    }
  }
  if (s.source_cpu == Scenario::kAutoCpu) {
    s.source_cpu = s.ingress_cpus.front();
    for (int c : usable) {
      if (std::find(s.ingress_cpus.begin(), s.ingress_cpus.end(), c) == s.ingress_cpus.end() &&
          std::find(s.worker_cpus.begin(), s.worker_cpus.end(), c) == s.worker_cpus.end()) {
        s.source_cpu = c;
        break;
      }
    }
  }
  if (s.rss.queues == 0)
    s.rss.queues = std::min<std::uint32_t>(
        kRetaSize, std::max<std::uint32_t>(2, static_cast<std::uint32_t>(s.ingress_cpus.size())));
  if (s.reta_equal_n != 0) {
    if (s.reta_equal_n > s.rss.queues)
      throw std::invalid_argument("reta 'equal " + std::to_string(s.reta_equal_n) +
                                  "': N must be at most queues (" + std::to_string(s.rss.queues) +
                                  ")");
    const auto r = reta_equal(s.reta_equal_n);
    s.rss.reta.assign(r.begin(), r.end());
  }
  validate(s);
  (void)Rss(s.rss);  // throws for a RETA that does not fit the queues
  return s;
}

RunResult run_pipeline(const Scenario& scenario, const PipelineHooks& hooks) {
  const Scenario r = resolve(scenario);
  RunResult res;
  res.scenario = r;
  res.machine = topology::Topology::discover().description();
  const int ncpu = possible_cpus();
  const std::uint32_t nq = r.rss.queues;
  const Rss rss(r.rss);
  const bool paced = r.rate_pps > 0;

  // --- the traffic source ---------------------------------------------------------------
  detail::ScenarioSource built = detail::make_frame_source(r);
  std::unique_ptr<FrameSource> source = std::move(built.source);
  PcapReplay* const replay = built.replay;
  res.source = std::move(built.description);
  std::unique_ptr<PcapWriter> pcap_out;
  if (!r.pcap_out.empty() && r.pcap_out_packets > 0) {
    try {
      pcap_out = std::make_unique<PcapWriter>(r.pcap_out);
    } catch (const PcapError& e) {
      throw std::invalid_argument(std::string("pcap-out: ") + e.what());
    }
  }

  // --- frames, rings, per-thread state (all before the map: destroyed after it) ---------
  FramePool pool(r.pool_frames, r.frame_size, FramePool::kDefaultHeadroom);
  FramePool scratch(CpuMap::kMaxBatch, r.frame_size, FramePool::kDefaultHeadroom);
  std::vector<std::unique_ptr<detail::RxRing>> rings;
  for (std::uint32_t q = 0; q < nq; ++q)
    rings.push_back(std::make_unique<detail::RxRing>(r.rx_ring));
  SourceShared src;
  src.received = std::vector<Counter>(nq);
  src.ring_full = std::vector<Counter>(nq);

  std::vector<std::unique_ptr<WorkerSlot>> workers;
  std::vector<int> slot_of(static_cast<std::size_t>(ncpu), -1);
  for (int c : r.worker_cpus) {
    slot_of[static_cast<std::size_t>(c)] = static_cast<int>(workers.size());
    workers.push_back(std::make_unique<WorkerSlot>());
    workers.back()->cpu = c;
  }
  std::vector<std::unique_ptr<IngressSlot>> ingress;
  for (int c : r.ingress_cpus) {
    ingress.push_back(std::make_unique<IngressSlot>());
    ingress.back()->cpu = c;
  }
  for (std::uint32_t q = 0; q < nq; ++q)
    ingress[q % ingress.size()]->queues.push_back(q);

  // The worker side's delivery record: latency and count, on the worker's thread.
  auto record_delivery = [&workers, &slot_of](std::span<Frame* const> frames, int cpu) {
    const int idx = cpu >= 0 && cpu < static_cast<int>(slot_of.size())
                        ? slot_of[static_cast<std::size_t>(cpu)]
                        : -1;
    if (idx < 0)
      return;  // not a worker of ours (cannot happen: entries are ours)
    WorkerSlot& w = *workers[static_cast<std::size_t>(idx)];
    const std::uint64_t now = now_ns();
    {
      const std::lock_guard<std::mutex> g(w.latency.lock);
      for (Frame* f : frames)
        w.latency.interval.record(now > f->stamp_ns ? now - f->stamp_ns : 0);
    }
    w.delivered.add(frames.size());
  };
  auto note_clock = [&workers, &slot_of](int cpu) {
    const int idx = cpu >= 0 && cpu < static_cast<int>(slot_of.size())
                        ? slot_of[static_cast<std::size_t>(cpu)]
                        : -1;
    if (idx < 0)
      return;
    WorkerSlot& w = *workers[static_cast<std::size_t>(idx)];
    // Relaxed: only this worker writes the flag; the store below publishes.
    if (w.clock_ready.load(std::memory_order_relaxed))
      return;
    if (pthread_getcpuclockid(pthread_self(), &w.clock) == 0) {
      // R3: pairs with A3 in the sampler: the clock id is written.
      w.clock_ready.store(true, std::memory_order_release);
    }
  };

  // --- programs and the CPUMAP ----------------------------------------------------------
  std::shared_ptr<FlowAccounting> acct;
  std::shared_ptr<const XdpProgram> second = hooks.second_program;
  if (!second && r.lru_entries > 0) {
    acct = std::make_shared<FlowAccounting>(r.lru_entries);
    second = acct->program();
  }
  std::unique_ptr<CpuMap> own_map;
  CpuMap* map = hooks.cpu_map;
  std::shared_ptr<const XdpProgram> entry_program = second;
  if (map == nullptr) {
    CpuMap::Options opt;
    opt.sink = record_delivery;
    opt.worker_init = note_clock;
    own_map = std::make_unique<CpuMap>(static_cast<std::uint32_t>(ncpu), opt);
    map = own_map.get();
  } else {
    // The map's sink is not ours: count and time delivery in the entry's program instead.
    entry_program = std::make_shared<XdpProgram>(
        [second, record_delivery, note_clock](Frame& f) {
          const int cpu = current_cpu();
          note_clock(cpu);
          const XdpAction act = second ? second->run(f) : XdpAction::pass;
          if (act == XdpAction::pass) {
            Frame* const one[1] = {&f};
            record_delivery(std::span<Frame* const>(one, 1), cpu);
          }
          return act;
        },
        "xmaps-sim delivery");
  }
  for (const auto& w : workers) {
    if (static_cast<std::uint32_t>(w->cpu) >= map->max_entries())
      throw std::invalid_argument("worker CPU " + std::to_string(w->cpu) +
                                  " is beyond the CPUMAP's max_entries (" +
                                  std::to_string(map->max_entries()) + ")");
  }
  auto counters = std::make_shared<FirstProgramCounters>();
  std::shared_ptr<const XdpProgram> first = hooks.first_program;
  if (!first) {
    std::vector<std::uint32_t> targets;
    for (int c : r.worker_cpus)
      targets.push_back(static_cast<std::uint32_t>(c));
    first = make_first_program(parse_first_program(r.first_program), *map, targets, counters);
  }

  const topology::Topology topo = topology::Topology::discover();
  // From here on, whatever happens, the threads are stopped and joined and our entries erased
  // before the state they use goes (the guard runs on every exit, normal or not).
  std::atomic<bool> stop{false};         // (1) main -> source
  std::atomic<bool> source_done{false};  // (2) source -> ingress
  std::atomic<bool> hard_stop{false};    // main -> ingress, after the drain timeout
  std::thread source_thread;
  std::vector<std::uint32_t> entries;  // keys we created
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    // Release (both): pairs with the threads' acquire loads; only ends their loops.
    stop.store(true, std::memory_order_release);
    hard_stop.store(true, std::memory_order_release);
    if (source_thread.joinable())
      source_thread.join();
    for (auto& in : ingress) {
      if (in->thread.joinable())
        in->thread.join();
    }
    for (std::uint32_t key : entries)
      (void)map->erase(key);  // drains; ok for a key already erased
  }};

  std::vector<CpuMapStats> baseline(workers.size());
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const auto key = static_cast<std::uint32_t>(workers[i]->cpu);
    baseline[i] = map->stats(key);
    const Errc e = map->update(key, r.qsize, entry_program);
    if (e != Errc::ok)
      throw std::runtime_error("CPUMAP update of CPU " + std::to_string(key) + " failed: errno " +
                               std::to_string(static_cast<int>(e)));
    entries.push_back(key);
  }
  std::vector<bool> worker_pinned;
  for (const auto& w : workers) {
    worker_pinned.push_back(map->worker_pinned(static_cast<std::uint32_t>(w->cpu)));
  }

  // --- threads --------------------------------------------------------------------------

  const std::uint64_t t0 = now_ns();  // the run's start: before the first packet
  source_thread = std::thread([&] {
    src.pinned =
        r.source_cpu >= 0 && topo.has_cpu(r.source_cpu) && topology::pin_this_thread(r.source_cpu);
    std::optional<Pacer> pacer;
    if (paced)
      pacer.emplace(r.rate_pps, r.burst);
    Frame* frames[CpuMap::kMaxBatch];
    Frame* spare[CpuMap::kMaxBatch];
    std::uint64_t sent = 0;
    std::uint64_t prev_oversize = 0;
    std::uint64_t written = 0;
    std::uint32_t idle = 0;
    // Acquire: pairs with (1)'s release; nothing else is read through it, so this only ends
    // the loop.
    while (!stop.load(std::memory_order_acquire)) {
      std::size_t want = CpuMap::kMaxBatch;
      if (pacer) {
        const std::uint32_t a = pacer->allowance(now_ns());
        if (a == 0) {
          // Under a token's worth of time: yield; longer waits sleep.
          if (r.rate_pps < 5000)
            std::this_thread::sleep_for(std::chrono::microseconds(100));
          else
            std::this_thread::yield();
          continue;
        }
        want = std::min<std::size_t>(want, a);
      }
      if (r.packets != 0)
        want = static_cast<std::size_t>(std::min<std::uint64_t>(want, r.packets - sent));
      if (want == 0)
        break;
      const std::size_t got = pool.alloc_bulk(frames, want);
      std::size_t made = 0;  // packets produced in this round (frames, oversize, dropped)
      if (got < want && pacer) {
        // No descriptor for these: the NIC drops them. They are still generated (into spare
        // frames), so the traffic does not depend on drops.
        const std::size_t k = scratch.alloc_bulk(spare, want - got);
        const std::size_t w = source->fill(spare, k);
        (void)scratch.free_bulk(spare, k);
        src.no_free_frame.add(w);
        made += w;
      }
      if (got == 0 && !pacer) {
        back_off(idle);
        continue;
      }
      idle = 0;
      const std::size_t w = got == 0 ? 0 : source->fill(frames, got);
      const std::uint64_t ov = source->oversize();
      const std::uint64_t new_oversize = ov - prev_oversize;
      prev_oversize = ov;
      src.oversize.add(new_oversize);
      if (w < got)
        (void)pool.free_bulk(frames + w, got - w);
      const bool exhausted = got != 0 && w < got && new_oversize == 0;
      made += w + new_oversize;
      const std::uint64_t stamp = now_ns();
      for (std::size_t i = 0; i < w; ++i) {
        Frame* const f = frames[i];
        bool unparsed = false;
        const std::uint32_t q = detail::nic_rx_queue(rss, f->data, f->len, unparsed);
        if (unparsed)
          src.unparsed.add(1);
        f->rx_queue = q;
        f->stamp_ns = stamp;
        if (pcap_out && written < r.pcap_out_packets) {
          pcap_out->write(f->data, f->len, wall_ns());
          ++written;
          src.pcap_written.set(written);
        }
        if (rings[q]->try_push(f)) {
          src.received[q].add(1);
          continue;
        }
        if (pacer) {
          (void)f->recycle();
          src.ring_full[q].add(1);
          continue;
        }
        // Lossless: wait, the ingress CPU drains its rings (unless the run is being torn
        // down: then the ingress threads are gone).
        std::uint32_t spin = 0;
        bool pushed = false;
        // Relaxed: only ends the wait; set on the error path, after which nothing is counted.
        while (!(pushed = rings[q]->try_push(f)) && !hard_stop.load(std::memory_order_relaxed))
          back_off(spin);
        if (pushed) {
          src.received[q].add(1);
        } else {
          (void)f->recycle();
          src.ring_full[q].add(1);
        }
      }
      if (pacer)
        pacer->consume(static_cast<std::uint32_t>(made));
      sent += made;
      src.generated.set(sent);
      if (exhausted)
        break;
    }
    if (replay != nullptr)
      src.pcap_truncated = replay->truncated();
    src.cpu_seconds = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
    // (2) R4: pairs with A4 in the ingress threads: every push is done.
    source_done.store(true, std::memory_order_release);
  });
  src.have_clock = pthread_getcpuclockid(source_thread.native_handle(), &src.clock) == 0;

  for (auto& slot : ingress) {
    IngressSlot* const me = slot.get();
    me->thread = std::thread([&, me] {
      me->pinned = topo.has_cpu(me->cpu) && topology::pin_this_thread(me->cpu);
      const CpuBinding bind(me->cpu);
      RedirectContext ctx;
      Frame* batch[CpuMap::kMaxBatch];
      std::uint32_t idle = 0;
      for (;;) {
        bool any = false;
        for (std::uint32_t q : me->queues) {
          const std::size_t n = rings[q]->pop_bulk(batch, r.batch);
          me->polls.add(1);
          if (n == 0)
            continue;
          any = true;
          me->work_polls.add(1);
          me->frames.add(n);
          std::uint64_t passed = 0;
          for (std::size_t i = 0; i < n; ++i) {
            Frame* const f = batch[i];
            if (ctx.run(*first, f) == XdpAction::pass) {
              // XDP_PASS on the ingress CPU: the local stack takes it; delivered here.
              {
                const std::lock_guard<std::mutex> g(me->latency.lock);
                const std::uint64_t now = now_ns();
                me->latency.interval.record(now > f->stamp_ns ? now - f->stamp_ns : 0);
              }
              (void)f->recycle();
              ++passed;
            }
          }
          ctx.flush();  // xdp_do_flush at the end of the poll batch
          if (passed != 0)
            me->passed.add(passed);
          const RedirectStats& st = ctx.stats();
          me->redirected.set(st.redirected);
          me->redirect_errors.set(st.redirect_errors);
          me->dropped.set(st.dropped);
          me->aborted.set(st.aborted);
        }
        if (any) {
          idle = 0;
          continue;
        }
        // A4: pairs with R4: the source's last push precedes this; the rings are then
        // checked (with their own acquire) once more before leaving.
        if (source_done.load(std::memory_order_acquire)) {
          bool empty = true;
          for (std::uint32_t q : me->queues)
            empty = empty && rings[q]->consumer_empty();
          if (empty)
            break;
        }
        // Relaxed: only ends the loop; the frames left behind are counted as in flight.
        if (hard_stop.load(std::memory_order_relaxed))
          break;
        back_off(idle);
      }
      ctx.flush();
      me->final_stats = ctx.stats();
      me->cpu_seconds = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
      // R5: pairs with A5 in main's drain wait.
      me->exited.store(true, std::memory_order_release);
    });
    me->have_clock = pthread_getcpuclockid(me->thread.native_handle(), &me->clock) == 0;
  }

  // --- the sampler (this thread) ----------------------------------------------------------
  // Load entries: one per CPU with threads on it (sorted), and the source's own entry (CPU -1)
  // when it runs unpinned.
  std::vector<CpuLoad> loads;
  std::map<int, std::size_t> load_of;
  auto add_load = [&](int cpu, const char* what) {
    auto it = load_of.find(cpu);
    if (it == load_of.end()) {
      load_of[cpu] = loads.size();
      loads.push_back({cpu, 0, what});
    } else {
      loads[it->second].threads.append("+").append(what);
    }
  };
  add_load(r.source_cpu >= 0 ? r.source_cpu : -1, "source");
  for (const auto& in : ingress)
    add_load(in->cpu, "ingress");
  for (const auto& w : workers)
    add_load(w->cpu, "worker");
  std::sort(loads.begin(), loads.end(),
            [](const CpuLoad& a, const CpuLoad& b) { return a.cpu < b.cpu; });
  load_of.clear();
  for (std::size_t i = 0; i < loads.size(); ++i)
    load_of[loads[i].cpu] = i;
  const std::size_t source_load = load_of[r.source_cpu >= 0 ? r.source_cpu : -1];

  std::vector<double> last_ingress_cpu(ingress.size(), 0), last_worker_cpu(workers.size(), 0);
  double last_source_cpu = 0;
  std::vector<std::uint64_t> occ_rx_sum(nq, 0), occ_w_sum(workers.size(), 0);
  std::vector<std::uint32_t> occ_rx_max(nq, 0), occ_w_max(workers.size(), 0);
  std::uint64_t occ_samples = 0;

  auto current_delivered = [&] {
    std::uint64_t d = 0;
    for (const auto& w : workers)
      d += w->delivered.get();
    for (const auto& in : ingress)
      d += in->passed.get();
    return d;
  };
  auto current_dropped = [&] {
    std::uint64_t d = src.oversize.get() + src.no_free_frame.get();
    for (const Counter& c : src.ring_full)
      d += c.get();
    for (const auto& in : ingress)
      d += in->redirect_errors.get() + in->dropped.get() + in->aborted.get();
    for (std::size_t i = 0; i < workers.size(); ++i) {
      CpuMapStats st = map->stats(static_cast<std::uint32_t>(workers[i]->cpu));
      d += st.enqueue_drops - baseline[i].enqueue_drops + st.dropped - baseline[i].dropped +
           st.aborted - baseline[i].aborted + st.redirected - baseline[i].redirected +
           st.redirect_errors - baseline[i].redirect_errors;
    }
    return d;
  };
  LatencyHistogram merged;
  auto take_latency = [&](LatencyHistogram& into) {
    into.reset();
    for (auto& w : workers) {
      const std::lock_guard<std::mutex> g(w->latency.lock);
      into.merge(w->latency.interval);
      w->latency.interval.reset();
    }
    for (auto& in : ingress) {
      const std::lock_guard<std::mutex> g(in->latency.lock);
      into.merge(in->latency.interval);
      in->latency.interval.reset();
    }
    res.latency.merge(into);
  };
  auto worker_cpu_now = [&](std::size_t i) -> double {
    WorkerSlot& w = *workers[i];
    // A3: pairs with R3: the clock id is written.
    if (!w.clock_ready.load(std::memory_order_acquire))
      return -1;
    const double v = clock_seconds(w.clock);
    if (v >= 0)
      w.cpu_seconds = v;
    return w.cpu_seconds;
  };

  std::uint64_t last_t = t0;
  std::uint64_t last_gen = 0, last_del = 0, last_drop = 0;
  const std::uint64_t interval_ns = static_cast<std::uint64_t>(r.interval_ms) * 1'000'000;
  const auto duration_ns = static_cast<std::uint64_t>(r.duration_s * 1e9);

  auto sample = [&](bool final) {
    const std::uint64_t t = now_ns();
    Interval iv;
    iv.t_s = static_cast<double>(t - t0) * 1e-9;
    iv.seconds = static_cast<double>(t - last_t) * 1e-9;
    const std::uint64_t gen = src.generated.get();
    const std::uint64_t del = current_delivered();
    const std::uint64_t drop = current_dropped();
    iv.generated = gen - last_gen;
    iv.delivered = del - last_del;
    iv.dropped = drop >= last_drop ? drop - last_drop : 0;
    take_latency(merged);
    iv.latency_p50_ns = merged.percentile(50);
    iv.latency_p99_ns = merged.percentile(99);
    iv.latency_max_ns = merged.max();
    // CPU time per load entry over the interval.
    std::vector<double> busy(loads.size(), 0);
    const double secs = iv.seconds > 0 ? iv.seconds : 1e-9;
    for (std::size_t i = 0; i < ingress.size(); ++i) {
      IngressSlot& in = *ingress[i];
      // A5: pairs with R5: once exited, cpu_seconds is final and the clock may be gone.
      const double v = in.exited.load(std::memory_order_acquire)
                           ? in.cpu_seconds
                           : (in.have_clock ? clock_seconds(in.clock) : -1);
      if (v >= 0) {
        busy[load_of[in.cpu]] += (v - last_ingress_cpu[i]) / secs;
        last_ingress_cpu[i] = v;
      }
    }
    for (std::size_t i = 0; i < workers.size(); ++i) {
      const double v = worker_cpu_now(i);
      if (v >= 0) {
        busy[load_of[workers[i]->cpu]] += (v - last_worker_cpu[i]) / secs;
        last_worker_cpu[i] = v;
      }
    }
    if (src.have_clock) {
      // A6: pairs with (2)'s release: after it, cpu_seconds is final.
      const double v =
          source_done.load(std::memory_order_acquire) ? src.cpu_seconds : clock_seconds(src.clock);
      if (v >= 0) {
        busy[source_load] += (v - last_source_cpu) / secs;
        last_source_cpu = v;
      }
    }
    iv.cpu_busy = busy;
    // Ring occupancy.
    ++occ_samples;
    for (std::uint32_t q = 0; q < nq; ++q) {
      const std::uint32_t o = rings[q]->was_size();
      occ_rx_sum[q] += o;
      occ_rx_max[q] = std::max(occ_rx_max[q], o);
    }
    for (std::size_t i = 0; i < workers.size(); ++i) {
      const CpuMapStats st = map->stats(static_cast<std::uint32_t>(workers[i]->cpu));
      const std::uint64_t in_ring = st.enqueued > st.processed ? st.enqueued - st.processed : 0;
      const auto o = static_cast<std::uint32_t>(in_ring);
      occ_w_sum[i] += o;
      occ_w_max[i] = std::max(occ_w_max[i], o);
    }
    if (iv.seconds > 0 && (iv.generated != 0 || iv.delivered != 0 || iv.dropped != 0 || !final))
      res.intervals.push_back(std::move(iv));
    last_t = t;
    last_gen = gen;
    last_del = del;
    last_drop = drop;
    if (hooks.on_progress) {
      Progress p;
      p.elapsed_s = static_cast<double>(t - t0) * 1e-9;
      p.planned_s = r.duration_s;
      p.generated = gen;
      p.delivered = del;
      p.dropped = drop;
      p.delivered_pps = res.intervals.empty() ? 0 : res.intervals.back().delivered_pps();
      hooks.on_progress(p);
    }
  };

  std::uint64_t next = t0 + interval_ns;
  for (;;) {
    const std::uint64_t t = now_ns();
    // Relaxed: only decides whether to stop sampling; the drain below synchronizes.
    const bool done = source_done.load(std::memory_order_relaxed);
    if (done || (duration_ns != 0 && t - t0 >= duration_ns))
      break;
    if (t >= next) {
      sample(false);
      next += interval_ns;
      if (next <= t)
        next = t + interval_ns;
      continue;
    }
    std::uint64_t wait = next - t;
    if (duration_ns != 0)
      wait = std::min(wait, t0 + duration_ns - t);
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::uint64_t>(wait, 5'000'000)));
  }
  // (1) R6: pairs with the source's acquire: ends its loop.
  stop.store(true, std::memory_order_release);
  source_thread.join();
  if (pcap_out) {
    try {
      pcap_out->close();
    } catch (const PcapError& e) {
      res.notes.push_back(std::string("pcap-out: ") + e.what());
    }
  }
  if (r.source_cpu >= 0 && !src.pinned)
    res.notes.push_back("the source thread could not be pinned to CPU " +
                        std::to_string(r.source_cpu) + ": runs unpinned");
  const std::uint64_t drain_start = now_ns();
  constexpr std::uint64_t kDrainTimeoutNs = 10'000'000'000;
  for (;;) {
    bool all = true;
    for (const auto& in : ingress)
      all = all && in->exited.load(std::memory_order_acquire);  // A5: pairs with R5
    if (all)
      break;
    if (now_ns() - drain_start > kDrainTimeoutNs) {
      // Relaxed: the joins below order everything the threads wrote.
      hard_stop.store(true, std::memory_order_relaxed);
      res.notes.push_back("drain timed out after 10 s: frames left in the RX rings");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& in : ingress)
    in->thread.join();
  // Let the workers finish their rings before their CPU time is read and the entries go.
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const auto key = static_cast<std::uint32_t>(workers[i]->cpu);
    for (int spin = 0; spin < 10000; ++spin) {
      const CpuMapStats st = map->stats(key);
      if (st.processed >= st.enqueued)
        break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  for (std::size_t i = 0; i < workers.size(); ++i)
    (void)worker_cpu_now(i);
  res.wall_seconds = static_cast<double>(now_ns() - t0) * 1e-9;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const auto key = static_cast<std::uint32_t>(workers[i]->cpu);
    const Errc e = map->erase(key);  // drains the ring, joins the worker
    if (e != Errc::ok)
      res.notes.push_back("CPUMAP erase of CPU " + std::to_string(key) + " failed");
  }
  entries.clear();
  sample(true);

  // --- results --------------------------------------------------------------------------
  const double wall = res.wall_seconds > 0 ? res.wall_seconds : 1e-9;
  res.generated = src.generated.get();
  res.rss_unparsed = src.unparsed.get();
  res.pcap_written = src.pcap_written.get();
  res.pcap_truncated = src.pcap_truncated;
  res.drops.oversize = src.oversize.get();
  res.drops.no_free_frame = src.no_free_frame.get();
  std::uint64_t received = 0;
  for (std::uint32_t q = 0; q < nq; ++q) {
    QueueMetrics m;
    m.queue = q;
    m.ingress_cpu = ingress[q % ingress.size()]->cpu;
    m.received = src.received[q].get();
    m.rx_ring_full = src.ring_full[q].get();
    m.frames = m.received + m.rx_ring_full;
    m.occupancy_max = occ_rx_max[q];
    m.occupancy_mean =
        occ_samples ? static_cast<double>(occ_rx_sum[q]) / static_cast<double>(occ_samples) : 0;
    res.drops.rx_ring_full += m.rx_ring_full;
    received += m.received;
    res.queues.push_back(m);
  }
  std::string unpinned_ingress, unpinned_workers;
  std::uint64_t ingress_frames = 0, ingress_redirected = 0, ingress_passed = 0;
  RedirectStats first_totals;
  for (const auto& in : ingress) {
    IngressMetrics m;
    m.cpu = in->cpu;
    m.pinned = in->pinned;
    m.queues = in->queues;
    m.frames = in->frames.get();
    m.polls = in->polls.get();
    m.work_polls = in->work_polls.get();
    m.passed = in->passed.get();
    m.cpu_seconds = in->cpu_seconds;
    m.busy = in->cpu_seconds / wall;
    if (!m.pinned)
      append_cpu(unpinned_ingress, in->cpu);
    ingress_frames += m.frames;
    ingress_passed += m.passed;
    first_totals.redirected += in->final_stats.redirected;
    first_totals.redirect_errors += in->final_stats.redirect_errors;
    first_totals.dropped += in->final_stats.dropped;
    first_totals.aborted += in->final_stats.aborted;
    first_totals.passed += in->final_stats.passed;
    res.ingress.push_back(std::move(m));
  }
  ingress_redirected = first_totals.redirected;
  const FirstProgramStats fps = counters->snapshot();
  res.drops.parse_failure = hooks.first_program ? 0 : fps.parse_failures();
  res.drops.first_program =
      first_totals.dropped - std::min(first_totals.dropped, res.drops.parse_failure);
  res.drops.first_aborted = first_totals.aborted;
  res.drops.redirect_errors = first_totals.redirect_errors;
  std::uint64_t worker_delivered = 0, enq = 0, enq_drops = 0, passed = 0;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    WorkerMetrics m;
    m.cpu = workers[i]->cpu;
    CpuMapStats st = map->stats(static_cast<std::uint32_t>(m.cpu));
    const CpuMapStats& b = baseline[i];
    st.enqueued -= b.enqueued;
    st.enqueue_drops -= b.enqueue_drops;
    st.processed -= b.processed;
    st.passed -= b.passed;
    st.dropped -= b.dropped;
    st.redirected -= b.redirected;
    st.redirect_errors -= b.redirect_errors;
    st.aborted -= b.aborted;
    st.sleeps -= b.sleeps;
    m.stats = st;
    m.delivered = workers[i]->delivered.get();
    m.pinned = worker_pinned[i];
    if (!m.pinned)
      append_cpu(unpinned_workers, m.cpu);
    m.occupancy_max = occ_w_max[i];
    m.occupancy_mean =
        occ_samples ? static_cast<double>(occ_w_sum[i]) / static_cast<double>(occ_samples) : 0;
    m.cpu_seconds = workers[i]->cpu_seconds;
    m.busy = m.cpu_seconds > 0 ? m.cpu_seconds / wall : 0;
    res.drops.cpumap_enqueue += st.enqueue_drops;
    res.drops.second_program += st.dropped;
    res.drops.second_aborted += st.aborted;
    res.drops.second_redirect += st.redirected + st.redirect_errors;
    worker_delivered += m.delivered;
    enq += st.enqueued;
    enq_drops += st.enqueue_drops;
    passed += st.passed;
    res.workers.push_back(m);
  }
  res.delivered = worker_delivered + ingress_passed;
  if (!unpinned_ingress.empty())
    res.notes.push_back("ingress CPUs " + unpinned_ingress +
                        " could not be pinned (not usable CPUs here): their threads run "
                        "unpinned, bound to those CPU ids for xmaps");
  if (!unpinned_workers.empty())
    res.notes.push_back("worker CPUs " + unpinned_workers +
                        " could not be pinned (not usable CPUs here): their workers run unpinned");
  // CPU load over the whole run.
  for (CpuLoad& l : loads)
    l.busy = 0;
  if (src.have_clock)
    loads[source_load].busy += src.cpu_seconds / wall;
  for (const IngressMetrics& m : res.ingress)
    loads[load_of[m.cpu]].busy += m.busy;
  for (const WorkerMetrics& m : res.workers)
    loads[load_of[m.cpu]].busy += m.busy;
  res.cpus = loads;

  if (acct)
    detail::fill_flow_stats(res, *acct);

  // --- conservation ---------------------------------------------------------------------
  res.pool_frames = pool.count();
  own_map.reset();  // every worker gone: no frame can still be out
  res.pool_in_use = pool.in_use();
  detail::CrossChecks checks;
  checks.rx_received = received;
  checks.ingress_took = ingress_frames;
  checks.redirected = ingress_redirected;
  checks.cpumap_saw = enq + enq_drops;
  checks.workers_passed = passed;
  checks.sink_took = worker_delivered;
  detail::check_conservation(res, checks);
  return res;
}

}  // namespace xmaps::sim
