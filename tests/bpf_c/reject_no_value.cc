// SPDX-License-Identifier: MIT
// Must not compile: a map definition without __type(value, ...) or __uint(value_size, ...)
// (tests/CMakeLists.txt checks the message).
#include <xmaps/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, __u32);
} no_value SEC(".maps");

int main() {
  const __u32 k = 0;
  return bpf_map_lookup_elem(&no_value, &k) ? 0 : 1;
}
