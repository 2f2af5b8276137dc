// SPDX-License-Identifier: MIT
// Must not compile: bpf_redirect_map() into a map that is not a CPUMAP (a DEVMAP, which the
// kernel takes but xmaps does not have; tests/CMakeLists.txt checks the message).
#include <xmaps/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} tx_ports SEC(".maps");

int xdp_redirect_port(struct xdp_md* ctx) {
  return static_cast<int>(bpf_redirect_map(&tx_ports, ctx->rx_queue_index, XDP_PASS));
}

int main() {
  return xdp_redirect_port(nullptr);
}
