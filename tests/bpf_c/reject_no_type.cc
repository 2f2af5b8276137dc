// SPDX-License-Identifier: MIT
// Must not compile: a map definition without __uint(type, ...) (tests/CMakeLists.txt checks
// the message).
#include <xmaps/bpf_helpers.h>

struct {
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} no_type SEC(".maps");

int main() {
  const __u32 k = 0;
  return bpf_map_lookup_elem(&no_type, &k) ? 0 : 1;
}
