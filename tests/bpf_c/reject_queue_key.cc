// SPDX-License-Identifier: MIT
// Must not compile: a QUEUE with a key type (tests/CMakeLists.txt checks the message).
#include <xmaps/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} keyed_queue SEC(".maps");

int main() {
  __u64 v = 1;
  return static_cast<int>(bpf_map_push_elem(&keyed_queue, &v, 0));
}
