// SPDX-License-Identifier: MIT
//
// Sweeps (xmaps/sim/sweep.h): the points of a SweepSpec, one run_model() each, shards, and the
// per-point JSON and CSV files.
#include "xmaps/sim/sweep.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include "xmaps/sim/model.h"
#include "xmaps/sim/report.h"

namespace xmaps::sim {

namespace {

template <class T>
void need(const std::vector<T>& v, const char* name) {
  if (v.empty())
    throw std::invalid_argument(std::string("sweep: the ") + name + " list is empty");
}

void need_counts(const std::vector<std::uint32_t>& v, const char* name) {
  need(v, name);
  for (std::uint32_t x : v) {
    if (x == 0)
      throw std::invalid_argument(std::string("sweep: ") + name + " must be >= 1, got 0");
  }
}

std::string fixed(double x, int digits) {
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

bool parse_size(std::string_view t, std::size_t& out) {
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return !t.empty() && ec == std::errc{} && p == t.data() + t.size();
}

}  // namespace

std::string SweepPoint::label() const {
  return "queues=" + std::to_string(queues) + " workers=" + std::to_string(workers) +
         " ingress=" + std::to_string(ingress) + " placement=" + std::string(to_string(placement)) +
         " mix=" + mix + " qsize=" + std::to_string(qsize);
}

void SweepSpec::check() const {
  need_counts(queues, "queues");
  need_counts(workers, "workers");
  need_counts(ingress, "ingress");
  need(placements, "placement");
  need(mixes, "mix");
  need_counts(qsizes, "qsize");
  for (const std::string& m : mixes) {
    FlowMix parsed{};
    if (!parse_flow_mix(m, parsed))
      throw std::invalid_argument("sweep: unknown mix '" + m +
                                  "' (uniform, zipf, elephants, syn-flood, single-dst)");
  }
  for (std::uint32_t q : qsizes) {
    if (q > 16384)
      throw std::invalid_argument("sweep: qsize must be 1..16384, got " + std::to_string(q));
  }
  for (std::uint32_t q : queues) {
    if (q > 128)
      throw std::invalid_argument("sweep: queues must be 1..128, got " + std::to_string(q));
  }
  if (!base.ingress_cpus.empty() || !base.worker_cpus.empty())
    throw std::invalid_argument(
        "sweep: the base scenario must not list ingress or worker CPUs (the sweep places them "
        "by count and policy)");
}

std::size_t SweepSpec::size() const {
  return mixes.size() * placements.size() * qsizes.size() * ingress.size() * queues.size() *
         workers.size();
}

std::vector<SweepPoint> SweepSpec::points() const {
  check();
  std::vector<SweepPoint> out;
  out.reserve(size());
  for (const std::string& mix : mixes) {
    for (Placement placement : placements) {
      for (std::uint32_t qsize : qsizes) {
        for (std::uint32_t in : ingress) {
          for (std::uint32_t q : queues) {
            for (std::uint32_t w : workers) {
              SweepPoint p;
              p.index = out.size();
              p.queues = q;
              p.workers = w;
              p.ingress = in;
              p.placement = placement;
              p.mix = mix;
              p.qsize = qsize;
              p.scenario = base;
              p.scenario.rss.queues = q;
              p.scenario.worker_count = w;
              p.scenario.ingress_count = in;
              p.scenario.placement = placement;
              p.scenario.qsize = qsize;
              set_knob(p.scenario, "mix", mix);
              // The outputs are the sweep's, per point.
              p.scenario.json_out.clear();
              p.scenario.csv_out.clear();
              p.scenario.progress = false;
              out.push_back(std::move(p));
            }
          }
        }
      }
    }
  }
  return out;
}

RunResult SweepSpec::run_point(std::size_t i) const {
  const std::vector<SweepPoint> pts = points();
  if (i >= pts.size())
    throw std::out_of_range("sweep: point " + std::to_string(i) + " does not exist (points 0.." +
                            std::to_string(pts.size() - 1) + ")");
  ModelOptions opt;
  opt.machine = machine;
  opt.costs = costs;
  opt.frames = frames;
  opt.nic_rate_pps = nic_rate_pps;
  return run_model(pts[i].scenario, opt);
}

Shard parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  Shard s;
  if (slash == std::string::npos || !parse_size(std::string_view(text).substr(0, slash), s.index) ||
      !parse_size(std::string_view(text).substr(slash + 1), s.count))
    throw std::invalid_argument("shard: '" + text + "' is not K/N (e.g. 3/16)");
  if (s.count == 0 || s.index >= s.count)
    throw std::invalid_argument("shard: '" + text + "': need 0 <= K < N");
  return s;
}

std::vector<std::size_t> shard_points(std::size_t points, Shard shard) {
  if (shard.count == 0 || shard.index >= shard.count)
    throw std::invalid_argument("shard: need 0 <= index < count");
  std::vector<std::size_t> out;
  for (std::size_t i = shard.index; i < points; i += shard.count)
    out.push_back(i);
  return out;
}

std::string sweep_csv_header() {
  return "point,queues,workers,ingress,placement,mix,qsize,frames,offered_mpps,delivered_mpps,"
         "drop_fraction,max_cpu_busy,p99_latency_us,conserved\n";
}

std::string sweep_csv_row(const SweepPoint& p, const RunResult& r) {
  double busy = 0;
  for (const CpuLoad& c : r.cpus)
    busy = std::max(busy, c.busy);
  const double drop_fraction =
      r.generated == 0 ? 0.0
                       : static_cast<double>(r.drops.total()) / static_cast<double>(r.generated);
  std::ostringstream o;
  o << p.index << ',' << p.queues << ',' << p.workers << ',' << p.ingress << ','
    << to_string(p.placement) << ',' << p.mix << ',' << p.qsize << ',' << r.generated << ','
    << fixed(r.offered_pps() / 1e6, 4) << ',' << fixed(r.delivered_pps() / 1e6, 4) << ','
    << fixed(drop_fraction, 6) << ',' << fixed(busy, 4) << ','
    << fixed(static_cast<double>(r.latency.percentile(99)) / 1e3, 3) << ','
    << (r.conserved ? "true" : "false") << '\n';
  return o.str();
}

std::string write_point_outputs(const std::string& dir, const SweepPoint& p, const RunResult& r) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(dir + ": cannot create the directory: " + ec.message());
  char name[32];
  (void)std::snprintf(name, sizeof name, "point-%04zu", p.index);
  const std::string stem = (std::filesystem::path(dir) / name).string();
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(to_json(r));
  j["sweep_point"] = {
      {"index", p.index},
      {"queues", p.queues},
      {"workers", p.workers},
      {"ingress", p.ingress},
      {"placement", std::string(to_string(p.placement))},
      {"mix", p.mix},
      {"qsize", p.qsize},
  };
  write_file(stem + ".json", j.dump(2) + "\n");
  write_file(stem + ".csv", sweep_csv_header() + sweep_csv_row(p, r));
  return stem + ".json";
}

}  // namespace xmaps::sim
