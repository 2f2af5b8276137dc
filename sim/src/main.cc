// SPDX-License-Identifier: MIT
//
// xmaps-sim: runs a traffic scenario through RSS, the ingress CPUs' first program, the CPUMAP
// and the workers' second program with real pinned threads, and reports what happened
// (xmaps/sim/pipeline.h, xmaps/sim/report.h). Every scenario knob is an option
// (xmaps/sim/scenario.h); --config FILE loads a JSON or TOML file of them first, and the
// options given on the command line override it.
//
// Exit status: 0 when the run conserved every frame, 1 when it did not, 2 for bad input
// (unknown options, values out of range, impossible CPU sets, unreadable files).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>

#include "xmaps/sim/pipeline.h"
#include "xmaps/sim/report.h"
#include "xmaps/sim/scenario.h"

namespace {

constexpr const char* kDescription =
    "xmaps-sim: a traffic simulator for xmaps' CPUMAP. Generated (or replayed) frames are spread\n"
    "over RX queues by RSS, an XDP-style first program on each ingress CPU redirects them\n"
    "through the CPUMAP to worker CPUs, a second program (per-flow accounting in an LRU hash)\n"
    "runs there, and the summary shows throughput, drops by reason, latency, per-queue,\n"
    "per-CPU and LRU figures, and the conservation check. Without options it runs a\n"
    "2-second demo on this machine.";

}  // namespace

int main(int argc, char** argv) {
  using xmaps::sim::KnobInfo;
  CLI::App app(kDescription, "xmaps-sim");
  app.get_formatter()->column_width(34);
  std::string config;
  app.add_option("--config", config,
                 "scenario file: JSON (.json) or TOML (.toml) with the options below as keys "
                 "(e.g. {\"mix\": \"zipf\", \"queues\": 4}); options on the command line win")
      ->type_name("FILE");
  const xmaps::sim::Scenario defaults;
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  std::map<std::string, CLI::Option*> options;
  for (const KnobInfo& k : xmaps::sim::scenario_knobs()) {
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
                           : "TEXT");
      }
      options[k.name] = o;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? 0 : 2;
  }

  try {
    xmaps::sim::Scenario s;
    if (!config.empty())
      s = xmaps::sim::load_scenario(config, s);
    for (const KnobInfo& k : xmaps::sim::scenario_knobs()) {
      if (options[k.name]->count() == 0)
        continue;
      if (k.kind == KnobInfo::Kind::boolean)
        xmaps::sim::set_knob(s, k.name, flags[k.name] ? "true" : "false");
      else
        xmaps::sim::set_knob(s, k.name, values[k.name]);
    }
    // --packets alone: send them all, however long it takes.
    if (options["packets"]->count() != 0 && options["duration"]->count() == 0 && config.empty())
      s.duration_s = 0;

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
    if (!r.scenario.json_out.empty())
      xmaps::sim::write_file(r.scenario.json_out, xmaps::sim::to_json(r) + "\n");
    if (!r.scenario.csv_out.empty())
      xmaps::sim::write_file(r.scenario.csv_out, xmaps::sim::to_csv(r));
    if (!r.conserved) {
      std::cerr << "xmaps-sim: conservation failed: " << r.conservation << "\n";
      return 1;
    }
    return 0;
  } catch (const std::invalid_argument& e) {
    std::cerr << "xmaps-sim: error: " << e.what() << "\n"
              << "Run with --help for more information.\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "xmaps-sim: error: " << e.what() << "\n";
    return 2;
  }
}
