// SPDX-License-Identifier: MIT
//
// Every constant that xmaps/detail/linux_bpf.h defines when <linux/bpf.h> is missing
// (xmaps/detail/linux_bpf_values.h) has the header's value: checked at compile time here, in a
// translation unit that has the header, and at run time by bpf_c_fallback_test.cc (linked with
// this file), which compares the fallback's definitions with header_values().
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "xmaps/detail/linux_bpf.h"
#include "xmaps/detail/linux_bpf_values.h"

static_assert(XMAPS_LINUX_BPF_FALLBACK == 0, "this file checks the fallback against the header");

#define XMAPS_CHECK_VALUE(name, value) \
  static_assert(static_cast<long long>(name) == static_cast<long long>(value), #name);
XMAPS_LINUX_BPF_MAP_TYPES(XMAPS_CHECK_VALUE)
XMAPS_LINUX_BPF_ELEM_FLAGS(XMAPS_CHECK_VALUE)
XMAPS_LINUX_BPF_MAP_FLAGS(XMAPS_CHECK_VALUE)
XMAPS_LINUX_BPF_XDP_ACTIONS(XMAPS_CHECK_VALUE)
#undef XMAPS_CHECK_VALUE

static_assert(sizeof(bpf_cpumap_val) == XMAPS_LINUX_BPF_CPUMAP_VAL_SIZE);
static_assert(offsetof(bpf_cpumap_val, bpf_prog) == XMAPS_LINUX_BPF_CPUMAP_VAL_PROG_OFFSET);
static_assert(sizeof(bpf_cpumap_val::bpf_prog) == 4);
// The fallback's integer types are these (a function taking __u64 must mangle the same way).
static_assert(std::is_same_v<__u8, unsigned char> && std::is_same_v<__s8, signed char>);
static_assert(std::is_same_v<__u16, unsigned short> && std::is_same_v<__s16, short>);
static_assert(std::is_same_v<__u32, unsigned int> && std::is_same_v<__s32, int>);
static_assert(std::is_same_v<__u64, unsigned long long> && std::is_same_v<__s64, long long>);
static_assert(std::is_same_v<__be16, __u16> && std::is_same_v<__be32, __u32> &&
              std::is_same_v<__be64, __u64>);

namespace xmaps::testing {

// The header's values of every name in the tables, in table order.
std::vector<std::pair<std::string, long long>> header_values() {
  std::vector<std::pair<std::string, long long>> out;
#define XMAPS_HEADER_VALUE(name, value) out.emplace_back(#name, static_cast<long long>(name));
  XMAPS_LINUX_BPF_MAP_TYPES(XMAPS_HEADER_VALUE)
  XMAPS_LINUX_BPF_ELEM_FLAGS(XMAPS_HEADER_VALUE)
  XMAPS_LINUX_BPF_MAP_FLAGS(XMAPS_HEADER_VALUE)
  XMAPS_LINUX_BPF_XDP_ACTIONS(XMAPS_HEADER_VALUE)
#undef XMAPS_HEADER_VALUE
  return out;
}

}  // namespace xmaps::testing
