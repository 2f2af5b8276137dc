// SPDX-License-Identifier: MIT
//
// The kernel's vocabulary for map operations: error codes, update flags, map types and
// map-creation flags. Every numeric value equals the one in <linux/bpf.h> / <errno.h>, so a
// differential test can compare xmaps with the kernel's bpf(2) results directly.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string_view>

namespace xmaps {

// Result of a map operation. Values are the kernel's errno values (positive).
enum class Errc : int {
  ok = 0,
  permission = EPERM,    // map opened read-only / write-only for this side
  not_found = ENOENT,    // missing key; pop or peek on empty; batch walked past the end
  too_big = E2BIG,       // no free element for a new key; index out of range (array update)
  no_memory = ENOMEM,    // allocation failed (NO_PREALLOC), or LRU found no node at all
  fault = EFAULT,        // a required key or buffer is missing
  busy = EBUSY,          // a bucket lock re-entered by the thread that holds it
  exists = EEXIST,       // update(no_exist) of a present key
  invalid = EINVAL,      // unknown flag combination; operation the map type does not have
  no_space = ENOSPC,     // batch: the first bucket does not fit in the caller's count
  overflow = EOVERFLOW,  // value out of range (cpumap qsize > 16384)
  no_device = ENODEV,    // cpumap: the key is not a possible CPU
  not_supported = 524,   // the kernel's internal ENOTSUPP (LRU + NO_PREALLOC, array delete batch)
};

constexpr std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::permission: return "permission denied (EPERM)";
    case Errc::not_found: return "not found (ENOENT)";
    case Errc::too_big: return "map full or index out of range (E2BIG)";
    case Errc::no_memory: return "out of memory (ENOMEM)";
    case Errc::fault: return "bad address (EFAULT)";
    case Errc::busy: return "busy (EBUSY)";
    case Errc::exists: return "exists (EEXIST)";
    case Errc::invalid: return "invalid argument (EINVAL)";
    case Errc::no_space: return "no space (ENOSPC)";
    case Errc::overflow: return "value too large (EOVERFLOW)";
    case Errc::no_device: return "no such device (ENODEV)";
    case Errc::not_supported: return "not supported (ENOTSUPP)";
  }
  return "unknown error";
}

// Update flags, as BPF_ANY / BPF_NOEXIST / BPF_EXIST. Any other value is rejected with
// Errc::invalid (the byte-level API takes the raw 64-bit flags word, as bpf(2) does).
enum class UpdateFlag : std::uint64_t {
  any = 0,       // BPF_ANY: create or replace
  no_exist = 1,  // BPF_NOEXIST: create only
  exist = 2,     // BPF_EXIST: replace only
};

// Map types that xmaps implements, numbered as enum bpf_map_type.
enum class MapType : std::uint32_t {
  hash = 1,              // BPF_MAP_TYPE_HASH
  array = 2,             // BPF_MAP_TYPE_ARRAY
  percpu_hash = 5,       // BPF_MAP_TYPE_PERCPU_HASH
  percpu_array = 6,      // BPF_MAP_TYPE_PERCPU_ARRAY
  lru_hash = 9,          // BPF_MAP_TYPE_LRU_HASH
  lru_percpu_hash = 10,  // BPF_MAP_TYPE_LRU_PERCPU_HASH
  cpumap = 16,           // BPF_MAP_TYPE_CPUMAP
  queue = 22,            // BPF_MAP_TYPE_QUEUE
  stack = 23,            // BPF_MAP_TYPE_STACK
};

// Map-creation flags, as the BPF_F_* bits of bpf_attr.map_flags.
namespace map_flag {
inline constexpr std::uint32_t kNoPrealloc = 1U << 0;   // BPF_F_NO_PREALLOC
inline constexpr std::uint32_t kNoCommonLru = 1U << 1;  // BPF_F_NO_COMMON_LRU
inline constexpr std::uint32_t kNumaNode = 1U << 2;     // BPF_F_NUMA_NODE
inline constexpr std::uint32_t kRdonly = 1U << 3;       // BPF_F_RDONLY (user side may only read)
inline constexpr std::uint32_t kWronly = 1U << 4;       // BPF_F_WRONLY (user side may only write)
inline constexpr std::uint32_t kZeroSeed = 1U << 6;     // BPF_F_ZERO_SEED (hash seed 0)
inline constexpr std::uint32_t kRdonlyProg = 1U << 7;   // BPF_F_RDONLY_PROG
inline constexpr std::uint32_t kWronlyProg = 1U << 8;   // BPF_F_WRONLY_PROG
inline constexpr std::uint32_t kMmapable = 1U << 10;    // BPF_F_MMAPABLE (arrays only)
inline constexpr std::uint32_t kPreserveElems = 1U << 11;  // BPF_F_PRESERVE_ELEMS (perf arrays)
inline constexpr std::uint32_t kInnerMap = 1U << 12;       // BPF_F_INNER_MAP (arrays only)
inline constexpr std::uint32_t kAccessMask = kRdonly | kWronly | kRdonlyProg | kWronlyProg;
}  // namespace map_flag

// BPF_F_LOCK: element flag of lookup/update/batch calls. xmaps values carry no bpf_spin_lock,
// so, as on the kernel for such maps, a call that passes it fails with Errc::invalid.
inline constexpr std::uint64_t kElemFlagLock = 4;

}  // namespace xmaps
