// SPDX-License-Identifier: MIT
//
// The cost model of model mode (xmaps/sim/model.h): how long each step of the pipeline takes
// on a simulated CPU, in nanoseconds of virtual time. The steps are the live pipeline's
// (xmaps/sim/pipeline.h), and calibrate() measures them on this machine; moving a frame
// between CPUs adds a transfer cost that depends on how far apart they are in the modelled
// topology (xmaps::topology::DistanceClass), with documented defaults the user can override
// (e.g. with figures measured on the target machine).
//
//   xmaps::sim::CostModel m = xmaps::sim::calibrate({});   // ~seconds, on this machine
//   xmaps::sim::save_cost_model(m, "calib.json");
//   xmaps::sim::CostModel again = xmaps::sim::load_cost_model("calib.json");
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "xmaps/topology.h"

namespace xmaps::sim {

struct CostModel {
  std::string origin = "defaults";  // "defaults", "calibrated on <machine>, <date>", a file

  // Source / NIC, charged only when the scenario puts the source on a simulated CPU (as the
  // live pipeline does); a hardware NIC costs the CPUs nothing.
  double source_ns_per_frame = 0;  // generate + parse + RSS hash + RX ring push
  double source_ns_per_byte = 0;   // the copy into the frame, per byte of frame

  // Ingress CPU.
  double ingress_poll_ns = 0;  // one poll of one RX queue (found frames or not)
  double rx_dequeue_ns_per_frame = 0;
  // The first program per frame, by name ("round-robin", "hash", "port", "drop"; a user
  // program: "custom"). Includes the redirect_map() call and the bulk-queue append.
  std::map<std::string, double> first_program_ns;
  double flush_ns_per_bulk = 0;  // pushing one bulk into a CPUMAP ring (+ wake-up if needed)

  // Worker CPU.
  double worker_dequeue_ns_per_frame = 0;
  double worker_idle_poll_ns = 0;  // one look at an empty ring
  // The second program (flow accounting) per frame: a hit in the LRU, a miss that inserts,
  // and the extra cost of an insert that evicts. LRU size enters through the miss/evict mix
  // the real LRU produces, and through lru_ns_per_log2_entries (cache misses as the table grows).
  double flow_hit_ns = 0;
  double flow_insert_ns = 0;
  double flow_evict_ns = 0;
  double lru_ns_per_log2_entries = 0;
  double sink_ns_per_frame = 0;  // latency record + recycle

  // Moving a frame (its descriptor, metadata line and the headers the worker reads) from the
  // ingress CPU to a worker CPU, per frame, by distance class.
  std::map<xmaps::topology::DistanceClass, double> transfer_ns;
  // The way back: the source's extra cost per frame it takes from the pool that another CPU
  // recycled last (the frame's lines and the pool slot move back), by the distance class
  // between that CPU and the source's. Charged only when the source is on a CPU.
  std::map<xmaps::topology::DistanceClass, double> return_ns;
  // The ingress CPU's extra cost per bulk it pushes into the CPUMAP ring of a worker that
  // keeps up, by the distance class between the two: that worker reads close behind the
  // pushes, so the slot and index lines a push writes are in its cache and move over while
  // it reads them. Charged per bulk pushed into a ring that held fewer than 64 frames; a
  // ring with a backlog does not cost this.
  std::map<xmaps::topology::DistanceClass, double> idle_push_ns;
};

// Defaults for every field: this 2-vCPU VM's order of magnitude, and for the distance classes
// this machine cannot measure, figures typical of current x86 servers (documented in
// docs/model.md with their sources).
[[nodiscard]] CostModel default_cost_model();

struct CalibrationOptions {
  double seconds_per_step = 0.2;  // time spent measuring each step
  std::uint32_t lru_entries = 65536;
};
// Measures the steps on this machine (single-threaded loops over the real code, and one
// cross-core hand-over between two CPUs if there are two). Throws std::runtime_error if a
// measurement cannot be made.
[[nodiscard]] CostModel calibrate(const CalibrationOptions& options);

// JSON files; load throws std::invalid_argument (with the file name) for a missing or
// malformed file or an unknown key; fields not in the file keep their defaults.
void save_cost_model(const CostModel& m, const std::string& path);
[[nodiscard]] CostModel load_cost_model(const std::string& path);
[[nodiscard]] std::string cost_model_to_json(const CostModel& m);
[[nodiscard]] CostModel cost_model_from_json(const std::string& text);

}  // namespace xmaps::sim
