// SPDX-License-Identifier: MIT
//
// The summary table, JSON, CSV and progress line of a run (xmaps/sim/report.h).
#include "xmaps/sim/report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace xmaps::sim {

namespace {

// Appends `item` to a comma-separated list.
void append_item(std::string& list, const std::string& item) {
  if (!list.empty())
    list.push_back(',');
  list.append(item);
}

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0)
      s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Packets per second in a readable unit.
std::string rate(double pps) {
  if (pps >= 1e6)
    return fixed(pps / 1e6, 2) + " Mpps";
  if (pps >= 1e3)
    return fixed(pps / 1e3, 1) + " kpps";
  return fixed(pps, 0) + " pps";
}

std::string duration_ns(std::uint64_t ns) {
  const auto v = static_cast<double>(ns);
  if (ns >= 1'000'000'000)
    return fixed(v / 1e9, 2) + " s";
  if (ns >= 1'000'000)
    return fixed(v / 1e6, 2) + " ms";
  if (ns >= 1'000)
    return fixed(v / 1e3, 1) + " us";
  return std::to_string(ns) + " ns";
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0
             ? std::string("-")
             : fixed(100.0 * static_cast<double>(part) / static_cast<double>(whole), 1) + " %";
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string s;
  for (int c : cpus)
    append_item(s, std::to_string(c));
  return s;
}

// A table: rows of cells, columns right-aligned except the first.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  [[nodiscard]] std::string str(const std::string& indent = "  ") const {
    std::vector<std::size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()), 0);
      for (std::size_t i = 0; i < row.size(); ++i)
        width[i] = std::max(width[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line = indent;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const std::string pad(width[i] - row[i].size(), ' ');
        line += i == 0 ? row[i] + pad : "  " + pad + row[i];
      }
      while (!line.empty() && line.back() == ' ')
        line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace

std::string format_summary(const RunResult& r) {
  const Scenario& s = r.scenario;
  std::ostringstream o;
  o << "xmaps-sim: " << r.source << "\n"
    << "  -> RSS over " << s.rss.queues << " RX queues ("
    << (s.rss.udp_4tuple ? "UDP 4-tuple" : "UDP 2-tuple") << ", RETA " << get_knob(s, "reta") << ")"
    << " -> ingress CPUs " << cpu_list(s.ingress_cpus) << " (" << s.first_program << ")"
    << "\n  -> CPUMAP -> worker CPUs " << cpu_list(s.worker_cpus) << " ("
    << (s.lru_entries > 0 ? "flow accounting, LRU " + grouped(s.lru_entries) : "no program")
    << ")\n";
  o << "machine: " << r.machine << "; source thread on "
    << (s.source_cpu >= 0 ? "CPU " + std::to_string(s.source_cpu) : std::string("any CPU")) << "\n";
  o << "run: " << fixed(r.wall_seconds, 2) << " s, seed " << s.traffic.seed << ", "
    << (s.rate_pps > 0 ? "target " + rate(s.rate_pps) + " (burst " + std::to_string(s.burst) + ")"
                       : std::string("as fast as the pipeline takes them (lossless input)"))
    << ", batch " << s.batch << ", qsize " << s.qsize << ", pool " << grouped(s.pool_frames)
    << " frames\n\n";

  Table t({"throughput", "packets", "rate"});
  t.add({"offered", grouped(r.generated), rate(r.offered_pps())});
  t.add({"delivered", grouped(r.delivered), rate(r.delivered_pps())});
  t.add({"dropped", grouped(r.drops.total()),
         r.wall_seconds > 0 ? rate(static_cast<double>(r.drops.total()) / r.wall_seconds) : "-"});
  o << t.str() << "\n";

  Table d({"drops by reason", "where", "packets", "of offered"});
  const char* where[] = {"source",  "NIC",    "NIC",    "ingress", "ingress", "ingress",
                         "ingress", "CPUMAP", "worker", "worker",  "worker"};
  std::size_t i = 0;
  bool any = false;
  for (const auto& [name, n] : r.drops.items()) {
    if (n != 0) {
      d.add({name, where[i], grouped(n), percent(n, r.generated)});
      any = true;
    }
    ++i;
  }
  if (any)
    o << d.str() << "\n";
  else
    o << "  drops: none\n\n";

  const LatencyHistogram& h = r.latency;
  o << "  latency (generation -> sink, " << grouped(h.count()) << " frames): p50 "
    << duration_ns(h.percentile(50)) << ", p99 " << duration_ns(h.percentile(99)) << ", p99.9 "
    << duration_ns(h.percentile(99.9)) << ", max " << duration_ns(h.max()) << "\n\n";

  Table q({"RX queue", "ingress CPU", "frames", "share", "ring full", "ring mean", "ring max"});
  std::uint64_t total = 0, top = 0;
  for (const QueueMetrics& m : r.queues) {
    total += m.frames;
    top = std::max(top, m.frames);
  }
  for (const QueueMetrics& m : r.queues)
    q.add({std::to_string(m.queue), std::to_string(m.ingress_cpu), grouped(m.frames),
           percent(m.frames, total), grouped(m.rx_ring_full), fixed(m.occupancy_mean, 1),
           std::to_string(m.occupancy_max)});
  o << q.str();
  if (total > 0 && r.queues.size() > 1) {
    const double mean = static_cast<double>(total) / static_cast<double>(r.queues.size());
    o << "  RSS balance: busiest queue " << percent(top, total) << " of frames, max/mean "
      << fixed(static_cast<double>(top) / mean, 2)
      << (static_cast<double>(top) / mean > 1.5 ? "  << IMBALANCED" : "") << "\n";
  }
  o << "\n";

  Table in({"ingress CPU", "pinned", "queues", "frames", "busy (CPU time)", "polls with work"});
  for (const IngressMetrics& m : r.ingress) {
    std::string qs;
    for (std::uint32_t x : m.queues)
      append_item(qs, std::to_string(x));
    in.add({std::to_string(m.cpu), m.pinned ? "yes" : "no", qs, grouped(m.frames),
            fixed(100 * m.busy, 1) + " %", fixed(100 * m.work_fraction(), 1) + " %"});
  }
  o << in.str() << "\n";

  Table w({"worker CPU", "pinned", "enqueued", "enq drops", "delivered", "prog drops", "share",
           "ring mean", "ring max", "busy (CPU time)", "sleeps"});
  std::uint64_t wtotal = 0;
  for (const WorkerMetrics& m : r.workers)
    wtotal += m.stats.enqueued;
  for (const WorkerMetrics& m : r.workers)
    w.add({std::to_string(m.cpu), m.pinned ? "yes" : "no", grouped(m.stats.enqueued),
           grouped(m.stats.enqueue_drops), grouped(m.delivered),
           grouped(m.stats.dropped + m.stats.aborted), percent(m.stats.enqueued, wtotal),
           fixed(m.occupancy_mean, 1), std::to_string(m.occupancy_max),
           m.cpu_seconds < 0 ? std::string("-") : fixed(100 * m.busy, 1) + " %",
           grouped(m.stats.sleeps)});
  o << w.str() << "\n";

  Table c({"CPU", "threads", "busy (CPU time / wall)"});
  for (const CpuLoad& l : r.cpus)
    c.add({l.cpu < 0 ? std::string("-") : std::to_string(l.cpu), l.threads,
           fixed(100 * l.busy, 1) + " %"});
  o << c.str() << "\n";

  if (r.have_flow_stats) {
    o << "  flow accounting: " << grouped(r.flow_lookups) << " lookups, hit ratio "
      << fixed(100 * r.flow_hit_ratio(), 2) << " %, " << grouped(r.flow_inserts) << " inserts, "
      << grouped(r.flow_evictions) << " evictions";
    if (r.flow_parse_failures != 0)
      o << ", " << grouped(r.flow_parse_failures) << " unparsed";
    o << "\n";
  }
  if (r.rss_unparsed != 0)
    o << "  NIC: " << grouped(r.rss_unparsed) << " frames did not parse (hashed to queue "
      << "of RETA entry 0)\n";
  if (r.pcap_written != 0)
    o << "  pcap-out: " << grouped(r.pcap_written) << " frames written to " << s.pcap_out << "\n";
  if (r.pcap_truncated != 0)
    o << "  pcap-in: " << grouped(r.pcap_truncated) << " frames were shorter than on the wire\n";
  for (const std::string& n : r.notes)
    o << "  note: " << n << "\n";
  o << "\nconservation: " << r.conservation << (r.conserved ? "  OK" : "") << "\n";
  return o.str();
}

std::string to_json(const RunResult& r, int indent) {
  using json = nlohmann::ordered_json;
  json j;
  j["tool"] = "xmaps-sim";
  j["config"] = json::parse(scenario_to_json(r.scenario, -1));
  j["seed"] = r.scenario.traffic.seed;
  j["machine"] = r.machine;
  j["source"] = r.source;
  j["wall_seconds"] = r.wall_seconds;
  j["generated"] = r.generated;
  j["delivered"] = r.delivered;
  j["offered_pps"] = r.offered_pps();
  j["delivered_pps"] = r.delivered_pps();
  json drops = json::object();
  for (const auto& [name, n] : r.drops.items())
    drops[name] = n;
  j["drops"] = drops;
  j["dropped_total"] = r.drops.total();
  j["in_flight"] = r.in_flight;
  j["conserved"] = r.conserved;
  j["conservation"] = r.conservation;
  j["pool"] = {{"frames", r.pool_frames}, {"in_use_after", r.pool_in_use}};
  j["rss_unparsed"] = r.rss_unparsed;
  j["pcap_written"] = r.pcap_written;
  j["pcap_truncated"] = r.pcap_truncated;
  const LatencyHistogram& h = r.latency;
  json cdf = json::array();
  for (const auto& [v, f] : h.cdf())
    cdf.push_back(json::array({v, f}));
  j["latency_ns"] = {
      {"count", h.count()},          {"min", h.min()},          {"mean", h.mean()},
      {"p50", h.percentile(50)},     {"p90", h.percentile(90)}, {"p99", h.percentile(99)},
      {"p99.9", h.percentile(99.9)}, {"max", h.max()},          {"cdf", cdf}};
  if (r.have_flow_stats) {
    j["flow_accounting"] = {
        {"lookups", r.flow_lookups},       {"hits", r.flow_hits},
        {"hit_ratio", r.flow_hit_ratio()}, {"inserts", r.flow_inserts},
        {"evictions", r.flow_evictions},   {"parse_failures", r.flow_parse_failures}};
  }
  json queues = json::array();
  for (const QueueMetrics& m : r.queues)
    queues.push_back({{"queue", m.queue},
                      {"ingress_cpu", m.ingress_cpu},
                      {"frames", m.frames},
                      {"received", m.received},
                      {"rx_ring_full", m.rx_ring_full},
                      {"occupancy_mean", m.occupancy_mean},
                      {"occupancy_max", m.occupancy_max}});
  j["queues"] = queues;
  json ingress = json::array();
  for (const IngressMetrics& m : r.ingress)
    ingress.push_back({{"cpu", m.cpu},
                       {"pinned", m.pinned},
                       {"queues", m.queues},
                       {"frames", m.frames},
                       {"polls", m.polls},
                       {"work_polls", m.work_polls},
                       {"work_fraction", m.work_fraction()},
                       {"passed", m.passed},
                       {"cpu_seconds", m.cpu_seconds},
                       {"busy", m.busy}});
  j["ingress"] = ingress;
  json workers = json::array();
  for (const WorkerMetrics& m : r.workers)
    workers.push_back({{"cpu", m.cpu},
                       {"pinned", m.pinned},
                       {"enqueued", m.stats.enqueued},
                       {"enqueue_drops", m.stats.enqueue_drops},
                       {"processed", m.stats.processed},
                       {"passed", m.stats.passed},
                       {"dropped", m.stats.dropped},
                       {"aborted", m.stats.aborted},
                       {"redirected", m.stats.redirected},
                       {"redirect_errors", m.stats.redirect_errors},
                       {"sleeps", m.stats.sleeps},
                       {"delivered", m.delivered},
                       {"occupancy_mean", m.occupancy_mean},
                       {"occupancy_max", m.occupancy_max},
                       {"cpu_seconds", m.cpu_seconds},
                       {"busy", m.busy}});
  j["workers"] = workers;
  json cpus = json::array();
  for (const CpuLoad& l : r.cpus)
    cpus.push_back({{"cpu", l.cpu}, {"threads", l.threads}, {"busy", l.busy}});
  j["cpus"] = cpus;
  json series = json::array();
  for (const Interval& iv : r.intervals)
    series.push_back({{"t", iv.t_s},
                      {"seconds", iv.seconds},
                      {"generated", iv.generated},
                      {"delivered", iv.delivered},
                      {"dropped", iv.dropped},
                      {"offered_pps", iv.offered_pps()},
                      {"delivered_pps", iv.delivered_pps()},
                      {"latency_p50_ns", iv.latency_p50_ns},
                      {"latency_p99_ns", iv.latency_p99_ns},
                      {"latency_max_ns", iv.latency_max_ns},
                      {"cpu_busy", iv.cpu_busy}});
  j["intervals"] = series;
  j["notes"] = r.notes;
  return j.dump(indent);
}

std::string to_csv(const RunResult& r) {
  std::ostringstream o;
  o << "t_s,seconds,offered_pps,delivered_pps,generated,delivered,dropped,latency_p50_ns,"
       "latency_p99_ns,latency_max_ns";
  for (const CpuLoad& l : r.cpus)
    o << ",busy_" << (l.cpu < 0 ? std::string("source") : "cpu" + std::to_string(l.cpu));
  o << "\n";
  for (const Interval& iv : r.intervals) {
    o << fixed(iv.t_s, 3) << ',' << fixed(iv.seconds, 4) << ',' << fixed(iv.offered_pps(), 0) << ','
      << fixed(iv.delivered_pps(), 0) << ',' << iv.generated << ',' << iv.delivered << ','
      << iv.dropped << ',' << iv.latency_p50_ns << ',' << iv.latency_p99_ns << ','
      << iv.latency_max_ns;
    for (std::size_t i = 0; i < r.cpus.size(); ++i)
      o << ',' << (i < iv.cpu_busy.size() ? fixed(iv.cpu_busy[i], 3) : std::string("0"));
    o << "\n";
  }
  return o.str();
}

std::string format_progress(const Progress& p) {
  std::ostringstream o;
  o << "  " << fixed(p.elapsed_s, 1) << " s";
  if (p.planned_s > 0)
    o << " / " << fixed(p.planned_s, 1) << " s";
  o << "  generated " << grouped(p.generated) << "  delivered " << grouped(p.delivered) << " ("
    << rate(p.delivered_pps) << ")  dropped " << grouped(p.dropped);
  return o.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw std::runtime_error(path + ": cannot write");
  out << text;
  out.close();
  if (!out)
    throw std::runtime_error(path + ": write failed");
}

}  // namespace xmaps::sim
