// SPDX-License-Identifier: MIT
//
// xmaps-sim: runs a traffic scenario through RSS, the ingress CPUs' first program, the CPUMAP
// and the workers' second program with real pinned threads, and reports what happened
// (xmaps/sim/pipeline.h, xmaps/sim/report.h). Every scenario knob is an option
// (xmaps/sim/scenario.h); --config FILE loads a JSON or TOML file of them first, and the
// options given on the command line override it.
//
// Model mode (docs/model.md) adds three subcommands:
//   xmaps-sim model --machine NAME|FILE|synthetic:... [--costs FILE] [--frames N] [knobs]
//                   the same scenario on a modelled machine, in virtual time (xmaps/sim/model.h)
//   xmaps-sim calibrate --out FILE      measure the cost model on this machine
//   xmaps-sim sweep --machine ... --queues 1,2,4 --workers 1,2,4,8 ... --out-dir DIR
//                   [--point I | --shard K/N] [--list]   (xmaps/sim/sweep.h)
// model and sweep fix the process's possible CPUs to the machine's (prepare_model_process)
// before anything creates a map.
//
// Exit status: 0 when the run conserved every frame, 1 when it did not, 2 for bad input
// (unknown options, values out of range, impossible CPU sets, unreadable files).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "xmaps/sim/cost_model.h"
#include "xmaps/sim/model.h"
#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/report.h"
#include "xmaps/sim/scenario.h"
#include "xmaps/sim/sweep.h"

namespace {

using xmaps::sim::KnobInfo;

constexpr const char* kDescription =
    "xmaps-sim: a traffic simulator for xmaps' CPUMAP. Generated (or replayed) frames are spread\n"
    "over RX queues by RSS, an XDP-style first program on each ingress CPU redirects them\n"
    "through the CPUMAP to worker CPUs, a second program (per-flow accounting in an LRU hash)\n"
    "runs there, and the summary shows throughput, drops by reason, latency, per-queue,\n"
    "per-CPU and LRU figures, and the conservation check. Without options it runs a\n"
    "2-second demo on this machine.";

// The scenario knobs as options of one (sub)command, and what the command line gave.
struct KnobOptions {
  std::string config;
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  std::map<std::string, CLI::Option*> options;

  // Adds --config and every knob not in `skip`.
  void add(CLI::App& app, const std::set<std::string>& skip = {}) {
    app.add_option("--config", config,
                   "scenario file: JSON (.json) or TOML (.toml) with the options below as keys "
                   "(e.g. {\"mix\": \"zipf\", \"queues\": 4}); options on the command line win")
        ->type_name("FILE");
    const xmaps::sim::Scenario defaults;
    for (const KnobInfo& k : xmaps::sim::scenario_knobs()) {
      if (skip.count(k.name) != 0)
        continue;
      std::string shown = xmaps::sim::get_knob(defaults, k.name);
      if (shown.empty())
        shown = k.kind == KnobInfo::Kind::cpu_list ? "by --placement" : "none";
      const std::string help = k.help + " [default: " + shown + "]";
      if (k.kind == KnobInfo::Kind::boolean) {
        flags[k.name] = false;
        options[k.name] = app.add_flag("--" + k.name + ",!--no-" + k.name, flags[k.name], help);
      } else {
        CLI::Option* o = app.add_option("--" + k.name, values[k.name], help);
        switch (k.kind) {
          case KnobInfo::Kind::integer: o->type_name("N"); break;
          case KnobInfo::Kind::number: o->type_name("X"); break;
          case KnobInfo::Kind::cpu_list: o->type_name("CPUS"); break;
          default:
            o->type_name(k.name == "json" || k.name == "csv" || k.name.rfind("pcap", 0) == 0 ||
                                 k.name == "config"
                             ? "FILE"
                         : k.name == "dst" ? "IP:PORT"
                                           : "TEXT");
        }
        options[k.name] = o;
      }
    }
  }

  [[nodiscard]] bool given(const std::string& name) const {
    const auto it = options.find(name);
    return it != options.end() && it->second->count() != 0;
  }

  // The scenario: the config file (if any), then the options given.
  [[nodiscard]] xmaps::sim::Scenario scenario() const {
    xmaps::sim::Scenario s;
    if (!config.empty())
      s = xmaps::sim::load_scenario(config, s);
    for (const KnobInfo& k : xmaps::sim::scenario_knobs()) {
      if (!given(k.name))
        continue;
      if (k.kind == KnobInfo::Kind::boolean)
        xmaps::sim::set_knob(s, k.name, flags.at(k.name) ? "true" : "false");
      else
        xmaps::sim::set_knob(s, k.name, values.at(k.name));
    }
    // --packets alone: send them all, however long it takes.
    if (given("packets") && !given("duration") && config.empty())
      s.duration_s = 0;
    return s;
  }
};

// Options of model mode shared by `model` and `sweep`.
struct ModelArgs {
  std::string machine = "this";
  std::string costs;
  std::uint64_t frames = 0;
  double nic_rate = 0;

  void add(CLI::App& app) {
    app.add_option("--machine", machine,
                   "the modelled machine: 'this', a stock name (this-2core, server-1s16c-smt, "
                   "server-2s64c-numa, epyc-8numa), an lstopo XML file, or "
                   "'synthetic:<hwloc synthetic description>' [default: this]")
        ->type_name("NAME|FILE");
    app.add_option("--costs", costs,
                   "cost model file (xmaps-sim calibrate --out FILE) [default: the built-in "
                   "defaults, docs/model.md]")
        ->type_name("FILE");
    app.add_option("--frames", frames,
                   "frames to simulate [default: --packets if given, else 1,000,000]")
        ->type_name("N");
    app.add_option("--nic-rate", nic_rate,
                   "without --rate: 0 = lossless input (the NIC keeps the RX rings supplied), "
                   "else the NIC offers this many packets/s [default: 0]")
        ->type_name("PPS")
        ->check(CLI::NonNegativeNumber);
  }

  // The machine, with the process's possible CPUs fixed to it (before any map exists).
  [[nodiscard]] xmaps::topology::Topology prepare() const {
    xmaps::topology::Topology topo = xmaps::sim::model_topology(machine);
    xmaps::sim::prepare_model_process(topo);
    return topo;
  }
  [[nodiscard]] xmaps::sim::CostModel cost_model() const {
    return costs.empty() ? xmaps::sim::default_cost_model() : xmaps::sim::load_cost_model(costs);
  }
};

std::vector<std::string> split_list(const std::string& text, const char* what) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    if (item.empty())
      throw std::invalid_argument(std::string(what) + ": '" + text + "' has an empty item");
    out.push_back(item);
  }
  if (out.empty())
    throw std::invalid_argument(std::string(what) + ": the list is empty");
  return out;
}

std::vector<std::uint32_t> count_list(const std::string& text, const char* what) {
  std::vector<std::uint32_t> out;
  for (const std::string& item : split_list(text, what)) {
    std::size_t used = 0;
    unsigned long v = 0;
    try {
      v = std::stoul(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v == 0 || v > 65536 || item[0] == '-' || item[0] == '+')
      throw std::invalid_argument(std::string(what) + ": '" + item + "' is not a count >= 1");
    out.push_back(static_cast<std::uint32_t>(v));
  }
  return out;
}

void write_outputs(const xmaps::sim::RunResult& r) {
  if (!r.scenario.json_out.empty())
    xmaps::sim::write_file(r.scenario.json_out, xmaps::sim::to_json(r) + "\n");
  if (!r.scenario.csv_out.empty())
    xmaps::sim::write_file(r.scenario.csv_out, xmaps::sim::to_csv(r));
}

int run_live(const KnobOptions& knobs) {
  const xmaps::sim::Scenario s = knobs.scenario();
  xmaps::sim::PipelineHooks hooks;
  const bool show_progress = s.progress && isatty(STDERR_FILENO) != 0;
  bool progressed = false;
  if (show_progress) {
    hooks.on_progress = [&progressed](const xmaps::sim::Progress& p) {
      std::fprintf(stderr, "\r%s\033[K", xmaps::sim::format_progress(p).c_str());
      std::fflush(stderr);
      progressed = true;
    };
  }
  const xmaps::sim::RunResult r = xmaps::sim::run_pipeline(s, hooks);
  if (progressed)
    std::fprintf(stderr, "\r\033[K");
  std::cout << xmaps::sim::format_summary(r) << std::flush;
  write_outputs(r);
  if (!r.conserved) {
    std::cerr << "xmaps-sim: conservation failed: " << r.conservation << "\n";
    return 1;
  }
  return 0;
}

int run_model_command(const KnobOptions& knobs, const ModelArgs& args) {
  const xmaps::topology::Topology topo = args.prepare();
  xmaps::sim::ModelOptions opt;
  opt.machine = args.machine;
  opt.costs = args.cost_model();
  opt.frames = args.frames;
  opt.nic_rate_pps = args.nic_rate;
  const xmaps::sim::Scenario s = knobs.scenario();
  const xmaps::sim::RunResult r = xmaps::sim::run_model(s, opt);
  std::cout << "xmaps-sim model: MODELLED in virtual time (discrete-event simulation, "
               "docs/model.md), not measured\n"
            << "modelled machine: " << args.machine << ": " << topo.description() << "\n"
            << "cost model: " << opt.costs.origin
            << (args.costs.empty() ? std::string() : " (from " + args.costs + ")") << "\n\n"
            << xmaps::sim::format_summary(r) << std::flush;
  write_outputs(r);
  if (!r.conserved) {
    std::cerr << "xmaps-sim: conservation failed: " << r.conservation << "\n";
    return 1;
  }
  return 0;
}

int run_calibrate_command(const std::string& out, const xmaps::sim::CalibrationOptions& o) {
  std::cerr << "xmaps-sim calibrate: measuring (about "
            << static_cast<int>(o.seconds_per_step * 16 + 1)
            << " s; a quiet machine gives steadier figures)...\n";
  const xmaps::sim::CostModel m = xmaps::sim::calibrate(o);
  const std::string text = xmaps::sim::cost_model_to_json(m);
  if (out.empty() || out == "-") {
    std::cout << text;
  } else {
    xmaps::sim::save_cost_model(m, out);
    std::cout << text << "written to " << out << "\n";
  }
  return 0;
}

struct SweepArgs {
  std::string queues = "2", workers = "1", ingress = "1", placement = "compact", mix = "uniform",
              qsize = "2048";
  std::string shard;
  std::size_t point = 0;
  std::string out_dir;
  bool list = false;
  CLI::Option* point_opt = nullptr;
};

int run_sweep_command(const KnobOptions& knobs, const ModelArgs& margs, const SweepArgs& a) {
  const xmaps::topology::Topology topo = margs.prepare();
  xmaps::sim::SweepSpec spec;
  spec.queues = count_list(a.queues, "queues");
  spec.workers = count_list(a.workers, "workers");
  spec.ingress = count_list(a.ingress, "ingress");
  spec.qsizes = count_list(a.qsize, "qsize");
  spec.placements.clear();
  for (const std::string& p : split_list(a.placement, "placement")) {
    xmaps::sim::Placement v{};
    if (!xmaps::sim::parse_placement(p, v))
      throw std::invalid_argument("placement: '" + p +
                                  "' is not compact, numa, skip-smt or spread");
    spec.placements.push_back(v);
  }
  spec.mixes = split_list(a.mix, "mix");
  spec.base = knobs.scenario();
  spec.machine = margs.machine;
  spec.costs = margs.cost_model();
  spec.frames = margs.frames;
  spec.nic_rate_pps = margs.nic_rate;
  const std::vector<xmaps::sim::SweepPoint> pts = spec.points();

  std::vector<std::size_t> chosen;
  if (a.point_opt != nullptr && a.point_opt->count() != 0) {
    if (a.point >= pts.size())
      throw std::invalid_argument("point: " + std::to_string(a.point) +
                                  " does not exist: the sweep has points 0.." +
                                  std::to_string(pts.size() - 1));
    chosen.push_back(a.point);
  } else if (!a.shard.empty()) {
    chosen = xmaps::sim::shard_points(pts.size(), xmaps::sim::parse_shard(a.shard));
  } else {
    for (std::size_t i = 0; i < pts.size(); ++i)
      chosen.push_back(i);
  }

  if (a.list) {
    std::cout << "sweep on " << margs.machine << " (" << topo.description() << "): " << pts.size()
              << " points (order: mix, placement, qsize, ingress, queues, "
              << "workers; workers fastest)\n";
    for (std::size_t i : chosen)
      std::cout << "  " << i << "  " << pts[i].label() << "\n";
    return 0;
  }
  if (a.out_dir.empty())
    throw std::invalid_argument("sweep: --out-dir DIR is required (or --list)");

  std::cout << "sweep on " << margs.machine << " (" << topo.description() << "), MODELLED in "
            << "virtual time, cost model: " << spec.costs.origin << "\n"
            << xmaps::sim::sweep_csv_header();
  int status = 0;
  std::size_t skipped = 0;
  for (std::size_t i : chosen) {
    xmaps::sim::RunResult r;
    try {
      r = spec.run_point(i);
    } catch (const std::invalid_argument& e) {
      // A point the machine cannot hold (more CPUs than it has, ...): skipped, not fatal, so
      // a batch array over every index still succeeds.
      std::cerr << "xmaps-sim sweep: point " << i << " (" << pts[i].label()
                << ") skipped: " << e.what() << "\n";
      ++skipped;
      continue;
    }
    const std::string path = xmaps::sim::write_point_outputs(a.out_dir, pts[i], r);
    std::cout << xmaps::sim::sweep_csv_row(pts[i], r) << std::flush;
    if (!r.conserved) {
      std::cerr << "xmaps-sim sweep: point " << i << ": conservation failed: " << r.conservation
                << "\n";
      status = 1;
    }
    (void)path;
  }
  std::cout << "sweep: " << chosen.size() - skipped << " point(s) written to " << a.out_dir
            << (skipped != 0 ? ", " + std::to_string(skipped) + " skipped" : std::string())
            << (status == 0 ? "; conservation OK" : "; conservation FAILED") << "\n";
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "xmaps-sim");
  app.get_formatter()->column_width(34);
  KnobOptions live;
  live.add(app);

  CLI::App* model = app.add_subcommand(
      "model",
      "model mode: the scenario on a modelled machine (stock, lstopo XML or synthetic), in "
      "virtual time, with a cost model (docs/model.md)");
  KnobOptions model_knobs;
  ModelArgs model_args;
  model_args.add(*model);
  model_knobs.add(*model);

  CLI::App* calib = app.add_subcommand(
      "calibrate", "measure the cost model of model mode on this machine and save it");
  std::string calib_out;
  xmaps::sim::CalibrationOptions calib_opt;
  calib->add_option("--out", calib_out, "write the cost model here (JSON) [default: stdout]")
      ->type_name("FILE");
  calib
      ->add_option("--seconds-per-step", calib_opt.seconds_per_step,
                   "time spent measuring each step [default: 0.2]")
      ->type_name("X")
      ->check(CLI::Range(0.001, 60.0));
  calib
      ->add_option("--lru-entries", calib_opt.lru_entries,
                   "the large flow-accounting table measured [default: 65536]")
      ->type_name("N")
      ->check(CLI::Range(64U, 1U << 24));

  CLI::App* sweep = app.add_subcommand(
      "sweep",
      "model mode over the cartesian product of RX queues x workers x ingress CPUs x placement "
      "x mix x qsize; one JSON and one CSV row per point");
  KnobOptions sweep_knobs;
  ModelArgs sweep_model;
  SweepArgs sweep_args;
  sweep_model.add(*sweep);
  sweep->add_option("--queues", sweep_args.queues, "RX queue counts, e.g. 1,2,4 [default: 2]")
      ->type_name("LIST");
  sweep->add_option("--workers", sweep_args.workers, "worker CPU counts, e.g. 1,2,4,8 [default: 1]")
      ->type_name("LIST");
  sweep->add_option("--ingress", sweep_args.ingress, "ingress CPU counts [default: 1]")
      ->type_name("LIST");
  sweep
      ->add_option("--placement", sweep_args.placement,
                   "placement policies: compact, numa, skip-smt, spread [default: compact]")
      ->type_name("LIST");
  sweep
      ->add_option("--mix", sweep_args.mix,
                   "traffic mixes: uniform, zipf, elephants, syn-flood, single-dst "
                   "[default: uniform]")
      ->type_name("LIST");
  sweep->add_option("--qsize", sweep_args.qsize, "CPUMAP qsizes [default: 2048]")
      ->type_name("LIST");
  sweep_args.point_opt =
      sweep->add_option("--point", sweep_args.point, "run only point I (0-based, see --list)")
          ->type_name("I");
  sweep
      ->add_option("--shard", sweep_args.shard,
                   "run only shard K of N: the points i with i % N == K")
      ->type_name("K/N")
      ->excludes(sweep_args.point_opt);
  sweep
      ->add_option("--out-dir", sweep_args.out_dir,
                   "write DIR/point-NNNN.json and DIR/point-NNNN.csv per point")
      ->type_name("DIR");
  sweep->add_flag("--list", sweep_args.list, "print the points (the selected ones) and exit");
  sweep_knobs.add(*sweep, {"queues", "ingress-cpus", "worker-cpus", "ingress-count", "worker-count",
                           "placement", "mix", "qsize", "json", "csv"});

  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? 0 : 2;
  }

  try {
    if (*model)
      return run_model_command(model_knobs, model_args);
    if (*calib)
      return run_calibrate_command(calib_out, calib_opt);
    if (*sweep)
      return run_sweep_command(sweep_knobs, sweep_model, sweep_args);
    return run_live(live);
  } catch (const std::invalid_argument& e) {
    std::cerr << "xmaps-sim: error: " << e.what() << "\n"
              << "Run with --help for more information.\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "xmaps-sim: error: " << e.what() << "\n";
    return 2;
  }
}
