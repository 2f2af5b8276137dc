// SPDX-License-Identifier: MIT
//
// The live pipeline: a Scenario (xmaps/sim/scenario.h) run with real, pinned threads.
//
//   source thread   TrafficGenerator or PcapReplay -> frames of one FramePool, stamped with
//   ("the NIC")     the time; parse_packet() + Rss::queue_of() pick the RX queue; the frame
//                   goes into that queue's bounded ring. With a target rate (Pacer) the input
//                   is open-loop, as a NIC's: no free frame and a full RX ring are counted
//                   drops (no_free_frame, rx_ring_full). Without a rate it is lossless: the
//                   source waits for frames and ring room, so it runs at the pipeline's pace.
//   ingress threads one per ingress CPU, pinned, bound to it (CpuBinding), polling its RX
//                   queues (queue q -> ingress q % n) in batches of up to `batch` frames,
//                   running the first program through a RedirectContext and flushing at the
//                   end of every batch (xdp_do_flush). XDP_PASS at ingress is delivered there.
//   CPUMAP          one entry per worker CPU (qsize, the second program): its worker thread
//                   runs flow accounting (FlowAccounting, xmaps/sim/programs.h) and hands
//                   XDP_PASS frames to the sink.
//   sink            records latency (stamp -> now) into the worker's LatencyHistogram and
//                   counts the frame delivered; the engine then recycles it.
//
// Idle threads back off (pause, then yield, then short sleeps), so any number of threads runs
// on any number of cores without livelock. At the end the source stops, the ingress threads
// drain their rings (bounded: after drain_timeout they give up, and what is left is reported
// in flight), flush, and every CPUMAP entry is erased (its ring drained). Then
//
//   generated = delivered + sum(drops by reason) + in flight,  in flight == 0
//
// must hold exactly; RunResult::conserved says whether it did (and why not), and the pool
// must be full again (every frame recycled).
//
// Per-frame work allocates nothing and takes no global lock: rings are single-producer
// single-consumer, counters are per thread, latency histograms are per worker (a per-worker
// lock, taken once per worker batch, lets the sampler swap the interval histogram).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "xmaps/cpumap.h"
#include "xmaps/sim/histogram.h"
#include "xmaps/sim/scenario.h"
#include "xmaps/xdp.h"

namespace xmaps::topology {
class Topology;
}  // namespace xmaps::topology

namespace xmaps::sim {

// Drops by reason and place. The reasons partition every generated frame not delivered.
struct DropCounts {
  // NIC / source
  std::uint64_t oversize = 0;       // packet larger than a frame buffer (pcap replay)
  std::uint64_t no_free_frame = 0;  // pool empty when the packet arrived (rate > 0 only)
  std::uint64_t rx_ring_full = 0;   // RX queue ring full (rate > 0 only)
  // ingress CPU, first program
  std::uint64_t parse_failure = 0;    // the first program dropped it: truncated / not IP / bad IP
  std::uint64_t first_program = 0;    // the first program returned XDP_DROP (other reasons)
  std::uint64_t first_aborted = 0;    // XDP_ABORTED / XDP_TX / unknown, or redirect_map() to a
                                      // missing entry (its flags' action)
  std::uint64_t redirect_errors = 0;  // XDP_REDIRECT without a valid target
  // CPUMAP
  std::uint64_t cpumap_enqueue = 0;  // entry ring full at flush
  // worker CPU, second program
  std::uint64_t second_program = 0;   // XDP_DROP
  std::uint64_t second_aborted = 0;   // XDP_ABORTED / XDP_TX / unknown
  std::uint64_t second_redirect = 0;  // XDP_REDIRECT on (out of this pipeline) or its errors

  [[nodiscard]] std::uint64_t total() const noexcept {
    return oversize + no_free_frame + rx_ring_full + parse_failure + first_program + first_aborted +
           redirect_errors + cpumap_enqueue + second_program + second_aborted + second_redirect;
  }
  // (name, count) for every reason, in the order above.
  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> items() const;
};

struct QueueMetrics {
  std::uint32_t queue = 0;
  int ingress_cpu = -1;        // the CPU that polls it
  std::uint64_t frames = 0;    // frames RSS chose this queue for (received + ring-full drops)
  std::uint64_t received = 0;  // put into the ring
  std::uint64_t rx_ring_full = 0;
  std::uint32_t occupancy_max = 0;  // sampled ring occupancy, frames
  double occupancy_mean = 0;
};

struct IngressMetrics {
  int cpu = -1;
  bool pinned = false;
  std::vector<std::uint32_t> queues;
  std::uint64_t frames = 0;      // frames the first program ran on
  std::uint64_t polls = 0;       // polls of one queue
  std::uint64_t work_polls = 0;  // polls that found frames
  std::uint64_t passed = 0;      // XDP_PASS at ingress: delivered here
  double cpu_seconds = 0;        // thread CPU time
  double busy = 0;               // cpu_seconds / wall seconds
  [[nodiscard]] double work_fraction() const noexcept {
    return polls == 0 ? 0.0 : static_cast<double>(work_polls) / static_cast<double>(polls);
  }
};

struct WorkerMetrics {
  int cpu = -1;
  bool pinned = false;
  CpuMapStats stats;                // the entry's counters over this run
  std::uint64_t delivered = 0;      // frames the sink took
  std::uint32_t occupancy_max = 0;  // sampled CPUMAP ring occupancy (enqueued - processed)
  double occupancy_mean = 0;
  double cpu_seconds = 0;  // worker thread CPU time (-1: unknown, the thread never ran)
  double busy = 0;         // cpu_seconds / wall seconds
};

// Threads by CPU: the sum of the busy fractions of the threads pinned (or bound) there.
struct CpuLoad {
  int cpu = -1;
  double busy = 0;
  std::string threads;  // e.g. "ingress+worker"
};

struct Interval {
  double t_s = 0;  // end of the interval since the start
  double seconds = 0;
  std::uint64_t generated = 0;
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t latency_p50_ns = 0;
  std::uint64_t latency_p99_ns = 0;
  std::uint64_t latency_max_ns = 0;
  std::vector<double> cpu_busy;  // per CpuLoad entry (same order as RunResult::cpus)
  [[nodiscard]] double offered_pps() const noexcept {
    return seconds > 0 ? static_cast<double>(generated) / seconds : 0;
  }
  [[nodiscard]] double delivered_pps() const noexcept {
    return seconds > 0 ? static_cast<double>(delivered) / seconds : 0;
  }
};

struct RunResult {
  Scenario scenario;  // as run: CPU lists and queues resolved
  std::string machine;
  std::string source;       // "generator (uniform, 1024 flows)" / "pcap FILE (N packets)"
  double wall_seconds = 0;  // from the first packet to the end of the drain

  std::uint64_t generated = 0;  // every packet the source produced (oversize included)
  std::uint64_t delivered = 0;  // reached the sink (or XDP_PASS at ingress)
  DropCounts drops;
  std::uint64_t in_flight = 0;  // generated - delivered - drops: 0 after the drain
  bool conserved = false;
  std::string conservation;  // the equation with numbers, and what is wrong if anything
  std::uint32_t pool_frames = 0;
  std::uint32_t pool_in_use = 0;   // after the run: 0 when every frame was recycled
  std::uint64_t rss_unparsed = 0;  // frames the NIC could not parse: hashed to queue 0
  std::uint64_t pcap_written = 0;
  std::uint64_t pcap_truncated = 0;  // replayed frames shorter than on the wire

  LatencyHistogram latency;  // generation -> sink, every delivered frame

  bool have_flow_stats = false;
  std::uint64_t flow_lookups = 0, flow_hits = 0, flow_inserts = 0, flow_evictions = 0;
  std::uint64_t flow_parse_failures = 0;
  [[nodiscard]] double flow_hit_ratio() const noexcept {
    return flow_lookups == 0 ? 0.0
                             : static_cast<double>(flow_hits) / static_cast<double>(flow_lookups);
  }

  std::vector<QueueMetrics> queues;
  std::vector<IngressMetrics> ingress;
  std::vector<WorkerMetrics> workers;
  std::vector<CpuLoad> cpus;
  std::vector<Interval> intervals;
  std::vector<std::string> notes;  // unpinned threads and the like

  [[nodiscard]] double offered_pps() const noexcept {
    return wall_seconds > 0 ? static_cast<double>(generated) / wall_seconds : 0;
  }
  [[nodiscard]] double delivered_pps() const noexcept {
    return wall_seconds > 0 ? static_cast<double>(delivered) / wall_seconds : 0;
  }
};

// A progress snapshot, once per interval.
struct Progress {
  double elapsed_s = 0;
  double planned_s = 0;  // 0: unknown (packet count limit)
  std::uint64_t generated = 0;
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  double delivered_pps = 0;  // in the last interval
};

// What the scenario cannot say: programs and maps from the caller.
struct PipelineHooks {
  // Replaces the built-in first program (e.g. xmaps::xdp_program(fn) of a BPF-C function). It
  // must redirect into `cpu_map` below if given, else into the pipeline's own map, which it
  // cannot name: pair a user first program with a user cpu_map.
  std::shared_ptr<const XdpProgram> first_program;
  // Replaces flow accounting as the second program (its XDP_PASS frames are delivered).
  std::shared_ptr<const XdpProgram> second_program;
  // An existing CPUMAP (e.g. a BPF-C program's cpu_map definition: bpf_map_of(&cpu_map) ->
  // its Map -> cpu_map()). The pipeline creates one entry per worker CPU in it (replacing what
  // is there), with its own second program that counts and times delivered frames (such a
  // map has no sink of the pipeline's), and erases them at the end. Worker CPUs must be below
  // its max_entries.
  CpuMap* cpu_map = nullptr;
  // Called on the sampling thread once per interval.
  std::function<void(const Progress&)> on_progress;
};

// Runs the scenario. Throws std::invalid_argument for a scenario that validate() rejects or
// that this machine cannot run (CPU sets, a pcap that cannot be read: the message says), and
// std::runtime_error if a thread cannot be started. A run that breaks conservation returns
// normally with conserved == false.
[[nodiscard]] RunResult run_pipeline(const Scenario& scenario, const PipelineHooks& hooks = {});

// The scenario with CPU lists, queue count and RETA resolved for this machine (what
// run_pipeline runs). Throws std::invalid_argument as run_pipeline.
[[nodiscard]] Scenario resolve(const Scenario& scenario);
// The same against a given topology (model mode, xmaps/sim/model.h: the modelled machine).
// Does not apply model_cpus (the caller fixes possible_cpus()); CPUs placed by policy come
// from `machine`; explicit lists are taken as given (checked against possible_cpus() only).
[[nodiscard]] Scenario resolve(const Scenario& scenario, const xmaps::topology::Topology& machine);

}  // namespace xmaps::sim
