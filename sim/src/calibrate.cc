// SPDX-License-Identifier: MIT
//
// calibrate() (xmaps/sim/cost_model.h): measures the cost model's steps on this machine with
// the code the live pipeline runs, in single-threaded timing loops, plus one cross-core frame
// hand-over between two pinned threads.
//
// Method. Each step is a loop of short timed chunks (tens to hundreds of frames between two
// steady_clock reads, the clock's own cost subtracted); the step keeps going for
// seconds_per_step and reports the median chunk, so a chunk hit by a preemption or an
// interrupt (the machine is shared) does not move the figure. Setup work (allocating and
// filling frames, draining rings) sits outside the timed regions. What each figure covers:
//
//   source_ns_per_frame/_per_byte  FramePool::alloc_bulk + TrafficGenerator::fill +
//                                  the NIC's queue choice + stamp + an RX ring push, for
//                                  60-byte frames and for IMIX; the per-byte figure is the
//                                  slope between the two, the per-frame one the intercept
//   ingress_poll_ns                a pop_bulk on an empty RX ring
//   rx_dequeue_ns_per_frame        a pop_bulk of 64 frames, less an empty poll, per frame
//   first_program_ns[name]         RedirectContext::run() of the built-in program into a CpuMap
//                                  (manual mode) entry: the program, redirect_map(), the bulk
//                                  append (the bulk never fills inside the timed region);
//                                  "custom" (a user program) is given hash's figure
//   flush_ns_per_bulk              RedirectContext::flush() of one bulk of 8 frames
//   worker_dequeue_ns_per_frame    CpuMap::run_worker() without a second program or sink:
//                                  ring dequeue, verdict, recycle, per frame
//   worker_idle_poll_ns            run_worker() on an empty ring
//   sink_ns_per_frame              the extra cost of a sink recording latency as the live
//                                  pipeline's does (clock read, lock, histogram, counter)
//   flow_hit_ns, flow_insert_ns,   FlowAccounting::account(): hits (one resident working set of
//   lru_ns_per_log2_entries        1024 flows, or a quarter of the table, on a table of twice
//                                  that and on the large table: the slope per doubling of
//                                  entries, and the intercept at one entry), inserts into a
//                                  table with free entries (syn-flood traffic: every frame a
//                                  new flow), and
//   flow_evict_ns                  inserts into a full table, less a plain insert
//   transfer_ns[class]             frames circulating between two pinned threads: written on
//                                  CPU a, handed over through a ring, read and written on CPU
//                                  b in bulks of 8, handed back; b's time per frame less the
//                                  same work on frames it wrote itself, for the class of the
//                                  first two usable CPUs; other classes keep their defaults
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "clock.h"
#include "nic_queue.h"
#include "rx_ring.h"
#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/frame_pool.h"
#include "xmaps/redirect.h"
#include "xmaps/sim/cost_model.h"
#include "xmaps/sim/generator.h"
#include "xmaps/sim/histogram.h"
#include "xmaps/sim/packet.h"
#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/programs.h"
#include "xmaps/sim/rss.h"
#include "xmaps/topology.h"

namespace xmaps::sim {

namespace {

using detail::now_ns;

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

double median(std::vector<double> v) {
  if (v.empty())
    throw std::runtime_error("calibrate: a step produced no measurement");
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Runs `chunk` (returns one figure) for `seconds`, at least 5 times; the median figure.
template <class F>
double median_over(double seconds, F&& chunk) {
  std::vector<double> figures;
  const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
  do {
    figures.push_back(chunk());
  } while (figures.size() < 5 || now_ns() < end);
  return median(std::move(figures));
}

// The cost of the two clock reads around a timed region (median), subtracted from each.
double clock_overhead_ns() {
  std::vector<double> v;
  for (int i = 0; i < 2001; ++i) {
    const std::uint64_t a = now_ns();
    const std::uint64_t b = now_ns();
    v.push_back(static_cast<double>(b - a));
  }
  return median(std::move(v));
}

constexpr std::size_t kBatch = 64;

struct Calibrator {
  double seconds;
  double clock_ns;

  [[nodiscard]] double elapsed(std::uint64_t t0, std::uint64_t t1) const noexcept {
    const double d = static_cast<double>(t1 - t0) - clock_ns;
    return d > 0 ? d : 0;
  }

  // Source per frame for `cfg`; mean_len gets the mean frame length.
  double source(const TrafficConfig& cfg, double& mean_len) const {
    FramePool pool(4 * kBatch);
    TrafficGenerator gen(cfg);
    RssConfig rc;
    rc.queues = 2;
    const Rss rss(rc);
    detail::RxRing ring(2 * kBatch);
    Frame* frames[kBatch];
    Frame* out[kBatch];
    std::uint64_t bytes = 0;
    std::uint64_t count = 0;
    const double ns = median_over(seconds, [&] {
      const std::uint64_t t0 = now_ns();
      const std::size_t got = pool.alloc_bulk(frames, kBatch);
      const std::size_t w = gen.fill(frames, got);
      const std::uint64_t stamp = now_ns();
      for (std::size_t i = 0; i < w; ++i) {
        Frame* const f = frames[i];
        bool unparsed = false;
        f->rx_queue = detail::nic_rx_queue(rss, f->data, f->len, unparsed);
        f->stamp_ns = stamp;
        (void)ring.try_push(f);
      }
      const std::uint64_t t1 = now_ns();
      const std::size_t n = ring.pop_bulk(out, kBatch);
      for (std::size_t i = 0; i < n; ++i)
        bytes += out[i]->len;
      count += n;
      (void)pool.free_bulk(out, n);
      if (w < got)
        (void)pool.free_bulk(frames + w, got - w);
      if (w == 0)
        throw std::runtime_error("calibrate: the generator wrote no frames");
      return elapsed(t0, t1) / static_cast<double>(w);
    });
    mean_len = count == 0 ? 60.0 : static_cast<double>(bytes) / static_cast<double>(count);
    return ns;
  }

  // An empty poll, and the dequeue per frame of a 64-frame poll.
  void rx_ring(double& poll_ns, double& per_frame_ns) const {
    FramePool pool(kBatch);
    detail::RxRing ring(2 * kBatch);
    Frame* frames[kBatch];
    Frame* out[kBatch];
    poll_ns = median_over(seconds, [&] {
      std::size_t got = 0;
      const std::uint64_t t0 = now_ns();
      for (int i = 0; i < 32; ++i)
        got += ring.pop_bulk(out, kBatch);
      const std::uint64_t t1 = now_ns();
      if (got != 0)
        throw std::runtime_error("calibrate: the empty RX ring was not empty");
      return elapsed(t0, t1) / 32;
    });
    const std::size_t have = pool.alloc_bulk(frames, kBatch);
    const double full = median_over(seconds, [&] {
      for (std::size_t i = 0; i < have; ++i)
        (void)ring.try_push(frames[i]);
      const std::uint64_t t0 = now_ns();
      const std::size_t n = ring.pop_bulk(out, kBatch);
      const std::uint64_t t1 = now_ns();
      return elapsed(t0, t1) / static_cast<double>(std::max<std::size_t>(n, 1));
    });
    (void)pool.free_bulk(frames, have);
    per_frame_ns = std::max(0.1, full - poll_ns / static_cast<double>(kBatch));
  }

  // The first programs, the flush per bulk, the worker's dequeue and idle poll, the sink.
  void cpumap_steps(CostModel& m) const {
    const std::uint32_t ncpu = static_cast<std::uint32_t>(possible_cpus());
    const std::uint32_t key = ncpu > 1 ? 1 : 0;
    constexpr std::size_t kGroup = 8;  // one bulk of the live pipeline (bulk_size 8)
    FramePool pool(16 * kBatch);
    TrafficConfig tc;
    TrafficGenerator gen(tc);
    Frame* frames[kGroup];

    // A bulk of 16, so the 8 frames of a group stay in the bulk queue until flush().
    CpuMap::Options plain;
    plain.manual_workers = true;
    plain.bulk_size = 16;
    plain.batch_size = 8;
    CpuMap map(ncpu, plain);
    if (map.update(key, 2048) != Errc::ok)
      throw std::runtime_error("calibrate: cannot create a CPUMAP entry (manual mode)");

    const CpuBinding ingress(0);
    double flush_ns = 0;
    double dequeue_ns = 0;
    for (const FirstProgram kind : {FirstProgram::round_robin, FirstProgram::flow_hash,
                                    FirstProgram::l4_port, FirstProgram::drop_all}) {
      const std::shared_ptr<XdpProgram> prog = make_first_program(kind, map, {key});
      RedirectContext ctx;
      std::vector<double> flushes;
      std::vector<double> dequeues;
      const double ns = median_over(seconds, [&] {
        const std::size_t got = pool.alloc_bulk(frames, kGroup);
        const std::size_t w = gen.fill(frames, got);
        if (w < got)
          (void)pool.free_bulk(frames + w, got - w);
        if (w == 0)
          throw std::runtime_error("calibrate: no frames for the first program");
        const std::uint64_t t0 = now_ns();
        for (std::size_t i = 0; i < w; ++i)
          (void)ctx.run(*prog, frames[i]);
        const std::uint64_t t1 = now_ns();
        ctx.flush();
        const std::uint64_t t2 = now_ns();
        const std::size_t ring = map.ring_count(key);
        const std::uint64_t t3 = now_ns();
        const std::size_t taken = map.run_worker(key, ring);
        const std::uint64_t t4 = now_ns();
        if (kind != FirstProgram::drop_all && w == kGroup) {
          flushes.push_back(elapsed(t1, t2));
          if (taken != 0)
            dequeues.push_back(elapsed(t3, t4) / static_cast<double>(taken));
        }
        return elapsed(t0, t1) / static_cast<double>(w);
      });
      m.first_program_ns[std::string(to_string(kind))] = std::max(0.1, ns);
      if (kind == FirstProgram::round_robin) {
        flush_ns = median(flushes);
        dequeue_ns = median(dequeues);
      }
    }
    m.first_program_ns["custom"] = m.first_program_ns["hash"];
    m.flush_ns_per_bulk = std::max(0.1, flush_ns);
    m.worker_dequeue_ns_per_frame = std::max(0.1, dequeue_ns);
    m.worker_idle_poll_ns =
        std::max(0.1, median_over(seconds, [&] {
                   std::size_t got = 0;
                   const std::uint64_t t0 = now_ns();
                   for (int i = 0; i < 32; ++i)
                     got += map.run_worker(key, kBatch);
                   const std::uint64_t t1 = now_ns();
                   if (got != 0)
                     throw std::runtime_error("calibrate: the empty CPUMAP ring was not empty");
                   return elapsed(t0, t1) / 32;
                 }));

    // The sink: the live pipeline's delivery record (clock, lock, histogram, counter).
    std::mutex lock;
    LatencyHistogram hist;
    std::atomic<std::uint64_t> delivered{0};
    CpuMap::Options with_sink = plain;
    with_sink.sink = [&](std::span<Frame* const> done, int) {
      const std::uint64_t now = now_ns();
      {
        const std::lock_guard<std::mutex> g(lock);
        for (Frame* f : done)
          hist.record(now > f->stamp_ns ? now - f->stamp_ns : 0);
      }
      // Relaxed: a statistic of this thread's, read after the loop.
      delivered.fetch_add(done.size(), std::memory_order_relaxed);
    };
    CpuMap sink_map(ncpu, with_sink);
    if (sink_map.update(key, 2048) != Errc::ok)
      throw std::runtime_error("calibrate: cannot create a CPUMAP entry (manual mode)");
    const std::shared_ptr<XdpProgram> rr =
        make_first_program(FirstProgram::round_robin, sink_map, {key});
    RedirectContext ctx;
    const double with = median_over(seconds, [&] {
      Frame* group[kBatch];
      const std::size_t got = pool.alloc_bulk(group, kBatch);
      const std::size_t w = gen.fill(group, got);
      if (w < got)
        (void)pool.free_bulk(group + w, got - w);
      const std::uint64_t stamp = now_ns();
      for (std::size_t i = 0; i < w; ++i) {
        group[i]->stamp_ns = stamp;
        (void)ctx.run(*rr, group[i]);
      }
      ctx.flush();
      const std::size_t ring = sink_map.ring_count(key);
      const std::uint64_t t0 = now_ns();
      const std::size_t taken = sink_map.run_worker(key, ring);
      const std::uint64_t t1 = now_ns();
      return elapsed(t0, t1) / static_cast<double>(std::max<std::size_t>(taken, 1));
    });
    m.sink_ns_per_frame = std::max(0.1, with - m.worker_dequeue_ns_per_frame);
  }

  // FlowAccounting::account() per frame of `cfg`'s traffic on a table of `entries`, after
  // `warm` untimed frames. `phase` says which chunks count: any, no_eviction (up to the first
  // eviction, then a new table), evicting (only once the table has started evicting).
  enum class Phase { any, no_eviction, evicting };
  double flow(std::uint32_t entries, const TrafficConfig& cfg, std::uint64_t warm,
              Phase phase) const {
    FramePool pool(2 * kBatch);
    std::vector<double> figures;
    const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
    Frame* frames[kBatch];
    for (int epoch = 0; figures.size() < 5 || now_ns() < end; ++epoch) {
      if (epoch > 1000)
        throw std::runtime_error("calibrate: flow accounting gave no measurement");
      TrafficConfig c = cfg;
      c.seed = cfg.seed + static_cast<std::uint64_t>(epoch);
      TrafficGenerator gen(c);
      FlowAccounting acct(entries);
      for (std::uint64_t done = 0; done < warm;) {
        const std::size_t got = pool.alloc_bulk(frames, kBatch);
        const std::size_t w = gen.fill(frames, got);
        for (std::size_t i = 0; i < w; ++i)
          (void)acct.account(*frames[i]);
        (void)pool.free_bulk(frames, got);
        done += std::max<std::size_t>(w, 1);
      }
      // A table's worth of chunks at most, then a fresh table (inserts run out of room).
      for (std::uint32_t chunk = 0; chunk < 1 + entries / kBatch / 4; ++chunk) {
        const std::uint64_t before = acct.stats().evictions;
        const std::size_t got = pool.alloc_bulk(frames, kBatch);
        const std::size_t w = gen.fill(frames, got);
        const std::uint64_t t0 = now_ns();
        for (std::size_t i = 0; i < w; ++i)
          (void)acct.account(*frames[i]);
        const std::uint64_t t1 = now_ns();
        (void)pool.free_bulk(frames, got);
        const std::uint64_t after = acct.stats().evictions;
        if (phase == Phase::no_eviction && after != before)
          break;
        if (w != 0 && (phase != Phase::evicting || before != 0))
          figures.push_back(elapsed(t0, t1) / static_cast<double>(w));
        if (figures.size() >= 5 && now_ns() >= end)
          break;
      }
    }
    return median(std::move(figures));
  }

  void flow_steps(CostModel& m, std::uint32_t large) const {
    if (large < 64)
      throw std::invalid_argument("calibrate: lru_entries must be at least 64");
    // One working set (the scenario default's 1024 flows, at most a quarter of the table) on
    // a small table and on the large one: the slope is the table size's own effect.
    TrafficConfig resident;
    resident.flows = std::min<std::uint32_t>(1024, large / 4);
    const std::uint32_t small = std::max<std::uint32_t>(64, 2 * resident.flows);
    const double hit_small = flow(small, resident, 8ULL * resident.flows, Phase::any);
    const double hit_large = flow(large, resident, 8ULL * resident.flows, Phase::any);
    const double doublings = std::log2(static_cast<double>(large) / small);
    const double slope = doublings >= 1 ? std::max(0.0, (hit_large - hit_small) / doublings) : 0.0;
    m.lru_ns_per_log2_entries = slope;
    m.flow_hit_ns = std::max(0.1, hit_small - slope * std::log2(static_cast<double>(small)));
    TrafficConfig flood;
    flood.mix = FlowMix::syn_flood;
    const double insert = flow(large, flood, 0, Phase::no_eviction);
    const double evicting = flow(large, flood, 2ULL * large, Phase::evicting);
    m.flow_insert_ns = std::max(0.1, insert - slope * std::log2(static_cast<double>(large)));
    m.flow_evict_ns = std::max(0.1, evicting - insert);
  }

  // Frames circulating between CPUs a and b as in the pipeline: a writes each frame's first
  // 64 bytes and metadata and hands it over through a ring, b takes bulks of 8, reads and
  // writes them (as the worker parses and counts), and hands them back through a second ring.
  // The figure: b's time per frame on full bulks, less the same work on frames it wrote
  // itself. Negative (no measurement) if the threads cannot be pinned.
  double transfer(int a, int b) const {
    constexpr std::size_t kFrames = 256;
    constexpr std::size_t kBulk = 8;
    FramePool pool(kFrames);
    Frame* all[kFrames];
    if (pool.alloc_bulk(all, kFrames) != kFrames)
      throw std::runtime_error("calibrate: no frames for the transfer");
    auto produce = [](Frame* f, std::uint64_t round) {
      std::fill_n(f->data, 64, static_cast<unsigned char>(round));
      f->len = 60;
      f->stamp_ns = round;
    };
    auto consume = [](Frame* const* fs, std::size_t n) {
      std::uint64_t sum = 0;
      for (std::size_t k = 0; k < n; ++k) {
        Frame* const f = fs[k];
        for (std::size_t i = 0; i < 64; ++i)
          sum += f->data[i];
        f->rx_queue = static_cast<std::uint32_t>(sum + f->len + f->stamp_ns);
      }
      return sum;
    };

    // The same work on frames this thread has just written.
    std::uint64_t checksum = 0;
    const double local = median_over(seconds / 2, [&] {
      for (std::size_t i = 0; i < kBulk; ++i)
        produce(all[i], checksum);
      const std::uint64_t t0 = now_ns();
      checksum += consume(all, kBulk);
      const std::uint64_t t1 = now_ns();
      return elapsed(t0, t1) / kBulk;
    });

    detail::RxRing to_b(2 * kFrames);
    detail::RxRing to_a(2 * kFrames);
    for (Frame* f : all)
      (void)to_a.try_push(f);  // before the threads start: their creation orders it
    std::atomic<bool> stop{false};
    std::atomic<bool> a_pinned{false};
    std::thread producer([&] {
      // Relaxed: read after the join.
      a_pinned.store(xmaps::topology::pin_this_thread(a), std::memory_order_relaxed);
      Frame* got[kBulk];
      std::uint64_t round = 0;
      // Relaxed: only ends the loop; the frames are handed over through the rings.
      while (!stop.load(std::memory_order_relaxed)) {
        const std::size_t n = to_a.pop_bulk(got, kBulk);
        if (n == 0) {
          cpu_relax();
          continue;
        }
        ++round;
        for (std::size_t i = 0; i < n; ++i) {
          produce(got[i], round);
          (void)to_b.try_push(got[i]);  // room for every frame: cannot fail
        }
      }
    });
    const bool b_pinned = xmaps::topology::pin_this_thread(b);
    std::vector<double> figures;
    figures.reserve(1 << 16);
    Frame* got[kBulk];
    const std::uint64_t end = now_ns() + static_cast<std::uint64_t>(seconds * 1e9);
    std::uint64_t spins = 0;
    while (figures.size() < 64 || now_ns() < end) {
      const std::size_t n = to_b.pop_bulk(got, kBulk);
      if (n == kBulk) {
        const std::uint64_t t0 = now_ns();
        checksum += consume(got, n);
        const std::uint64_t t1 = now_ns();
        if (figures.size() < figures.capacity())
          figures.push_back(elapsed(t0, t1) / kBulk);
      } else if (n != 0) {
        checksum += consume(got, n);
      } else if (++spins % 4096 == 0) {
        std::this_thread::yield();  // the producer may share this CPU (pinning failed)
      } else {
        cpu_relax();
      }
      for (std::size_t i = 0; i < n; ++i)
        (void)to_a.try_push(got[i]);
      if (now_ns() > end + 10'000'000'000ULL)
        break;  // the producer never ran: give up (no figure)
    }
    // Relaxed: only ends the producer's loop.
    stop.store(true, std::memory_order_relaxed);
    producer.join();
    (void)pool.free_bulk(all, kFrames);
    // Relaxed: the join ordered it.
    if (!b_pinned || !a_pinned.load(std::memory_order_relaxed) || figures.size() < 64 ||
        checksum == 1)
      return -1;
    return std::max(0.0, median(std::move(figures)) - local);
  }
};

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  (void)gmtime_r(&t, &tm);
  char buf[32];
  (void)std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0)
    return "this machine";
  return buf;
}

// Per-frame CPU time of each role in a short live run (run_pipeline) on CPUs a (source and
// ingress, as live mode places them on a 2-CPU machine) and b (worker), 60-byte uniform
// traffic; of three runs, the fastest of each cost (a shared machine's disturbances only ever
// slow a thread down, so the least time is the undisturbed one) and the median of the rest.
struct LiveRoles {
  double source_ns = 0;   // the source thread: CPU a's busy time less the ingress thread's
  double ingress_ns = 0;  // the ingress thread, per frame its program ran on
  double worker_ns = 0;   // the worker thread, per frame it processed
  double worker_busy = 0;
  double returned = 0;  // delivered / generated: frames that came back from CPU b
  // Per processed frame, of the second program: LRU hits, inserts, evictions.
  double hits = 0, inserts = 0, evictions = 0;
};

constexpr int kLiveRuns = 5;  // live runs per in-pipeline configuration

LiveRoles live_roles(int a, int b, const char* first_program, std::uint32_t lru_entries,
                     double seconds) {
  std::vector<LiveRoles> runs;
  for (int i = 0; i < kLiveRuns; ++i) {
    Scenario s;
    s.ingress_cpus = {a};
    s.worker_cpus = {b};
    s.source_cpu = a;
    s.first_program = first_program;
    s.lru_entries = lru_entries;
    s.duration_s = seconds;
    s.progress = false;
    const RunResult r = run_pipeline(s);
    if (!r.conserved || r.generated == 0 || r.ingress.size() != 1 || r.workers.size() != 1)
      throw std::runtime_error("calibrate: the live run on CPUs " + std::to_string(a) + "," +
                               std::to_string(b) + " did not complete: " + r.conservation);
    double cpu_a = 0;
    for (const CpuLoad& c : r.cpus) {
      if (c.cpu == a)
        cpu_a = c.busy * r.wall_seconds;
    }
    const IngressMetrics& in = r.ingress[0];
    const WorkerMetrics& w = r.workers[0];
    LiveRoles x;
    const auto gen = static_cast<double>(r.generated);
    x.source_ns = std::max(0.0, cpu_a - in.cpu_seconds) * 1e9 / gen;
    x.ingress_ns = in.frames == 0 ? 0 : in.cpu_seconds * 1e9 / static_cast<double>(in.frames);
    const auto processed = static_cast<double>(w.stats.processed);
    x.worker_ns = processed == 0 || w.cpu_seconds < 0 ? 0 : w.cpu_seconds * 1e9 / processed;
    x.worker_busy = w.busy;
    x.returned = static_cast<double>(r.delivered) / gen;
    if (processed > 0) {
      x.hits = static_cast<double>(r.flow_hits) / processed;
      x.inserts = static_cast<double>(r.flow_inserts) / processed;
      x.evictions = static_cast<double>(r.flow_evictions) / processed;
    }
    runs.push_back(x);
  }
  auto values = [&](double LiveRoles::*f) {
    std::vector<double> v;
    for (const LiveRoles& x : runs)
      v.push_back(x.*f);
    return v;
  };
  // Medians, not minima: the model predicts a typical live run, and on a shared machine the
  // per-frame costs of consecutive runs spread by 10-15 % (measured: the worker of the flow
  // accounting run at 84-98 ns over ten 1 s runs); the least of them made the model's worker
  // a few per cent fast, which the drop fraction of a worker-bound run multiplies.
  LiveRoles m;
  for (double LiveRoles::*f : {&LiveRoles::source_ns, &LiveRoles::ingress_ns, &LiveRoles::worker_ns,
                               &LiveRoles::worker_busy, &LiveRoles::returned, &LiveRoles::hits,
                               &LiveRoles::inserts, &LiveRoles::evictions})
    m.*f = median(values(f));
  return m;
}

// The micro figures above time each step on warm data. In the running pipeline the same
// steps cost more: the frames of an 8192-frame pool are cold when the source reuses them,
// and a frame crossing to the worker (and back to the source through the pool) moves its
// lines between the CPUs. Three short live configurations on CPUs a -> b (kLiveRuns runs each,
// the median) measure what each thread spends per frame in context, and the figures the micro steps
// cannot see are set from them (every other figure keeps its micro measurement):
//   drop at ingress, no second program (frames recycled on CPU a):
//     source_ns_per_frame        the source thread per frame, less the per-byte part
//     first_program_ns[drop]     the ingress thread per frame, less the dequeue
//   round-robin to b, no second program (frames come back from b; the worker keeps up, so
//   it mostly waits on its empty ring):
//     return_ns[class(a, b)]     the source's extra per frame over the drop run, per frame
//                                that came back
//   round-robin to b, flow accounting (the worker saturated, its ring backed up):
//     transfer_ns[class(a, b)]   the worker thread per frame less the modelled worker steps
//                                (dequeue, sink, the LRU's hits / inserts / evictions)
//     first_program_ns[others]   round-robin: the ingress thread per frame less the dequeue
//                                and an eighth of a flush; hash, port, custom: round-robin's
//                                in-context figure plus their micro difference to it
//     idle_push_ns[class(a, b)]  8 x the ingress thread's extra per frame in the round-robin
//                                run over this one: pushing into a waiting worker's ring
//   (if that worker was not saturated, the first programs come from the round-robin run and
//   transfer and idle push keep their figures)
// Returns what it measured, for CostModel::origin.
std::string calibrate_in_pipeline(CostModel& m, int a, int b, std::uint32_t lru_entries,
                                  double seconds, xmaps::topology::DistanceClass d) {
  const double run_s = std::max(0.5, 4 * seconds);
  const LiveRoles drop = live_roles(a, b, "drop", 0, run_s);
  const LiveRoles rr = live_roles(a, b, "round-robin", 0, run_s);
  const LiveRoles acct = live_roles(a, b, "round-robin", lru_entries, run_s);

  m.source_ns_per_frame = std::max(0.1, drop.source_ns - 60 * m.source_ns_per_byte);
  m.first_program_ns["drop"] = std::max(0.1, drop.ingress_ns - m.rx_dequeue_ns_per_frame);
  if (rr.returned > 0.5)
    m.return_ns[d] = std::max(0.0, (rr.source_ns - drop.source_ns) / rr.returned);
  const double rr_micro = m.first_program_ns["round-robin"];
  const double bulk_share = m.flush_ns_per_bulk / 8;  // a flush per bulk of 8
  std::string note = "in-pipeline runs on CPUs " + std::to_string(a) + "," + std::to_string(b);
  double rr_live = 0;
  if (acct.worker_busy > 0.9) {
    // The worker saturated: the ring has a backlog, so the ingress pushes without the idle
    // worker's contention, which the round-robin run (worker mostly waiting) pays per bulk.
    rr_live = std::max(0.1, acct.ingress_ns - m.rx_dequeue_ns_per_frame - bulk_share);
    m.idle_push_ns[d] = std::max(0.0, 8 * (rr.ingress_ns - acct.ingress_ns));
  } else {
    rr_live = std::max(0.1, rr.ingress_ns - m.rx_dequeue_ns_per_frame - bulk_share);
  }
  for (auto& [name, ns] : m.first_program_ns) {
    if (name != "drop")
      ns = std::max(0.1, rr_live + (ns - rr_micro));
  }
  if (acct.worker_busy > 0.9) {
    const double steps = m.worker_dequeue_ns_per_frame + m.sink_ns_per_frame +
                         (acct.hits + acct.inserts) * m.lru_ns_per_log2_entries *
                             std::log2(static_cast<double>(lru_entries)) +
                         acct.hits * m.flow_hit_ns + acct.inserts * m.flow_insert_ns +
                         acct.evictions * m.flow_evict_ns;
    m.transfer_ns[d] = std::max(0.0, acct.worker_ns - steps);
  } else {
    note +=
        " (the worker was not saturated: transfer from the micro step, idle push from the "
        "defaults, the first programs from the round-robin run)";
  }
  return note;
}

}  // namespace

CostModel calibrate(const CalibrationOptions& options) {
  if (!(options.seconds_per_step > 0) || !std::isfinite(options.seconds_per_step) ||
      options.seconds_per_step > 60)
    throw std::invalid_argument("calibrate: seconds_per_step must be in (0, 60]");
  CostModel m = default_cost_model();
  const Calibrator cal{options.seconds_per_step, clock_overhead_ns()};

  TrafficConfig small;
  double len60 = 60;
  const double s60 = cal.source(small, len60);
  TrafficConfig imix;
  imix.sizes = SizeMix::imix;
  double len_imix = 0;
  const double simix = cal.source(imix, len_imix);
  const double per_byte =
      len_imix > len60 + 1 ? std::max(0.001, (simix - s60) / (len_imix - len60)) : 0.001;
  m.source_ns_per_byte = per_byte;
  m.source_ns_per_frame = std::max(0.1, s60 - per_byte * len60);

  cal.rx_ring(m.ingress_poll_ns, m.rx_dequeue_ns_per_frame);
  cal.cpumap_steps(m);
  cal.flow_steps(m, options.lru_entries);

  std::string transfer_note = "no cross-core measurement (one usable CPU)";
  const xmaps::topology::Topology topo = xmaps::topology::Topology::discover();
  if (topo.cpus().size() >= 2) {
    const int a = topo.cpus()[0].os_index;
    const int b = topo.cpus()[1].os_index;
    // On a thread of its own: transfer() pins the calling thread, and the caller's affinity
    // must stay as it was.
    double ns = -1;
    std::thread t([&] { ns = cal.transfer(a, b); });
    t.join();
    const xmaps::topology::DistanceClass d = topo.distance_class(a, b);
    if (ns >= 0) {
      m.transfer_ns[d] = ns;
      transfer_note =
          std::string("transfer ") + xmaps::topology::to_string(d) + " measured on CPUs " +
          std::to_string(a) + "," + std::to_string(b) + "; " +
          calibrate_in_pipeline(m, a, b, options.lru_entries, options.seconds_per_step, d);
    } else {
      transfer_note = "transfer not measured (could not pin to CPUs " + std::to_string(a) + "," +
                      std::to_string(b) + ")";
    }
  }
  m.origin = "calibrated on " + host_name() + " (" + topo.description() + "), " + utc_now() + ", " +
             std::to_string(options.seconds_per_step) + " s per step, " + transfer_note;
  return m;
}

}  // namespace xmaps::sim
