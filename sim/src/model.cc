// SPDX-License-Identifier: MIT
//
// Model mode (xmaps/sim/model.h): the live pipeline's structures driven by a single-threaded
// discrete-event simulation in virtual time.
//
// Actors and clocks. Every simulated CPU that has a role (source, ingress, worker; several
// roles may share one) has one clock: free_at, the virtual time its current step ends. The
// event queue holds at most one event per CPU (time, sequence number: ties go to the
// earlier scheduled, so runs are deterministic; an earlier wake-up moves it), plus the NIC's
// next arrival when the input is paced and hardware, and the sampler. When a CPU's event fires it
// picks the next role with work (round-robin over its roles: one thing at a time), does one step of
// it on the real structures, and charges the step's cost (CostModel) to its clock; a CPU with
// nothing to do sleeps until something wakes it (a frame in one of its RX rings, in its CPUMAP
// ring, room for its source). A step's effects (frames pushed into rings) are visible from its
// start: the live engine pushes bulks mid-batch too, so this is at most one batch early.
//
//   source    "the NIC": TrafficGenerator / PcapReplay into the FramePool, parse_packet() +
//             Rss::queue_of() for the RX queue (once per flow the generator names, every
//             frame of a capture), stamp = virtual time. On a CPU (source_cpu)
//             it costs source_ns_per_frame + source_ns_per_byte * len per frame, plus
//             return_ns[distance_class(that CPU, source)] for a frame another CPU touched
//             last (the worker whose sink took it, or the ingress CPU that dropped it; a
//             frame the second program drops counts as its ingress CPU's); with no CPU
//             (source_cpu = kNoCpu) it is hardware and free. Lossless without a rate: it
//             fills the RX rings in generation order as they have room (a frame whose ring is
//             full waits, and holds up the ones behind it, as the live source does); with a
//             rate (Pacer on virtual time): open loop, no_free_frame / rx_ring_full drops.
//   ingress   one step = one poll of each of its queues (queue q -> ingress q % n), up to
//             `batch` frames each, the real first program through one RedirectContext bound
//             as that CPU (CpuBinding), flushed after each queue's batch. Cost: ingress_poll_ns
//             per queue polled, (rx_dequeue + first_program_ns[name]) per frame,
//             flush_ns_per_bulk per bulk pushed into a CPUMAP ring, and idle_push_ns[class]
//             more per bulk pushed into a ring that held less than kBacklog frames before
//             the step (its worker keeps up, reading close behind the pushes).
//   worker    one step = CpuMap::run_worker(cpu, batch_size) on the manual map: the real
//             second program (FlowAccounting, bound as the worker CPU) and the sink. Cost per
//             frame: worker_dequeue + sink + transfer_ns[distance_class(ingress, worker)]; the
//             second program's cost from what the LRU did in the batch (FlowAccounting::
//             stats(cpu) deltas): flow_hit / flow_insert per lookup result, flow_evict per
//             eviction, lru_ns_per_log2_entries * log2(lru_entries) per lookup. Delivery (and
//             latency) at the end of the step.
//
// Nothing here allocates per frame or per event: rings, the event heap and the per-batch
// buffers are sized up front.
#include "xmaps/sim/model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "frame_source.h"
#include "nic_queue.h"
#include "run_result.h"
#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/frame_pool.h"
#include "xmaps/redirect.h"
#include "xmaps/sim/generator.h"
#include "xmaps/sim/packet.h"
#include "xmaps/sim/pcap_io.h"
#include "xmaps/sim/programs.h"
#include "xmaps/sim/rss.h"

namespace xmaps::sim {

namespace topo = xmaps::topology;

topo::Topology model_topology(const std::string& machine) {
  try {
    if (machine.empty() || machine == "this")
      return topo::Topology::discover();
    constexpr std::string_view kSynthetic = "synthetic:";
    if (machine.rfind(kSynthetic, 0) == 0)
      return topo::Topology::from_synthetic(machine.substr(kSynthetic.size()));
    const std::filesystem::path p(machine);
    if (machine.find('/') != std::string::npos || std::filesystem::exists(p))
      return topo::Topology::from_xml(p);
    return topo::Topology::stock(machine);
  } catch (const std::system_error& e) {
    throw std::invalid_argument("machine '" + machine + "': " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("machine '" + machine + "': " + e.what());
  }
}

namespace {

// possible_cpus() a machine needs: its highest OS CPU index + 1.
int cpus_needed(const topo::Topology& machine) {
  int n = 1;
  for (const topo::Cpu& c : machine.cpus())
    n = std::max(n, c.os_index + 1);
  return n;
}

}  // namespace

void prepare_model_process(const topo::Topology& machine) {
  const int need = cpus_needed(machine);
  try {
    set_possible_cpus(need);  // fixes the count, unless it is fixed already
  } catch (const std::logic_error&) {
    // Fixed already (by an earlier model run on a larger machine, or detected): enough is
    // fine, every per-CPU structure then has room for the modelled CPUs.
    if (possible_cpus() >= need)
      return;
    throw std::logic_error("model mode: the machine has " + std::to_string(need) +
                           " CPUs but possible_cpus() was already fixed at " +
                           std::to_string(possible_cpus()) +
                           ": call prepare_model_process() before any map is created");
  }
}

namespace {

constexpr std::size_t kChunk = CpuMap::kMaxBatch;  // frames per source step / NIC arrival
// A ring holding fewer frames than this (8 cache lines of frame words) has its worker reading
// close behind the pushes; a push into it pays CostModel::idle_push_ns.
constexpr std::size_t kBacklog = 64;

// An RX queue: a bounded ring of frame pointers, single-threaded.
class SimRing {
 public:
  explicit SimRing(std::uint32_t capacity) : mask_(capacity - 1), slots_(capacity) {}
  [[nodiscard]] bool full() const noexcept { return tail_ - head_ > mask_; }
  [[nodiscard]] std::uint32_t size() const noexcept {
    return static_cast<std::uint32_t>(tail_ - head_);
  }
  bool push(Frame* f) noexcept {
    if (full())
      return false;
    slots_[tail_++ & mask_] = f;
    return true;
  }
  std::size_t pop(Frame** out, std::size_t n) noexcept {
    const std::size_t k = std::min<std::size_t>(n, tail_ - head_);
    for (std::size_t i = 0; i < k; ++i)
      out[i] = slots_[(head_ + i) & mask_];
    head_ += k;
    return k;
  }

 private:
  std::uint64_t mask_;
  std::vector<Frame*> slots_;
  std::uint64_t head_ = 0;
  std::uint64_t tail_ = 0;
};

struct SimIngress {
  int cpu = -1;
  std::size_t sim_cpu = 0;  // index into Model::cpus_
  std::vector<std::uint32_t> queues;
  std::uint64_t frames = 0, polls = 0, work_polls = 0, passed = 0;
  RedirectStats stats;  // this CPU's share of the shared context's counters
  double busy_ns = 0;
};

struct SimWorker {
  int cpu = -1;
  std::size_t sim_cpu = 0;
  std::uint64_t delivered = 0;
  FlowAccountingStats last;  // FlowAccounting::stats(cpu) after the previous step
  double busy_ns = 0;
  std::size_t transfer_row = 0;  // into Model::transfer_: [worker][ingress index]
  // Its ring's frame count after the last step that changed it (only ingress steps push and
  // its own steps pop, and both set this): what the ring holds between steps.
  std::size_t queued = 0;
};

struct SimCpu {
  int cpu = -1;
  double free_at = 0;        // the end of the current (or last) step
  double busy_ns = 0;        // every step started so far, in full
  double scheduled_at = -1;  // the pending event's time; < 0: none (asleep)
  bool running = false;      // inside its step (cpu_event)
  bool source = false;
  int ingress = -1;  // index into ingress_
  int worker = -1;   // index into workers_
  unsigned next_role = 0;
  std::string threads;
  [[nodiscard]] double busy_at(double t) const noexcept {
    return free_at > t ? busy_ns - (free_at - t) : busy_ns;
  }
};

struct Event {
  double t;
  std::uint64_t seq;     // scheduling order: ties in t go to the earlier scheduled
  std::uint32_t target;  // a CPU (index into Model::cpus_), the NIC or the sampler (Model)
};

// The pending events: at most one per target (each CPU, the NIC, the sampler), in a binary
// min-heap by (t, seq) that knows where each target's event sits. Scheduling a target that
// has one moves it (a wake-up that comes earlier), so the heap never holds stale events and
// stays as small as the number of targets.
class EventQueue {
 public:
  void reset(std::size_t targets) {
    heap_.clear();
    heap_.reserve(targets);
    pos_.assign(targets, kNone);
  }
  [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
  [[nodiscard]] const Event& top() const noexcept { return heap_.front(); }
  // The target's event is now (t, seq), replacing the one it had.
  void set(std::uint32_t target, double t, std::uint64_t seq) {
    std::size_t i = pos_[target];
    if (i == kNone) {
      i = heap_.size();
      heap_.push_back(Event{t, seq, target});
      pos_[target] = i;
      up(i);
      return;
    }
    const bool earlier = before(Event{t, seq, target}, heap_[i]);
    heap_[i].t = t;
    heap_[i].seq = seq;
    if (earlier)
      up(i);
    else
      down(i);
  }
  void pop() {
    pos_[heap_.front().target] = kNone;
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) {
      pos_[heap_.front().target] = 0;
      down(0);
    }
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};
  static bool before(const Event& a, const Event& b) noexcept {
    return a.t != b.t ? a.t < b.t : a.seq < b.seq;
  }
  void place(std::size_t i, const Event& e) noexcept {
    heap_[i] = e;
    pos_[e.target] = i;
  }
  void up(std::size_t i) noexcept {
    const Event e = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!before(e, heap_[parent]))
        break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void down(std::size_t i) noexcept {
    const Event e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n)
        break;
      if (child + 1 < n && before(heap_[child + 1], heap_[child]))
        ++child;
      if (!before(heap_[child], e))
        break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }

  std::vector<Event> heap_;
  std::vector<std::size_t> pos_;  // [target]: its event's index in heap_, or kNone
};

double cost_or_zero(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0.0 : it->second;
}

class Model {
 public:
  Model(const Scenario& r, const ModelOptions& opt, const topo::Topology& machine)
      : r_(r),
        opt_(opt),
        machine_(machine),
        costs_(opt.costs),
        rss_(r.rss),
        pool_(r.pool_frames, r.frame_size, FramePool::kDefaultHeadroom),
        scratch_(CpuMap::kMaxBatch, r.frame_size, FramePool::kDefaultHeadroom) {}

  RunResult run();

 private:
  void setup();
  // The NIC's and the sampler's targets in events_, after the CPUs'.
  [[nodiscard]] std::uint32_t nic_target() const noexcept {
    return static_cast<std::uint32_t>(cpus_.size());
  }
  [[nodiscard]] std::uint32_t sampler_target() const noexcept {
    return static_cast<std::uint32_t>(cpus_.size() + 1);
  }
  void schedule(std::uint32_t target, double t) { events_.set(target, t, seq_++); }
  // Makes CPU `ci` look for work at time t (or when its step ends, if later).
  void wake(std::size_t ci, double t) {
    SimCpu& c = cpus_[ci];
    if (c.running)
      return;  // it looks for work when its step ends
    const double at = std::max(t, c.free_at);
    if (c.scheduled_at >= 0 && c.scheduled_at <= at)
      return;
    c.scheduled_at = at;
    schedule(static_cast<std::uint32_t>(ci), at);
  }
  // One step of CPU `ci` at `now`. True if it did one: then it looks for work again at its
  // free_at (the caller schedules that, or runs it at once if nothing else comes first).
  bool cpu_event(std::size_t ci, double now);
  // Whether its ingress or worker role has work now (not the source's).
  [[nodiscard]] bool cpu_has_work(const SimCpu& c) const;
  [[nodiscard]] bool source_has_work(double now);
  [[nodiscard]] bool source_done() const noexcept { return exhausted_ || made_ >= target_; }
  double source_step(double now);
  double ingress_step(SimIngress& in, double now);
  double worker_step(SimWorker& w, double now);
  // Generates up to `want` packets into pending_ (lossless) or straight into the rings
  // (paced); returns the frame bytes written (for the source's per-byte cost).
  std::uint64_t generate(std::size_t want, double now, bool paced, std::size_t& made);
  // The NIC's RX queue for a frame of the source's flow `flow` (FrameSource::kNoFlow:
  // unknown): detail::nic_rx_queue(), worked out once per flow the source names.
  std::uint32_t rx_queue_of(const Frame* f, std::uint32_t flow) noexcept {
    if (flow < flow_queue_.size() && flow_queue_[flow] != kUnknownQueue) {
      const std::uint32_t v = flow_queue_[flow];
      unparsed_ += v & 1U;
      return v >> 1U;
    }
    bool unparsed = false;
    const std::uint32_t q = detail::nic_rx_queue(rss_, f->data, f->len, unparsed);
    unparsed_ += unparsed ? 1 : 0;
    if (flow < flow_queue_.size())
      flow_queue_[flow] = q << 1U | (unparsed ? 1U : 0U);
    return q;
  }
  // Lossless: pushes pending_ frames in order while their rings have room.
  void push_pending(double now);
  void after_room(double now);  // ring room or free frames appeared: the source may go on
  void nic_event(double now);   // a paced hardware NIC's arrival
  void sample(double t);
  void record_latency(double end, std::uint64_t stamp);
  [[nodiscard]] std::uint64_t dropped_now() const;
  [[nodiscard]] std::uint64_t delivered_now() const;
  void finish(RunResult& res);

  const Scenario& r_;
  const ModelOptions& opt_;
  const topo::Topology& machine_;
  const CostModel& costs_;
  Rss rss_;
  FramePool pool_;
  FramePool scratch_;
  std::vector<SimRing> rings_;
  std::unique_ptr<FrameSource> source_;
  PcapReplay* replay_ = nullptr;
  std::string source_text_;
  std::unique_ptr<PcapWriter> pcap_out_;
  std::uint64_t pcap_written_ = 0;
  std::shared_ptr<FlowAccounting> acct_;
  std::unique_ptr<CpuMap> map_;
  std::shared_ptr<FirstProgramCounters> first_counters_;
  std::shared_ptr<XdpProgram> first_;

  std::vector<SimCpu> cpus_;
  std::vector<SimIngress> ingress_;
  std::vector<SimWorker> workers_;
  std::vector<int> worker_of_cpu_;     // [possible_cpus()]: index into workers_, or -1
  std::vector<int> ingress_of_cpu_;    // [possible_cpus()]: index into ingress_, or -1
  std::vector<double> transfer_;       // [worker * ingress count + ingress]: ns per frame
  std::vector<double> idle_push_;      // [worker * ingress count + ingress]: ns per bulk
  std::size_t bulk_ = 8;               // frames per bulk the ingress pushes (CpuMap's)
  std::vector<std::size_t> to_wake_;   // [worker]: ingress_step's workers with frames
  std::vector<double> return_of_cpu_;  // [possible_cpus()]: the source's extra ns per frame
                                       // reused after that CPU recycled it
  std::vector<int> last_cpu_;          // [pool frame index]: the CPU that touched it last
  // [source flow]: its frames' RX queue << 1 | unparsed, or kUnknownQueue (none seen yet).
  static constexpr std::uint32_t kUnknownQueue = ~std::uint32_t{0};
  std::vector<std::uint32_t> flow_queue_;
  double return_ns_ = 0;  // return costs of the frames the current step took
  int source_cpu_ = -1;   // index into cpus_ of the source's CPU, -1: hardware

  EventQueue events_;
  std::uint64_t seq_ = 0;

  // Source state.
  bool paced_ = false;
  std::unique_ptr<Pacer> pacer_;
  double chunk_ns_ = 0;  // paced: virtual ns between arrivals of one chunk
  std::uint64_t target_ = 0;
  std::uint64_t made_ = 0;  // generated so far (oversize and no_free_frame included)
  bool exhausted_ = false;
  std::uint64_t prev_oversize_ = 0;
  std::uint64_t oversize_ = 0, no_free_frame_ = 0, unparsed_ = 0;
  std::vector<std::uint64_t> received_, ring_full_;
  Frame* pending_[kChunk] = {};
  std::size_t pending_n_ = 0, pending_pos_ = 0;

  // Per-step buffers.
  Frame* batch_[CpuMap::kMaxBatch] = {};
  std::uint64_t sink_stamps_[CpuMap::kMaxBatch] = {};
  std::size_t sink_n_ = 0;
  double sink_transfer_ns_ = 0;
  const SimWorker* sink_worker_ = nullptr;

  std::vector<std::uint64_t> pass_stamps_;  // XDP_PASS at ingress in one step
  std::size_t pass_n_ = 0;
  std::size_t batch_size_ = 8;
  double end_ns_ = 0;

  // Costs, precomputed.
  double first_ns_ = 0;
  double lru_lookup_ns_ = 0;

  RedirectContext* ctx_ = nullptr;

  // Sampling.
  LatencyHistogram iv_latency_;
  LatencyHistogram total_latency_;
  double interval_ns_ = 0;
  double last_t_ = 0;
  std::uint64_t last_gen_ = 0, last_del_ = 0, last_drop_ = 0;
  std::vector<double> last_busy_;
  std::vector<std::uint64_t> occ_rx_sum_, occ_w_sum_;
  std::vector<std::uint32_t> occ_rx_max_, occ_w_max_;
  std::uint64_t occ_samples_ = 0;
  std::vector<CpuLoad> loads_;  // one per SimCpu, same order
  std::vector<Interval> intervals_;
};

void Model::setup() {
  const int ncpu = possible_cpus();
  const std::uint32_t nq = r_.rss.queues;
  paced_ = r_.rate_pps > 0 || opt_.nic_rate_pps > 0;
  const double rate = r_.rate_pps > 0 ? r_.rate_pps : opt_.nic_rate_pps;
  target_ = opt_.frames != 0 ? opt_.frames : (r_.packets != 0 ? r_.packets : 1'000'000);
  if (paced_) {
    pacer_ = std::make_unique<Pacer>(rate, r_.burst);
    const std::size_t chunk = std::min<std::size_t>(kChunk, r_.burst);
    chunk_ns_ = static_cast<double>(chunk) * 1e9 / rate;
  }

  // --- the traffic source ---------------------------------------------------------------
  detail::ScenarioSource built = detail::make_frame_source(r_);
  source_ = std::move(built.source);
  replay_ = built.replay;
  source_text_ = std::move(built.description);
  flow_queue_.assign(source_->flow_count(), kUnknownQueue);
  if (!r_.pcap_out.empty() && r_.pcap_out_packets > 0) {
    try {
      pcap_out_ = std::make_unique<PcapWriter>(r_.pcap_out);
    } catch (const PcapError& e) {
      throw std::invalid_argument(std::string("pcap-out: ") + e.what());
    }
  }
  for (std::uint32_t q = 0; q < nq; ++q)
    rings_.emplace_back(r_.rx_ring);
  received_.assign(nq, 0);
  ring_full_.assign(nq, 0);

  // --- simulated CPUs and their roles -----------------------------------------------------
  std::map<int, std::size_t> sim_of;  // CPU -> index into cpus_
  if (r_.source_cpu >= 0)
    sim_of.emplace(r_.source_cpu, 0);
  for (int c : r_.ingress_cpus)
    sim_of.emplace(c, 0);
  for (int c : r_.worker_cpus)
    sim_of.emplace(c, 0);
  for (auto& [cpu, idx] : sim_of) {  // ascending CPU order
    idx = cpus_.size();
    cpus_.emplace_back();
    cpus_.back().cpu = cpu;
  }
  auto add_role = [&](SimCpu& c, const char* what) {
    if (!c.threads.empty())
      c.threads.push_back('+');
    c.threads.append(what);
  };
  if (r_.source_cpu >= 0) {
    source_cpu_ = static_cast<int>(sim_of[r_.source_cpu]);
    cpus_[static_cast<std::size_t>(source_cpu_)].source = true;
    add_role(cpus_[static_cast<std::size_t>(source_cpu_)], "source");
  }
  ingress_of_cpu_.assign(static_cast<std::size_t>(ncpu), -1);
  worker_of_cpu_.assign(static_cast<std::size_t>(ncpu), -1);
  for (int c : r_.ingress_cpus) {
    SimIngress in;
    in.cpu = c;
    in.sim_cpu = sim_of[c];
    ingress_of_cpu_[static_cast<std::size_t>(c)] = static_cast<int>(ingress_.size());
    cpus_[in.sim_cpu].ingress = static_cast<int>(ingress_.size());
    add_role(cpus_[in.sim_cpu], "ingress");
    ingress_.push_back(in);
  }
  for (std::uint32_t q = 0; q < nq; ++q)
    ingress_[q % ingress_.size()].queues.push_back(q);
  for (int c : r_.worker_cpus) {
    SimWorker w;
    w.cpu = c;
    w.sim_cpu = sim_of[c];
    w.transfer_row = workers_.size() * ingress_.size();
    worker_of_cpu_[static_cast<std::size_t>(c)] = static_cast<int>(workers_.size());
    cpus_[w.sim_cpu].worker = static_cast<int>(workers_.size());
    add_role(cpus_[w.sim_cpu], "worker");
    workers_.push_back(w);
  }
  to_wake_.assign(workers_.size(), 0);
  return_of_cpu_.assign(static_cast<std::size_t>(ncpu), 0.0);
  if (r_.source_cpu >= 0) {
    for (const auto& [cpu, idx] : sim_of) {
      (void)idx;
      const auto it = costs_.return_ns.find(machine_.distance_class(cpu, r_.source_cpu));
      if (cpu != r_.source_cpu && it != costs_.return_ns.end())
        return_of_cpu_[static_cast<std::size_t>(cpu)] = it->second;
    }
  }
  last_cpu_.assign(pool_.count(), -1);
  for (const SimWorker& w : workers_) {
    for (const SimIngress& in : ingress_) {
      const topo::DistanceClass d = machine_.distance_class(in.cpu, w.cpu);
      const auto it = costs_.transfer_ns.find(d);
      transfer_.push_back(it == costs_.transfer_ns.end() ? 0.0 : it->second);
      const auto ip = costs_.idle_push_ns.find(d);
      idle_push_.push_back(in.cpu == w.cpu || ip == costs_.idle_push_ns.end() ? 0.0 : ip->second);
    }
  }

  // --- costs --------------------------------------------------------------------------------
  first_ns_ = cost_or_zero(costs_.first_program_ns, r_.first_program);
  if (r_.lru_entries > 0)
    lru_lookup_ns_ =
        costs_.lru_ns_per_log2_entries * std::log2(static_cast<double>(r_.lru_entries));

  // --- programs and the CPUMAP (manual: no threads) -----------------------------------------
  std::shared_ptr<const XdpProgram> second;
  if (r_.lru_entries > 0) {
    // A fixed hash seed: the same run twice is the same run.
    acct_ = std::make_shared<FlowAccounting>(r_.lru_entries, map_flag::kZeroSeed);
    second = acct_->program();
  }
  CpuMap::Options mo;
  mo.manual_workers = true;
  bulk_ = mo.bulk_size;
  mo.sink = [this](std::span<Frame* const> frames, int) {
    const double* const row = transfer_.data() + sink_worker_->transfer_row;
    for (Frame* f : frames) {
      sink_stamps_[sink_n_++] = f->stamp_ns;
      last_cpu_[f->index()] = sink_worker_->cpu;
      const int i = f->ingress_cpu >= 0 && f->ingress_cpu < static_cast<int>(ingress_of_cpu_.size())
                        ? ingress_of_cpu_[static_cast<std::size_t>(f->ingress_cpu)]
                        : -1;
      if (i >= 0)
        sink_transfer_ns_ += row[i];
    }
  };
  map_ = std::make_unique<CpuMap>(static_cast<std::uint32_t>(ncpu), mo);
  for (const SimWorker& w : workers_) {
    const Errc e = map_->update(static_cast<std::uint32_t>(w.cpu), r_.qsize, second);
    if (e != Errc::ok)
      throw std::runtime_error("CPUMAP update of CPU " + std::to_string(w.cpu) + " failed: errno " +
                               std::to_string(static_cast<int>(e)));
  }
  first_counters_ = std::make_shared<FirstProgramCounters>();
  std::vector<std::uint32_t> targets;
  for (int c : r_.worker_cpus)
    targets.push_back(static_cast<std::uint32_t>(c));
  first_ =
      make_first_program(parse_first_program(r_.first_program), *map_, targets, first_counters_);

  // --- sampling -------------------------------------------------------------------------------
  interval_ns_ = static_cast<double>(r_.interval_ms) * 1e6;
  last_busy_.assign(cpus_.size(), 0);
  occ_rx_sum_.assign(nq, 0);
  occ_rx_max_.assign(nq, 0);
  occ_w_sum_.assign(workers_.size(), 0);
  occ_w_max_.assign(workers_.size(), 0);
  for (const SimCpu& c : cpus_)
    loads_.push_back({c.cpu, 0, c.threads});
}

std::uint64_t Model::generate(std::size_t want, double now, bool paced, std::size_t& made) {
  Frame* frames[kChunk];
  Frame* spare[kChunk];
  made = 0;
  const std::size_t got = pool_.alloc_bulk(frames, want);
  if (got < want && paced) {
    // No descriptor for these: the NIC drops them. Still generated (into spare frames), so
    // the traffic does not depend on the drops.
    const std::size_t k = scratch_.alloc_bulk(spare, want - got);
    const std::size_t w = source_->fill(spare, k);
    (void)scratch_.free_bulk(spare, k);
    no_free_frame_ += w;
    made += w;
    if (w < k && source_->oversize() == prev_oversize_)
      exhausted_ = true;
  }
  if (got == 0) {
    const std::uint64_t ov = source_->oversize();
    oversize_ += ov - prev_oversize_;
    made += ov - prev_oversize_;
    prev_oversize_ = ov;
    made_ += made;
    return 0;
  }
  std::uint32_t flows[kChunk];
  const std::size_t w = source_->fill_with_flows(frames, got, flows);
  const std::uint64_t ov = source_->oversize();
  const std::uint64_t new_oversize = ov - prev_oversize_;
  prev_oversize_ = ov;
  oversize_ += new_oversize;
  if (w < got)
    (void)pool_.free_bulk(frames + w, got - w);
  if (w < got && new_oversize == 0)
    exhausted_ = true;
  made += w + new_oversize;
  made_ += made;
  const auto stamp = static_cast<std::uint64_t>(now);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < w; ++i) {
    Frame* const f = frames[i];
    bytes += f->len;
    const int last = last_cpu_[f->index()];
    if (last >= 0)
      return_ns_ += return_of_cpu_[static_cast<std::size_t>(last)];
    const std::uint32_t q = rx_queue_of(f, flows[i]);
    f->rx_queue = q;
    f->stamp_ns = stamp;
    if (pcap_out_ && pcap_written_ < r_.pcap_out_packets) {
      pcap_out_->write(f->data, f->len, stamp);
      ++pcap_written_;
    }
    if (!paced) {
      pending_[pending_n_++] = f;
      continue;
    }
    if (rings_[q].push(f)) {
      ++received_[q];
      wake(ingress_[q % ingress_.size()].sim_cpu, now);
    } else {
      (void)f->recycle();
      ++ring_full_[q];
    }
  }
  return bytes;
}

void Model::push_pending(double now) {
  while (pending_pos_ < pending_n_) {
    Frame* const f = pending_[pending_pos_];
    const std::uint32_t q = f->rx_queue;
    if (!rings_[q].push(f))
      return;  // waits for room: the frames behind it wait too
    ++received_[q];
    ++pending_pos_;
    wake(ingress_[q % ingress_.size()].sim_cpu, now);
  }
  pending_n_ = 0;
  pending_pos_ = 0;
}

bool Model::source_has_work(double now) {
  if (paced_)
    return !source_done() && pacer_->allowance(static_cast<std::uint64_t>(now)) > 0;
  if (pending_pos_ < pending_n_)
    return !rings_[pending_[pending_pos_]->rx_queue].full();
  return !source_done() && pool_.in_use() < pool_.count();
}

double Model::source_step(double now) {
  if (!paced_ && pending_pos_ < pending_n_) {
    push_pending(now);  // the frames in hand: their cost was charged when they were made
    return 0;
  }
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, target_ - made_));
  if (paced_)
    want = std::min<std::size_t>(want, pacer_->allowance(static_cast<std::uint64_t>(now)));
  std::size_t made = 0;
  return_ns_ = 0;
  const std::uint64_t bytes = generate(want, now, paced_, made);
  if (paced_)
    pacer_->consume(static_cast<std::uint32_t>(made));
  else
    push_pending(now);
  if (source_cpu_ < 0)
    return 0;  // hardware
  return static_cast<double>(made) * costs_.source_ns_per_frame +
         static_cast<double>(bytes) * costs_.source_ns_per_byte + return_ns_;
}

void Model::after_room(double now) {
  if (paced_ || (source_done() && pending_pos_ >= pending_n_))
    return;
  if (source_cpu_ >= 0) {
    if (source_has_work(now))
      wake(static_cast<std::size_t>(source_cpu_), now);
    return;
  }
  // Hardware, lossless: supply frames while there is room (every step makes progress: it
  // pushes a pending frame, or makes new ones, or finds the source exhausted).
  while (source_has_work(now))
    (void)source_step(now);
}

void Model::nic_event(double now) {
  if (source_done())
    return;
  if (source_has_work(now))
    (void)source_step(now);
  if (!source_done())
    schedule(nic_target(), now + chunk_ns_);
}

double Model::ingress_step(SimIngress& in, double now) {
  const CpuBinding bind(in.cpu);
  RedirectContext& ctx = *ctx_;
  const RedirectStats before = ctx.stats();
  double cost = 0;
  pass_n_ = 0;
  for (std::uint32_t q : in.queues) {
    ++in.polls;
    cost += costs_.ingress_poll_ns;
    const std::size_t n = rings_[q].pop(batch_, r_.batch);
    if (n == 0)
      continue;
    ++in.work_polls;
    in.frames += n;
    cost += static_cast<double>(n) * (costs_.rx_dequeue_ns_per_frame + first_ns_);
    // The batch's metadata was written by the source long ago (thousands of frames are in
    // flight): start its misses at once, for writing (ingress_cpu, below).
    for (std::size_t i = 0; i < n; ++i)
      __builtin_prefetch(batch_[i], 1);
    for (std::size_t i = 0; i < n; ++i) {
      Frame* const f = batch_[i];
      f->ingress_cpu = in.cpu;
      last_cpu_[f->index()] = in.cpu;
      if (ctx.run(*first_, f) == XdpAction::pass) {
        // XDP_PASS on the ingress CPU: the local stack takes it; delivered here, at the end
        // of this step.
        pass_stamps_[pass_n_++] = f->stamp_ns;
        (void)f->recycle();
      }
    }
    ctx.flush();  // xdp_do_flush at the end of the poll batch
  }
  const RedirectStats& after = ctx.stats();
  cost += static_cast<double>(after.flushes - before.flushes) * costs_.flush_ns_per_bulk;
  in.stats.redirected += after.redirected - before.redirected;
  in.stats.redirect_errors += after.redirect_errors - before.redirect_errors;
  in.stats.dropped += after.dropped - before.dropped;
  in.stats.aborted += after.aborted - before.aborted;
  in.stats.passed += after.passed - before.passed;
  in.stats.flushes += after.flushes - before.flushes;
  if (pass_n_ != 0) {
    const double end = now + cost;
    for (std::size_t i = 0; i < pass_n_; ++i)
      record_latency(end, pass_stamps_[i]);
    in.passed += pass_n_;
  }
  // Frames the first program pushed into CPUMAP rings: wake the workers that sleep. A
  // worker that keeps up reads close behind the pushes, the lines this CPU writes: each bulk
  // pushed into a ring that held less than kBacklog frames costs this CPU idle_push_ns more.
  if (after.flushes != before.flushes) {
    const std::size_t in_index = static_cast<std::size_t>(&in - ingress_.data());
    std::size_t woken = 0;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      SimWorker& w = workers_[i];
      const std::size_t queued = map_->ring_count(static_cast<std::uint32_t>(w.cpu));
      const std::size_t before_step = w.queued;
      w.queued = queued;
      if (queued == 0)
        continue;
      if (before_step < kBacklog && queued > before_step) {
        const std::size_t pushed = queued - before_step;
        cost += static_cast<double>((pushed + bulk_ - 1) / bulk_) *
                idle_push_[w.transfer_row + in_index];
      }
      to_wake_[woken++] = i;
    }
    const double end = now + cost;
    for (std::size_t k = 0; k < woken; ++k) {
      const SimCpu& c = cpus_[workers_[to_wake_[k]].sim_cpu];
      if (c.scheduled_at < 0 || c.scheduled_at > end)
        wake(workers_[to_wake_[k]].sim_cpu, end);
    }
  }
  return cost;
}

double Model::worker_step(SimWorker& w, double now) {
  sink_n_ = 0;
  sink_transfer_ns_ = 0;
  sink_worker_ = &w;
  const std::size_t n = map_->run_worker(static_cast<std::uint32_t>(w.cpu), batch_size_);
  w.queued = map_->ring_count(static_cast<std::uint32_t>(w.cpu));
  double cost = static_cast<double>(n) * costs_.worker_dequeue_ns_per_frame +
                static_cast<double>(sink_n_) * costs_.sink_ns_per_frame + sink_transfer_ns_;
  if (acct_) {
    const FlowAccountingStats s = acct_->stats(w.cpu);
    const FlowAccountingStats& l = w.last;
    const std::uint64_t lookups = s.lookups - l.lookups;
    const std::uint64_t hits = s.hits - l.hits;
    cost += static_cast<double>(lookups) * lru_lookup_ns_ +
            static_cast<double>(hits) * costs_.flow_hit_ns +
            static_cast<double>(lookups - hits) * costs_.flow_insert_ns +
            static_cast<double>(s.evictions - l.evictions) * costs_.flow_evict_ns;
    w.last = s;
  }
  const double end = now + cost;
  for (std::size_t i = 0; i < sink_n_; ++i)
    record_latency(end, sink_stamps_[i]);
  w.delivered += sink_n_;
  return cost;
}

bool Model::cpu_has_work(const SimCpu& c) const {
  if (c.ingress >= 0) {
    for (std::uint32_t q : ingress_[static_cast<std::size_t>(c.ingress)].queues) {
      if (rings_[q].size() != 0)
        return true;
    }
  }
  return c.worker >= 0 && workers_[static_cast<std::size_t>(c.worker)].queued != 0;
}

bool Model::cpu_event(std::size_t ci, double now) {
  SimCpu& c = cpus_[ci];
  c.scheduled_at = -1;
  c.running = true;
  // The roles in turn, from the one after the last that ran: one thing at a time.
  for (unsigned k = 0; k < 3; ++k) {
    const unsigned role = (c.next_role + k) % 3;
    double cost = -1;
    if (role == 0 && c.source) {
      if (source_has_work(now)) {
        cost = source_step(now);
      }
    } else if (role == 1 && c.ingress >= 0) {
      SimIngress& in = ingress_[static_cast<std::size_t>(c.ingress)];
      bool any = false;
      for (std::uint32_t q : in.queues)
        any = any || rings_[q].size() != 0;
      if (any) {
        cost = ingress_step(in, now);
        in.busy_ns += cost;
        after_room(now);
      }
    } else if (role == 2 && c.worker >= 0) {
      SimWorker& w = workers_[static_cast<std::size_t>(c.worker)];
      if (w.queued != 0) {
        cost = worker_step(w, now);
        w.busy_ns += cost;
        after_room(now);
      }
    }
    if (cost < 0)
      continue;
    c.next_role = role + 1;
    c.busy_ns += cost;
    c.free_at = now + cost;
    c.running = false;
    // More work already (or a source, whose work depends on time): look again when this
    // step ends. Otherwise sleep: whatever arrives wakes it (no earlier than free_at).
    if (c.source || cpu_has_work(c)) {
      c.scheduled_at = c.free_at;
      return true;
    }
    return false;
  }
  c.running = false;
  // Nothing to do: asleep until woken. A paced source on this CPU wakes it for its next
  // chunk.
  if (c.source && paced_ && !source_done())
    wake(ci, now + chunk_ns_);
  return false;
}

void Model::record_latency(double end, std::uint64_t stamp) {
  const auto t = static_cast<std::uint64_t>(end);
  iv_latency_.record(t > stamp ? t - stamp : 0);
}

std::uint64_t Model::delivered_now() const {
  std::uint64_t d = 0;
  for (const SimWorker& w : workers_)
    d += w.delivered;
  for (const SimIngress& in : ingress_)
    d += in.passed;
  return d;
}

std::uint64_t Model::dropped_now() const {
  std::uint64_t d = oversize_ + no_free_frame_;
  for (std::uint64_t c : ring_full_)
    d += c;
  for (const SimIngress& in : ingress_)
    d += in.stats.redirect_errors + in.stats.dropped + in.stats.aborted;
  for (const SimWorker& w : workers_) {
    const CpuMapStats st = map_->stats(static_cast<std::uint32_t>(w.cpu));
    d += st.enqueue_drops + st.dropped + st.aborted + st.redirected + st.redirect_errors;
  }
  return d;
}

void Model::sample(double t) {
  Interval iv;
  iv.t_s = t * 1e-9;
  iv.seconds = (t - last_t_) * 1e-9;
  const std::uint64_t gen = made_;
  const std::uint64_t del = delivered_now();
  const std::uint64_t drop = dropped_now();
  iv.generated = gen - last_gen_;
  iv.delivered = del - last_del_;
  iv.dropped = drop - last_drop_;
  iv.latency_p50_ns = iv_latency_.percentile(50);
  iv.latency_p99_ns = iv_latency_.percentile(99);
  iv.latency_max_ns = iv_latency_.max();
  total_latency_.merge(iv_latency_);
  iv_latency_.reset();
  const double secs = t - last_t_;
  iv.cpu_busy.assign(cpus_.size(), 0);
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    const double b = cpus_[i].busy_at(t);
    iv.cpu_busy[i] = secs > 0 ? (b - last_busy_[i]) / secs : 0;
    last_busy_[i] = b;
  }
  ++occ_samples_;
  for (std::size_t q = 0; q < rings_.size(); ++q) {
    const std::uint32_t o = rings_[q].size();
    occ_rx_sum_[q] += o;
    occ_rx_max_[q] = std::max(occ_rx_max_[q], o);
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const auto o =
        static_cast<std::uint32_t>(map_->ring_count(static_cast<std::uint32_t>(workers_[i].cpu)));
    occ_w_sum_[i] += o;
    occ_w_max_[i] = std::max(occ_w_max_[i], o);
  }
  if (iv.seconds > 0 && (iv.generated != 0 || iv.delivered != 0 || iv.dropped != 0))
    intervals_.push_back(std::move(iv));
  last_t_ = t;
  last_gen_ = gen;
  last_del_ = del;
  last_drop_ = drop;
}

RunResult Model::run() {
  setup();
  events_.reset(cpus_.size() + 2);  // the CPUs, the NIC, the sampler
  RedirectContext ctx;  // the ingress CPUs' (one at a time; every poll batch ends in flush)
  ctx_ = &ctx;
  batch_size_ = map_->options().batch_size;
  std::size_t max_queues = 1;
  for (const SimIngress& in : ingress_)
    max_queues = std::max(max_queues, in.queues.size());
  pass_stamps_.assign(max_queues * CpuMap::kMaxBatch, 0);

  // Start: the source, the sampler.
  if (source_cpu_ >= 0)
    wake(static_cast<std::size_t>(source_cpu_), 0);
  else if (paced_)
    schedule(nic_target(), 0);
  else
    after_room(0);
  schedule(sampler_target(), interval_ns_);
  double end = 0;
  while (!events_.empty()) {
    const Event e = events_.top();
    events_.pop();
    if (e.target == sampler_target()) {
      if (events_.empty())
        break;  // nothing else will happen
      sample(e.t);
      schedule(sampler_target(), e.t + interval_ns_);
      continue;
    }
    if (e.target == nic_target()) {
      end = std::max(end, e.t);
      nic_event(e.t);
      continue;
    }
    const auto ci = static_cast<std::size_t>(e.target);
    end = std::max(end, e.t);
    // Run ahead while this CPU's next look is strictly before every other event (ties go to
    // the events already queued, as their sequence numbers say): the same order as through
    // the queue, without the queue.
    double t = e.t;
    while (cpu_event(ci, t)) {
      const SimCpu& c = cpus_[ci];
      if (!events_.empty() && events_.top().t <= c.scheduled_at) {
        schedule(static_cast<std::uint32_t>(ci), c.scheduled_at);
        break;
      }
      t = c.scheduled_at;
      end = std::max(end, t);
    }
  }
  for (const SimCpu& c : cpus_)
    end = std::max(end, c.free_at);
  end_ns_ = end;

  RunResult res;
  // Every entry erased: its ring drained (empty already: nothing is left to run).
  for (const SimWorker& w : workers_) {
    const Errc e = map_->erase(static_cast<std::uint32_t>(w.cpu));
    if (e != Errc::ok)
      res.notes.push_back("CPUMAP erase of CPU " + std::to_string(w.cpu) + " failed");
  }
  ctx.flush();
  sample(std::max(end, last_t_));
  ctx_ = nullptr;
  finish(res);
  return res;
}

void Model::finish(RunResult& res) {
  res.scenario = r_;
  res.machine = "model: " + machine_.description();
  res.source = source_text_;
  res.wall_seconds = end_ns_ * 1e-9;
  const double wall = end_ns_ > 0 ? end_ns_ : 1e-9;
  res.generated = made_;
  res.rss_unparsed = unparsed_;
  res.pcap_written = pcap_written_;
  res.pcap_truncated = replay_ != nullptr ? replay_->truncated() : 0;
  if (pcap_out_) {
    try {
      pcap_out_->close();
    } catch (const PcapError& e) {
      res.notes.push_back(std::string("pcap-out: ") + e.what());
    }
  }
  res.drops.oversize = oversize_;
  res.drops.no_free_frame = no_free_frame_;
  std::uint64_t received = 0;
  for (std::uint32_t q = 0; q < rings_.size(); ++q) {
    QueueMetrics m;
    m.queue = q;
    m.ingress_cpu = ingress_[q % ingress_.size()].cpu;
    m.received = received_[q];
    m.rx_ring_full = ring_full_[q];
    m.frames = m.received + m.rx_ring_full;
    m.occupancy_max = occ_rx_max_[q];
    m.occupancy_mean =
        occ_samples_ ? static_cast<double>(occ_rx_sum_[q]) / static_cast<double>(occ_samples_) : 0;
    res.drops.rx_ring_full += m.rx_ring_full;
    received += m.received;
    res.queues.push_back(m);
  }
  std::uint64_t ingress_frames = 0, ingress_passed = 0;
  RedirectStats first_totals;
  for (const SimIngress& in : ingress_) {
    IngressMetrics m;
    m.cpu = in.cpu;
    m.pinned = true;  // a simulated CPU is its CPU
    m.queues = in.queues;
    m.frames = in.frames;
    m.polls = in.polls;
    m.work_polls = in.work_polls;
    m.passed = in.passed;
    m.cpu_seconds = in.busy_ns * 1e-9;
    m.busy = in.busy_ns / wall;
    ingress_frames += m.frames;
    ingress_passed += m.passed;
    first_totals.redirected += in.stats.redirected;
    first_totals.redirect_errors += in.stats.redirect_errors;
    first_totals.dropped += in.stats.dropped;
    first_totals.aborted += in.stats.aborted;
    res.ingress.push_back(std::move(m));
  }
  const FirstProgramStats fps = first_counters_->snapshot();
  res.drops.parse_failure = fps.parse_failures();
  res.drops.first_program =
      first_totals.dropped - std::min(first_totals.dropped, res.drops.parse_failure);
  res.drops.first_aborted = first_totals.aborted;
  res.drops.redirect_errors = first_totals.redirect_errors;
  std::uint64_t worker_delivered = 0, enq = 0, enq_drops = 0, passed = 0;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const SimWorker& w = workers_[i];
    WorkerMetrics m;
    m.cpu = w.cpu;
    m.pinned = true;
    m.stats = map_->stats(static_cast<std::uint32_t>(w.cpu));
    m.delivered = w.delivered;
    m.occupancy_max = occ_w_max_[i];
    m.occupancy_mean =
        occ_samples_ ? static_cast<double>(occ_w_sum_[i]) / static_cast<double>(occ_samples_) : 0;
    m.cpu_seconds = w.busy_ns * 1e-9;
    m.busy = w.busy_ns / wall;
    res.drops.cpumap_enqueue += m.stats.enqueue_drops;
    res.drops.second_program += m.stats.dropped;
    res.drops.second_aborted += m.stats.aborted;
    res.drops.second_redirect += m.stats.redirected + m.stats.redirect_errors;
    worker_delivered += m.delivered;
    enq += m.stats.enqueued;
    enq_drops += m.stats.enqueue_drops;
    passed += m.stats.passed;
    res.workers.push_back(m);
  }
  res.delivered = worker_delivered + ingress_passed;
  for (std::size_t i = 0; i < cpus_.size(); ++i) {
    loads_[i].busy = cpus_[i].busy_ns / wall;
  }
  res.cpus = loads_;
  res.intervals = std::move(intervals_);
  res.latency = total_latency_;
  if (acct_)
    detail::fill_flow_stats(res, *acct_);
  res.notes.push_back("model mode: virtual time on " + machine_.description() + ", costs " +
                      costs_.origin +
                      (source_cpu_ < 0 ? std::string(", hardware NIC (no source CPU)")
                                       : ", source on CPU " + std::to_string(r_.source_cpu)));

  // --- conservation (as live mode) ---------------------------------------------------------
  res.pool_frames = pool_.count();
  map_.reset();  // every entry gone: no frame can still be out
  res.pool_in_use = pool_.in_use();
  detail::CrossChecks checks;
  checks.rx_received = received;
  checks.ingress_took = ingress_frames;
  checks.redirected = first_totals.redirected;
  checks.cpumap_saw = enq + enq_drops;
  checks.workers_passed = passed;
  checks.sink_took = worker_delivered;
  detail::check_conservation(res, checks);
}

}  // namespace

Scenario resolve_model(const Scenario& scenario, const topo::Topology& machine) {
  Scenario s = scenario;
  s.model_cpus = 0;  // the machine fixes the CPUs (prepare_model_process)
  auto check = [&machine](const char* what, int cpu) {
    if (cpu >= 0 && !machine.has_cpu(cpu))
      throw std::invalid_argument(std::string(what) + ": CPU " + std::to_string(cpu) +
                                  " does not exist on the modelled machine (" +
                                  machine.description() + ")");
  };
  for (int c : s.ingress_cpus)
    check("ingress-cpus", c);
  for (int c : s.worker_cpus)
    check("worker-cpus", c);
  check("source-cpu", s.source_cpu);
  Scenario r = resolve(s, machine);
  for (int c : r.ingress_cpus)
    check("ingress-cpus", c);
  for (int c : r.worker_cpus)
    check("worker-cpus", c);
  check("source-cpu", r.source_cpu);
  return r;
}

RunResult run_model(const Scenario& scenario, const ModelOptions& options) {
  const topo::Topology machine = model_topology(options.machine);
  prepare_model_process(machine);
  const Scenario r = resolve_model(scenario, machine);
  Model m(r, options, machine);
  return m.run();
}

}  // namespace xmaps::sim
