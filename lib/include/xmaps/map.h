// SPDX-License-Identifier: MIT
//
// Map: the byte-level face of every xmaps map, with runtime key and value sizes and the
// user-side (syscall) semantics of bpf(2): the same argument checks, the same errno values, the
// same buffer layouts. The typed maps (HashMap<K, V>, ArrayMap<V>, ...) run on the same engines;
// this interface is what the libbpf-style layer and the kernel differential tests use.
//
// Buffer layouts, as the kernel's:
//   key:   key_size bytes (QUEUE and STACK have none: key_size 0, and every key pointer must be
//          null; their lookup = peek, lookup_and_erase = pop, update = push; erase and
//          get_next_key are Errc::invalid, the batch calls Errc::not_supported).
//   value: value_size bytes; for per-CPU maps possible_cpus() slots of round_up(value_size, 8)
//          bytes each (value_buffer_size()), padding included: it is stored and returned as
//          written.
//   batch: keys packed at key_size stride, values at value_buffer_size() stride. The batch
//          token (in_batch/out_batch) is opaque, batch_token_size() bytes: a u32 bucket index
//          for hash maps, the last key for arrays.
//
// Thread safety: every operation may run concurrently with every other, on any thread.
// create_map() and the destructor may not race with operations on the same map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "xmaps/errc.h"

namespace xmaps {

class CpuMap;

// What bpf_map_create() takes.
struct MapSpec {
  MapType type = MapType::hash;
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  std::uint32_t max_entries = 0;
  std::uint32_t flags = 0;  // map_flag::k*
  int numa_node = -1;       // with map_flag::kNumaNode; -1 = any node
};

// In/out arguments of the batch calls, as bpf_attr.batch.
struct BatchArgs {
  const void* in_batch = nullptr;  // nullptr = start from the beginning
  void* out_batch = nullptr;       // written on return (hash maps: always; arrays: if count > 0)
  void* keys = nullptr;            // count * key_size bytes
  void* values = nullptr;          // count * value_buffer_size() bytes
  std::uint32_t count = 0;         // in: capacity of keys/values; out: elements processed
  std::uint64_t elem_flags = 0;    // BPF_F_LOCK only; rejected (no spin locks in xmaps values)
  std::uint64_t flags = 0;         // must be 0
};

class Map {
 public:
  virtual ~Map() = default;
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;
  Map(Map&&) = delete;
  Map& operator=(Map&&) = delete;

  [[nodiscard]] const MapSpec& spec() const noexcept { return spec_; }
  // max_entries as the map really has it (NO_COMMON_LRU rounds it up to a multiple of CPUs).
  [[nodiscard]] std::uint32_t max_entries() const noexcept { return spec_.max_entries; }
  // Bytes a value buffer needs: value_size, or possible_cpus() * round_up(value_size, 8).
  [[nodiscard]] virtual std::size_t value_buffer_size() const noexcept = 0;
  [[nodiscard]] virtual std::size_t batch_token_size() const noexcept = 0;

  // BPF_MAP_LOOKUP_ELEM. Per-CPU maps copy every CPU's slot. flags: 0 only.
  [[nodiscard]] virtual Errc lookup(const void* key, void* value, std::uint64_t flags) = 0;
  // BPF_MAP_UPDATE_ELEM. Per-CPU maps take every CPU's slot. flags: BPF_ANY/NOEXIST/EXIST.
  [[nodiscard]] virtual Errc update(const void* key, const void* value, std::uint64_t flags) = 0;
  // BPF_MAP_DELETE_ELEM.
  [[nodiscard]] virtual Errc erase(const void* key) = 0;
  // BPF_MAP_LOOKUP_AND_DELETE_ELEM. flags: 0 only.
  [[nodiscard]] virtual Errc lookup_and_erase(const void* key, void* value,
                                              std::uint64_t flags) = 0;
  // BPF_MAP_GET_NEXT_KEY. key == nullptr (or a key not in a hash map) gives the first key.
  [[nodiscard]] virtual Errc get_next_key(const void* key, void* next_key) = 0;
  // BPF_MAP_LOOKUP_BATCH / LOOKUP_AND_DELETE_BATCH / UPDATE_BATCH / DELETE_BATCH.
  [[nodiscard]] virtual Errc lookup_batch(BatchArgs& args) = 0;
  [[nodiscard]] virtual Errc lookup_and_erase_batch(BatchArgs& args) = 0;
  [[nodiscard]] virtual Errc update_batch(BatchArgs& args) = 0;
  [[nodiscard]] virtual Errc erase_batch(BatchArgs& args) = 0;

  // Datapath (BPF program) side: bpf_map_lookup_elem / bpf_map_update_elem /
  // bpf_map_delete_elem as a program on current_cpu() sees them. lookup_elem returns a pointer
  // into the element (the current CPU's slot for per-CPU maps), or nullptr. On LRU maps
  // lookup_elem and lookup_percpu_elem set the entry's reference bit; the user-side commands
  // above never do (as the kernel's syscall path).
  [[nodiscard]] virtual void* lookup_elem(const void* key) noexcept = 0;
  [[nodiscard]] virtual Errc update_elem(const void* key, const void* value,
                                         std::uint64_t flags) noexcept = 0;
  [[nodiscard]] virtual Errc delete_elem(const void* key) noexcept = 0;
  // bpf_map_lookup_percpu_elem: the slot of `cpu`, nullptr for a bad cpu or a non-per-CPU map.
  [[nodiscard]] virtual void* lookup_percpu_elem(const void* key, std::uint32_t cpu) noexcept = 0;
  // bpf_map_push_elem / bpf_map_pop_elem / bpf_map_peek_elem (QUEUE and STACK; every other
  // type: Errc::invalid, where the kernel's verifier rejects the call). Pop and peek on an empty
  // map zero `value` (value_size bytes) and return Errc::not_found, as the helpers do.
  [[nodiscard]] virtual Errc push_elem(const void* value, std::uint64_t flags) noexcept;
  // BPF_MAP_TYPE_CPUMAP: the redirect engine behind the map (for redirect_map()); nullptr for
  // every other type.
  [[nodiscard]] virtual CpuMap* cpu_map() noexcept { return nullptr; }
  [[nodiscard]] virtual Errc pop_elem(void* value) noexcept;
  [[nodiscard]] virtual Errc peek_elem(void* value) noexcept;

 protected:
  explicit Map(const MapSpec& spec) : spec_(spec) {}
  MapSpec spec_;
};

// Checks a spec as the kernel's map_alloc_check does and returns the kernel's errno for it
// (Errc::ok if a map can be made).
[[nodiscard]] Errc validate(const MapSpec& spec) noexcept;

// BPF_MAP_CREATE. On failure returns nullptr and sets *error (if given) to the kernel's errno.
[[nodiscard]] std::unique_ptr<Map> create_map(const MapSpec& spec, Errc* error = nullptr);

}  // namespace xmaps
