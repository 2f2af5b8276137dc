// SPDX-License-Identifier: MIT
// xmaps-sim: until the traffic simulator exists, runs the map demo (xmaps/sim/demo.h) and
// prints what it did. Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage.
#include <charconv>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "xmaps/sim/demo.h"

namespace {

constexpr const char* kUsage =
    "usage: xmaps-sim [--seed N] [--threads N] [--packets N] [--flows N] [--flow-space N]\n"
    "  --seed N        RNG seed (default 1); the same seed sends the same packets\n"
    "  --threads N     worker threads, each bound to a CPU id (default 2, max 64)\n"
    "  --packets N     packets per thread (default 2000)\n"
    "  --flows N       flow table max_entries (default 1024)\n"
    "  --flow-space N  distinct flows drawn from (default 1536; > --flows gives E2BIG)\n";

template <class T>
bool parse_number(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

}  // namespace

int main(int argc, char** argv) {
  xmaps::sim::DemoOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "xmaps-sim: " << arg << " needs a value\n" << kUsage;
      return 2;
    }
    const std::string_view value = argv[++i];
    bool ok = false;
    if (arg == "--seed") {
      ok = parse_number(value, options.seed);
    } else if (arg == "--threads") {
      ok = parse_number(value, options.threads);
    } else if (arg == "--packets") {
      ok = parse_number(value, options.packets_per_thread);
    } else if (arg == "--flows") {
      ok = parse_number(value, options.flow_capacity);
    } else if (arg == "--flow-space") {
      ok = parse_number(value, options.flow_space);
    } else {
      std::cerr << "xmaps-sim: unknown option " << arg << "\n" << kUsage;
      return 2;
    }
    if (!ok) {
      std::cerr << "xmaps-sim: bad number '" << value << "' for " << arg << "\n";
      return 2;
    }
  }
  try {
    const xmaps::sim::DemoReport report = xmaps::sim::run_demo(options);
    std::cout << xmaps::sim::format_report(report);
    return report.failures().empty() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "xmaps-sim: " << e.what() << "\n";
    return 2;
  }
}
