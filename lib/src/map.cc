// SPDX-License-Identifier: MIT
//
// The byte-level maps behind create_map(): thin adapters from the bpf(2) user-side commands to
// the engines, with the kernel's argument checks in the kernel's order (kernel/bpf/syscall.c:
// map_create, map_lookup_elem, map_update_elem, ...; hashtab.c and arraymap.c alloc checks;
// generic_map_*_batch).
#include "xmaps/map.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "program_fds.h"
#include "xmaps/array_map.h"
#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/detail/hash_table.h"
#include "xmaps/detail/mpmc_ring.h"
#include "xmaps/detail/ring_table.h"
#include "xmaps/errc.h"
#include "xmaps/hash_map.h"

namespace xmaps {

namespace {

using detail::round_up;

// KMALLOC_MAX_SIZE on x86-64 (4 MiB) minus sizeof(struct htab_elem) (48): hashtab's limit.
constexpr std::uint64_t kHtabMaxKeyValue = (4ULL << 20) - 48;
// PCPU_MIN_UNIT_SIZE: the largest per-CPU value (after rounding to 8).
constexpr std::uint64_t kPcpuMaxValue = 32768;

bool is_hash_type(MapType t) {
  return t == MapType::hash || t == MapType::percpu_hash || t == MapType::lru_hash ||
         t == MapType::lru_percpu_hash;
}
bool is_array_type(MapType t) {
  return t == MapType::array || t == MapType::percpu_array;
}

// bpf_map_flags_access_ok().
bool access_ok(std::uint32_t flags) {
  using namespace map_flag;
  return !((flags & kRdonly) != 0 && (flags & kWronly) != 0) &&
         !((flags & kRdonlyProg) != 0 && (flags & kWronlyProg) != 0);
}

int online_numa_nodes() {
  std::ifstream in("/sys/devices/system/node/online");
  std::string line;
  if (in && std::getline(in, line)) {
    const int n = detail::cpu_count_from_list(line);
    if (n > 0)
      return n;
  }
  return 1;
}

// The node a spec asks for, as bpf_map_attr_numa_node(): only with the flag, and -1 = any.
bool numa_node_given(const MapSpec& s) {
  return (s.flags & map_flag::kNumaNode) != 0 && s.numa_node != -1;
}

Errc validate_hash(const MapSpec& s) {
  using namespace map_flag;
  const bool percpu = s.type == MapType::percpu_hash || s.type == MapType::lru_percpu_hash;
  const bool lru = s.type == MapType::lru_hash || s.type == MapType::lru_percpu_hash;
  const bool prealloc = (s.flags & kNoPrealloc) == 0;
  const bool percpu_lru = (s.flags & kNoCommonLru) != 0;
  const bool numa = numa_node_given(s);
  constexpr std::uint32_t kMask = kNoPrealloc | kNoCommonLru | kNumaNode | kAccessMask | kZeroSeed;
  if ((s.flags & ~kMask) != 0 || !access_ok(s.flags))
    return Errc::invalid;
  if (!lru && percpu_lru)
    return Errc::invalid;
  if (lru && !prealloc)
    return Errc::not_supported;
  if (numa && (percpu || percpu_lru))
    return Errc::invalid;
  if (s.max_entries == 0 || s.key_size == 0 || s.value_size == 0)
    return Errc::invalid;
  if (static_cast<std::uint64_t>(s.key_size) + s.value_size >= kHtabMaxKeyValue)
    return Errc::too_big;
  if (percpu && round_up(s.value_size, 8) > kPcpuMaxValue)
    return Errc::too_big;
  // NO_COMMON_LRU rounds max_entries to a multiple of the CPUs before the limit is checked.
  if (detail::effective_max_entries(s.max_entries, percpu_lru, possible_cpus()) > 1U << 31)
    return Errc::too_big;
  return Errc::ok;
}

Errc validate_array(const MapSpec& s) {
  using namespace map_flag;
  const bool percpu = s.type == MapType::percpu_array;
  const bool numa = numa_node_given(s);
  constexpr std::uint32_t kMask = kNumaNode | kMmapable | kAccessMask | kPreserveElems | kInnerMap;
  if (s.max_entries == 0 || s.key_size != 4 || s.value_size == 0 || (s.flags & ~kMask) != 0 ||
      !access_ok(s.flags) || (percpu && numa)) {
    return Errc::invalid;
  }
  if (s.type != MapType::array && (s.flags & (kMmapable | kInnerMap)) != 0)
    return Errc::invalid;
  if ((s.flags & kPreserveElems) != 0)
    return Errc::invalid;  // perf event arrays only
  if (s.value_size > 0x7fffffffU)
    return Errc::too_big;
  if (percpu && round_up(s.value_size, 8) > kPcpuMaxValue)
    return Errc::too_big;
  return Errc::ok;
}

// KMALLOC_MAX_SIZE on x86-64: queue_stack_map_alloc_check's value limit.
constexpr std::uint64_t kKmallocMax = 4ULL << 20;

// queue_stack_map_alloc_check.
Errc validate_queue_stack(const MapSpec& s) {
  using namespace map_flag;
  constexpr std::uint32_t kMask = kNumaNode | kAccessMask;
  if (s.max_entries == 0 || s.key_size != 0 || s.value_size == 0 || (s.flags & ~kMask) != 0 ||
      !access_ok(s.flags)) {
    return Errc::invalid;
  }
  if (s.value_size > kKmallocMax)
    return Errc::too_big;
  return Errc::ok;
}

// NR_CPUS, cpumap's max_entries limit: the running kernel's (kernel_max + 1), but never below
// the possible CPUs xmaps models (a 512-CPU model must be able to have a 512-entry CPUMAP).
std::uint32_t cpumap_entry_limit() noexcept {
  static const std::uint32_t kernel = [] {
    std::ifstream in("/sys/devices/system/cpu/kernel_max");
    std::uint32_t max = 0;
    return in >> max ? max + 1 : CpuMap::kMaxEntries;
  }();
  const auto possible = static_cast<std::uint32_t>(possible_cpus());
  return std::min(CpuMap::kMaxEntries, std::max(kernel, possible));
}

// cpu_map_alloc(): key 4 bytes, value 4 (qsize) or 8 (qsize + program fd), only NUMA_NODE
// among the flags, then the NR_CPUS limit.
Errc validate_cpumap(const MapSpec& s) {
  if (s.max_entries == 0 || s.key_size != 4 || (s.value_size != 4 && s.value_size != 8) ||
      (s.flags & ~map_flag::kNumaNode) != 0) {
    return Errc::invalid;
  }
  if (s.max_entries > cpumap_entry_limit())
    return Errc::too_big;
  return Errc::ok;
}

// ---- the user-side command layer shared by every byte-level map ------------------------------

class MapBase : public Map {
 public:
  using Map::Map;

 protected:
  [[nodiscard]] bool can_read() const { return (spec_.flags & map_flag::kWronly) == 0; }
  [[nodiscard]] bool can_write() const { return (spec_.flags & map_flag::kRdonly) == 0; }

  // Every batch call's elem_flags: only BPF_F_LOCK is known, and it needs a bpf_spin_lock in
  // the value, which xmaps values never have; so any non-zero value is invalid.
  [[nodiscard]] static Errc check_elem_flags(const BatchArgs& a) {
    return a.elem_flags != 0 ? Errc::invalid : Errc::ok;
  }

  // The syscall layer's checks, in its order, before a map type sees the command.
  // map_lookup_elem: unknown flags, read permission, BPF_F_LOCK (no spin lock), the key.
  [[nodiscard]] Errc check_lookup(const void* key, std::uint64_t flags) const {
    if ((flags & ~kElemFlagLock) != 0)
      return Errc::invalid;
    if (!can_read())
      return Errc::permission;
    if (flags != 0)
      return Errc::invalid;
    return key == nullptr ? Errc::fault : Errc::ok;
  }
  // map_update_elem: write permission, BPF_F_LOCK (no spin lock), the key and value.
  [[nodiscard]] Errc check_update(const void* key, const void* value, std::uint64_t flags) const {
    if (!can_write())
      return Errc::permission;
    if ((flags & kElemFlagLock) != 0)
      return Errc::invalid;
    return key == nullptr || value == nullptr ? Errc::fault : Errc::ok;
  }
  // map_lookup_and_delete_elem: unknown flags, read and write permission, BPF_F_LOCK, the key.
  [[nodiscard]] Errc check_lookup_and_erase(const void* key, std::uint64_t flags) const {
    if ((flags & ~kElemFlagLock) != 0)
      return Errc::invalid;
    if (!can_read() || !can_write())
      return Errc::permission;
    if (flags != 0)
      return Errc::invalid;
    return key == nullptr ? Errc::fault : Errc::ok;
  }

  // The u32 index a 4-byte key holds (ARRAY, CPUMAP).
  static std::uint32_t index_of(const void* key) noexcept {
    std::uint32_t index = 0;
    std::memcpy(&index, key, sizeof(index));
    return index;
  }
  // get_next_key of an index-keyed map: the checks, then next(nullptr | &index, next).
  template <class Next>
  Errc next_index(const void* key, void* next_key, Next next) {
    if (!can_read())
      return Errc::permission;
    if (next_key == nullptr)
      return Errc::fault;
    std::uint32_t index = 0;
    if (key != nullptr)
      index = index_of(key);
    std::uint32_t out = 0;
    const Errc err = next(key == nullptr ? nullptr : &index, out);
    if (err == Errc::ok)
      std::memcpy(next_key, &out, sizeof(out));
    return err;
  }

  // generic_map_update_batch / generic_map_delete_batch: a loop of single operations that
  // stops at the first error; count = elements processed.
  template <class Op>
  Errc generic_batch(BatchArgs& a, std::size_t value_bytes, Op op) {
    if (const Errc err = check_elem_flags(a); err != Errc::ok)
      return err;
    if (a.count == 0)
      return Errc::ok;
    if (a.keys == nullptr) {  // the first key's copy_from_user fails: nothing processed
      a.count = 0;
      return Errc::fault;
    }
    const auto* keys = static_cast<const unsigned char*>(a.keys);
    const auto* values = static_cast<const unsigned char*>(a.values);
    Errc err = Errc::ok;
    std::uint32_t done = 0;
    for (; done < a.count; ++done) {
      err = op(keys + static_cast<std::size_t>(done) * spec_.key_size,
               values == nullptr ? nullptr : values + static_cast<std::size_t>(done) * value_bytes);
      if (err != Errc::ok)
        break;
    }
    a.count = done;
    return err;
  }
};

class HashMapRaw final : public MapBase {
 public:
  HashMapRaw(const MapSpec& spec, const detail::HashConfig& cfg) : MapBase(spec), table_(cfg) {
    spec_.max_entries = table_.config().max_entries;  // NO_COMMON_LRU rounding
  }

  std::size_t value_buffer_size() const noexcept override { return table_.user_value_size(); }
  std::size_t batch_token_size() const noexcept override { return sizeof(std::uint32_t); }

  Errc lookup(const void* key, void* value, std::uint64_t flags) override {
    if (const Errc err = check_lookup(key, flags); err != Errc::ok)
      return err;
    detail::MaybeRcu rcu(!prealloc());
    if (value == nullptr) {  // the lookup runs; only the copy-out fails
      return table_.find(key, table_.hash_of(key)) == detail::kNoElem ? Errc::not_found
                                                                      : Errc::fault;
    }
    return table_.copy_value(key, value, detail::Side::user);
  }

  Errc update(const void* key, const void* value, std::uint64_t flags) override {
    if (const Errc err = check_update(key, value, flags); err != Errc::ok)
      return err;
    return table_.update(key, value, flags, detail::Side::user);
  }

  Errc erase(const void* key) override {
    if (!can_write())
      return Errc::permission;
    if (key == nullptr)
      return Errc::fault;
    return table_.erase(key);
  }

  Errc lookup_and_erase(const void* key, void* value, std::uint64_t flags) override {
    if (const Errc err = check_lookup_and_erase(key, flags); err != Errc::ok)
      return err;
    if (value == nullptr) {  // the element is deleted; only the copy-out fails
      const Errc err = table_.erase(key);
      return err == Errc::ok ? Errc::fault : err;
    }
    return table_.erase(key, value, detail::Side::user);
  }

  Errc get_next_key(const void* key, void* next_key) override {
    if (!can_read())
      return Errc::permission;
    if (next_key == nullptr)
      return Errc::fault;
    detail::MaybeRcu rcu(!prealloc());
    return table_.get_next_key(key, next_key);
  }

  Errc lookup_batch(BatchArgs& a) override {
    if (!can_read())
      return Errc::permission;
    return bucket_batch(a, false);
  }
  Errc lookup_and_erase_batch(BatchArgs& a) override {
    if (!can_read() || !can_write())
      return Errc::permission;
    return bucket_batch(a, true);
  }
  Errc update_batch(BatchArgs& a) override {
    if (!can_write())
      return Errc::permission;
    return generic_batch(a, table_.user_value_size(), [&](const void* k, const void* v) {
      return v == nullptr ? Errc::fault : table_.update(k, v, 0, detail::Side::user);
    });
  }
  Errc erase_batch(BatchArgs& a) override {
    if (!can_write())
      return Errc::permission;
    return generic_batch(a, 0, [&](const void* k, const void*) { return table_.erase(k); });
  }

  void* lookup_elem(const void* key) noexcept override {
    detail::MaybeRcu rcu(!prealloc());
    const std::uint32_t i = table_.find(key, table_.hash_of(key));
    if (i == detail::kNoElem)
      return nullptr;
    table_.mark_referenced(i);  // a datapath lookup: LRU maps set the reference bit
    return table_.value_ptr(i, table_.config().percpu ? current_cpu() : 0);
  }
  Errc update_elem(const void* key, const void* value, std::uint64_t flags) noexcept override {
    return table_.update(key, value, flags, detail::Side::program);
  }
  Errc delete_elem(const void* key) noexcept override { return table_.erase(key); }
  void* lookup_percpu_elem(const void* key, std::uint32_t cpu) noexcept override {
    if (!table_.config().percpu || cpu >= static_cast<std::uint32_t>(table_.ncpus()))
      return nullptr;
    detail::MaybeRcu rcu(!prealloc());
    const std::uint32_t i = table_.find(key, table_.hash_of(key));
    if (i == detail::kNoElem)
      return nullptr;
    table_.mark_referenced(i);
    return table_.value_ptr(i, static_cast<int>(cpu));
  }

 private:
  [[nodiscard]] bool prealloc() const noexcept { return table_.config().prealloc; }

  // __htab_map_lookup_and_delete_batch: argument checks, then the engine's bucket walk.
  Errc bucket_batch(BatchArgs& a, bool do_delete) {
    if (const Errc err = check_elem_flags(a); err != Errc::ok)
      return err;
    if (a.flags != 0)
      return Errc::invalid;
    if (a.count == 0)
      return Errc::ok;
    const std::uint32_t max_count = a.count;
    a.count = 0;
    std::uint32_t batch = 0;
    if (a.in_batch != nullptr)
      std::memcpy(&batch, a.in_batch, sizeof(batch));
    if (batch >= table_.n_buckets())
      return Errc::not_found;  // out_batch untouched
    std::uint32_t count = 0;
    const Errc err =
        table_.lookup_batch(batch, max_count, count, static_cast<unsigned char*>(a.keys),
                            static_cast<unsigned char*>(a.values), do_delete);
    // As the kernel: a failed copy-out leaves count at 0; the out_batch copy comes first.
    if (err == Errc::fault || a.out_batch == nullptr)
      return Errc::fault;
    std::memcpy(a.out_batch, &batch, sizeof(batch));
    a.count = count;
    return err;
  }

  detail::HashTable table_;
};

class ArrayMapRaw final : public MapBase {
 public:
  ArrayMapRaw(const MapSpec& spec, const detail::ArrayConfig& cfg) : MapBase(spec), table_(cfg) {}

  std::size_t value_buffer_size() const noexcept override { return table_.user_value_size(); }
  std::size_t batch_token_size() const noexcept override { return sizeof(std::uint32_t); }

  Errc lookup(const void* key, void* value, std::uint64_t flags) override {
    if (const Errc err = check_lookup(key, flags); err != Errc::ok)
      return err;
    if (value == nullptr)
      return Errc::fault;
    return table_.copy(index_of(key), value, detail::ArraySide::user);
  }
  Errc update(const void* key, const void* value, std::uint64_t flags) override {
    if (const Errc err = check_update(key, value, flags); err != Errc::ok)
      return err;
    return table_.update(index_of(key), value, flags, detail::ArraySide::user);
  }
  Errc erase(const void* key) override {
    if (!can_write())
      return Errc::permission;
    if (key == nullptr)
      return Errc::fault;
    return Errc::invalid;  // array elements always exist
  }
  Errc lookup_and_erase(const void* key, void* /*value*/, std::uint64_t flags) override {
    if (const Errc err = check_lookup_and_erase(key, flags); err != Errc::ok)
      return err;
    return Errc::not_supported;
  }
  Errc get_next_key(const void* key, void* next_key) override {
    return next_index(key, next_key, [&](const std::uint32_t* k, std::uint32_t& next) {
      return table_.get_next_key(k, &next);
    });
  }

  // generic_map_lookup_batch: a get_next_key walk; the token is the last key returned.
  Errc lookup_batch(BatchArgs& a) override {
    if (!can_read())
      return Errc::permission;
    if (const Errc err = check_elem_flags(a); err != Errc::ok)
      return err;
    if (a.count == 0)
      return Errc::ok;
    const std::uint32_t max_count = a.count;
    a.count = 0;
    if (a.keys == nullptr || a.values == nullptr)
      return Errc::fault;
    std::uint32_t prev = 0;
    bool have_prev = false;
    if (a.in_batch != nullptr) {
      std::memcpy(&prev, a.in_batch, sizeof(prev));
      have_prev = true;
    }
    const std::size_t vsize = table_.user_value_size();
    auto* keys = static_cast<unsigned char*>(a.keys);
    auto* values = static_cast<unsigned char*>(a.values);
    Errc err = Errc::ok;
    std::uint32_t done = 0;
    while (done < max_count) {
      std::uint32_t key = 0;
      err = table_.get_next_key(have_prev ? &prev : nullptr, &key);
      if (err != Errc::ok)
        break;
      err = table_.copy(key, values + static_cast<std::size_t>(done) * vsize,
                        detail::ArraySide::user);
      if (err != Errc::ok)
        break;
      std::memcpy(keys + static_cast<std::size_t>(done) * sizeof(key), &key, sizeof(key));
      prev = key;
      have_prev = true;
      ++done;
    }
    a.count = done;
    if (done > 0) {
      if (a.out_batch == nullptr)
        return Errc::fault;
      std::memcpy(a.out_batch, &prev, sizeof(prev));
    }
    return err;
  }
  Errc lookup_and_erase_batch(BatchArgs& /*a*/) override {
    if (!can_read() || !can_write())
      return Errc::permission;
    return Errc::not_supported;
  }
  Errc update_batch(BatchArgs& a) override {
    if (!can_write())
      return Errc::permission;
    return generic_batch(a, table_.user_value_size(), [&](const void* k, const void* v) {
      return v == nullptr ? Errc::fault : table_.update(index_of(k), v, 0, detail::ArraySide::user);
    });
  }
  Errc erase_batch(BatchArgs& /*a*/) override {
    if (!can_write())
      return Errc::permission;
    return Errc::not_supported;
  }

  void* lookup_elem(const void* key) noexcept override {
    return table_.slot(index_of(key), table_.config().percpu ? current_cpu() : 0);
  }
  Errc update_elem(const void* key, const void* value, std::uint64_t flags) noexcept override {
    return table_.update(index_of(key), value, flags, detail::ArraySide::program);
  }
  Errc delete_elem(const void* /*key*/) noexcept override { return Errc::invalid; }
  void* lookup_percpu_elem(const void* key, std::uint32_t cpu) noexcept override {
    if (!table_.config().percpu || cpu >= static_cast<std::uint32_t>(table_.ncpus()))
      return nullptr;
    return table_.slot(index_of(key), static_cast<int>(cpu));
  }

 private:
  detail::ArrayTable table_;
};

// Map types with no batch operations and no keyed program-side helpers (QUEUE, STACK,
// CPUMAP): bpf_map_do_batch's permission checks, then -ENOTSUPP; a program's
// bpf_map_lookup_elem is refused by the verifier, update and delete ops return -EINVAL.
class UnbatchedMapBase : public MapBase {
 public:
  using MapBase::MapBase;

  Errc lookup_batch(BatchArgs& /*a*/) override {
    return can_read() ? Errc::not_supported : Errc::permission;
  }
  Errc lookup_and_erase_batch(BatchArgs& /*a*/) override {
    return can_read() && can_write() ? Errc::not_supported : Errc::permission;
  }
  Errc update_batch(BatchArgs& /*a*/) override {
    return can_write() ? Errc::not_supported : Errc::permission;
  }
  Errc erase_batch(BatchArgs& /*a*/) override {
    return can_write() ? Errc::not_supported : Errc::permission;
  }
  void* lookup_elem(const void* /*key*/) noexcept override { return nullptr; }
  Errc update_elem(const void* /*key*/, const void* /*value*/,
                   std::uint64_t /*flags*/) noexcept override {
    return Errc::invalid;
  }
  Errc delete_elem(const void* /*key*/) noexcept override { return Errc::invalid; }
  void* lookup_percpu_elem(const void* /*key*/, std::uint32_t /*cpu*/) noexcept override {
    return nullptr;
  }
};

// QUEUE / STACK: no keys (every key pointer must be null), the syscall layer's checks in its
// order (map_lookup_elem, map_update_elem, map_lookup_and_delete_elem, ...), and no batch ops.
// Engine: detail::MpmcRing (QUEUE) or detail::RingTable (STACK).
template <class Engine>
class QueueStackRaw final : public UnbatchedMapBase {
 public:
  template <class... Args>
  QueueStackRaw(const MapSpec& spec, Args... engine_args)
      : UnbatchedMapBase(spec), table_(engine_args...) {}

  std::size_t value_buffer_size() const noexcept override { return spec_.value_size; }
  std::size_t batch_token_size() const noexcept override { return 0; }

  // peek. The key must be null (key_size 0: __bpf_copy_key refuses a pointer).
  Errc lookup(const void* key, void* value, std::uint64_t flags) override {
    if ((flags & ~kElemFlagLock) != 0)
      return Errc::invalid;
    if (!can_read())
      return Errc::permission;
    if (flags != 0 || key != nullptr)
      return Errc::invalid;
    const Errc err = table_.peek(value, /*zero_on_empty=*/false);
    return err == Errc::ok && value == nullptr ? Errc::fault : err;
  }
  // push.
  Errc update(const void* key, const void* value, std::uint64_t flags) override {
    if (!can_write())
      return Errc::permission;
    if ((flags & kElemFlagLock) != 0 || key != nullptr)
      return Errc::invalid;
    if (value == nullptr)
      return Errc::fault;
    return table_.push(value, flags);
  }
  Errc erase(const void* /*key*/) override {
    return can_write() ? Errc::invalid : Errc::permission;
  }
  // pop. A null value still pops: only the copy-out fails.
  Errc lookup_and_erase(const void* key, void* value, std::uint64_t flags) override {
    if ((flags & ~kElemFlagLock) != 0)
      return Errc::invalid;
    if (!can_read() || !can_write())
      return Errc::permission;
    if (flags != 0 || key != nullptr)
      return Errc::invalid;
    const Errc err = table_.pop(value, /*zero_on_empty=*/false);
    return err == Errc::ok && value == nullptr ? Errc::fault : err;
  }
  Errc get_next_key(const void* /*key*/, void* /*next_key*/) override {
    return can_read() ? Errc::invalid : Errc::permission;
  }
  Errc push_elem(const void* value, std::uint64_t flags) noexcept override {
    return table_.push(value, flags);
  }
  Errc pop_elem(void* value) noexcept override { return table_.pop(value); }
  Errc peek_elem(void* value) noexcept override { return table_.peek(value); }

 private:
  Engine table_;
};

// CPUMAP: kernel/bpf/cpumap.c's syscall side over a CpuMap. Values are struct bpf_cpumap_val:
// {u32 qsize; u32 prog fd (update) / prog id (lookup)}, or qsize alone (value_size 4). A
// second program is given by a descriptor from xmaps::bpf_program_fd() (xmaps/bpf.h); any
// other positive fd fails as the kernel fails for a bad fd (the entry cannot be made: ENOMEM).
class CpuMapRaw final : public UnbatchedMapBase {
 public:
  explicit CpuMapRaw(const MapSpec& spec) : UnbatchedMapBase(spec), map_(spec.max_entries) {}

  std::size_t value_buffer_size() const noexcept override { return spec_.value_size; }
  std::size_t batch_token_size() const noexcept override { return sizeof(std::uint32_t); }

  Errc lookup(const void* key, void* value, std::uint64_t flags) override {
    if (const Errc err = check_lookup(key, flags); err != Errc::ok)
      return err;
    CpuMapValue v;
    if (const Errc err = map_.lookup(index_of(key), v); err != Errc::ok)
      return err;
    if (value == nullptr)
      return Errc::fault;
    const std::uint32_t words[2] = {v.qsize, v.prog_id};
    std::memcpy(value, words, spec_.value_size);
    return Errc::ok;
  }
  Errc update(const void* key, const void* value, std::uint64_t flags) override {
    if (const Errc err = check_update(key, value, flags); err != Errc::ok)
      return err;
    std::uint32_t words[2] = {0, 0};
    std::memcpy(words, value, spec_.value_size);
    const std::uint32_t index = index_of(key);
    // cpu_map_update_elem()'s order; the program fd is looked at only when the entry is made.
    if (flags > static_cast<std::uint64_t>(UpdateFlag::exist))
      return Errc::invalid;
    if (index >= spec_.max_entries)
      return Errc::too_big;
    if (flags == static_cast<std::uint64_t>(UpdateFlag::no_exist))
      return Errc::exists;
    if (words[0] > CpuMap::kMaxQsize)
      return Errc::overflow;
    if (index >= static_cast<std::uint32_t>(possible_cpus()))
      return Errc::no_device;
    std::shared_ptr<const XdpProgram> second;
    if (words[0] != 0 && static_cast<std::int32_t>(words[1]) > 0) {
      second = detail::program_of_fd(static_cast<int>(words[1]));
      if (second == nullptr)
        return Errc::no_memory;  // not a program's fd: the kernel cannot make the entry either
    }
    return map_.update(index, words[0], std::move(second), flags);
  }
  Errc erase(const void* key) override {
    if (!can_write())
      return Errc::permission;
    if (key == nullptr)
      return Errc::fault;
    return map_.erase(index_of(key));
  }
  Errc lookup_and_erase(const void* key, void* /*value*/, std::uint64_t flags) override {
    if (const Errc err = check_lookup_and_erase(key, flags); err != Errc::ok)
      return err;
    return Errc::not_supported;
  }
  Errc get_next_key(const void* key, void* next_key) override {
    return next_index(key, next_key, [&](const std::uint32_t* k, std::uint32_t& next) {
      return map_.get_next_key(k, next);
    });
  }
  CpuMap* cpu_map() noexcept override { return &map_; }

 private:
  CpuMap map_;
};
}  // namespace

// The helpers only QUEUE and STACK have.
Errc Map::push_elem(const void* /*value*/, std::uint64_t /*flags*/) noexcept {
  return Errc::invalid;
}
Errc Map::pop_elem(void* /*value*/) noexcept {
  return Errc::invalid;
}
Errc Map::peek_elem(void* /*value*/) noexcept {
  return Errc::invalid;
}

Errc validate(const MapSpec& spec) noexcept {
  if ((spec.flags & map_flag::kRdonly) != 0 && (spec.flags & map_flag::kWronly) != 0) {
    return Errc::invalid;  // bpf_get_file_flag()
  }
  // bpf_map_attr_numa_node(): with the flag, -1 still means NUMA_NO_NODE.
  if (numa_node_given(spec) && spec.numa_node >= online_numa_nodes())
    return Errc::invalid;
  if (numa_node_given(spec) && spec.numa_node < -1)
    return Errc::invalid;
  if (is_hash_type(spec.type))
    return validate_hash(spec);
  if (is_array_type(spec.type))
    return validate_array(spec);
  if (spec.type == MapType::queue || spec.type == MapType::stack)
    return validate_queue_stack(spec);
  if (spec.type == MapType::cpumap)
    return validate_cpumap(spec);
  return Errc::invalid;  // map types xmaps does not have
}

std::unique_ptr<Map> create_map(const MapSpec& spec, Errc* error) {
  Errc err = validate(spec);
  std::unique_ptr<Map> map;
  if (err == Errc::ok) {
    try {
      if (is_hash_type(spec.type)) {
        detail::HashConfig cfg;
        cfg.key_size = spec.key_size;
        cfg.value_size = spec.value_size;
        cfg.max_entries = spec.max_entries;
        cfg.percpu = spec.type == MapType::percpu_hash || spec.type == MapType::lru_percpu_hash;
        cfg.prealloc = (spec.flags & map_flag::kNoPrealloc) == 0;
        cfg.zero_seed = (spec.flags & map_flag::kZeroSeed) != 0;
        cfg.lru = spec.type == MapType::lru_hash || spec.type == MapType::lru_percpu_hash;
        cfg.lru_percpu_lists = (spec.flags & map_flag::kNoCommonLru) != 0;
        map = std::make_unique<HashMapRaw>(spec, cfg);
      } else if (is_array_type(spec.type)) {
        map = std::make_unique<ArrayMapRaw>(
            spec, detail::ArrayConfig{spec.value_size, spec.max_entries,
                                      spec.type == MapType::percpu_array});
      } else if (spec.type == MapType::queue) {
        map = std::make_unique<QueueStackRaw<detail::MpmcRing>>(spec, spec.value_size,
                                                                spec.max_entries);
      } else if (spec.type == MapType::stack) {
        map = std::make_unique<QueueStackRaw<detail::RingTable>>(
            spec, spec.value_size, spec.max_entries, detail::RingOrder::lifo);
      } else if (spec.type == MapType::cpumap) {
        map = std::make_unique<CpuMapRaw>(spec);
      } else {
        err = Errc::invalid;
      }
    } catch (const std::bad_alloc&) {
      err = Errc::no_memory;
    } catch (const std::invalid_argument&) {
      err = Errc::too_big;  // sizes the engine cannot index (beyond the kernel's own limits)
    }
  }
  if (error != nullptr)
    *error = err;
  return map;
}

}  // namespace xmaps
