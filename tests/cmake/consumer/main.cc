// SPDX-License-Identifier: MIT
// Uses xmaps through find_package(xmaps): a hash map round trip and a topology discovery.
#include <cstdint>
#include <cstdio>

#include "xmaps/errc.h"
#include "xmaps/hash_map.h"
#include "xmaps/topology.h"

int main() {
  xmaps::HashMap<std::uint32_t, std::uint64_t> m(16);
  if (const xmaps::Errc e = m.update(7, 42); e != xmaps::Errc::ok) {
    std::fprintf(stderr, "update: %s\n", xmaps::to_string(e).data());
    return 1;
  }
  const std::uint64_t* value = m.lookup(7);
  if (value == nullptr || *value != 42) {
    std::fprintf(stderr, "lookup(7) did not return 42\n");
    return 1;
  }
  if (m.lookup(8) != nullptr) {
    std::fprintf(stderr, "lookup(8) found a key never inserted\n");
    return 1;
  }
  const auto topology = xmaps::topology::Topology::discover();
  if (topology.cpus().empty()) {
    std::fprintf(stderr, "topology: no CPUs\n");
    return 1;
  }
  std::printf("xmaps consumer ok: %s\n", topology.description().c_str());
  return 0;
}
