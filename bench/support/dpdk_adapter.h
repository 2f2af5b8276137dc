// SPDX-License-Identifier: MIT
//
// DPDK rte_hash (cuckoo hash with 8-entry buckets and 16-bit signatures) in its lock-free
// reader mode, the mode comparable to a BPF hash map read from many CPUs:
//   extra_flag = RW_CONCURRENCY_LF   readers take no lock
//              | MULTI_WRITER_ADD    several writer threads (they serialise on a writer lock
//                                    and keep per-lcore caches of free key slots)
//              | EXT_TABLE           overflow buckets, so the table fills to max_entries
//   hash_func  = NULL                DPDK's default
//
// Values live outside the table, as in DPDK applications: each key's data pointer names a
// Value16. Fill keys use values_[i]; a key inserted during a benchmark uses the inserting
// thread's spare slot (the insert+erase benchmark holds at most one such key per thread).
//   lookup   rte_hash_lookup_data(), then copy *data;
//   bulk     rte_hash_lookup_bulk_data() on 32 keys, then copy each hit's *data;
//   update   rte_hash_lookup_data(), then write *data in place (DPDK has no replace-value call
//            short of re-adding the key; a BPF program updates through the lookup pointer too);
//   insert   rte_hash_add_key_data();
//   erase    rte_hash_del_key(), then rte_hash_free_key_with_position(): in LF mode deletion
//            does not free the key slot, because readers may still be looking at it. Freeing at
//            once is safe here because no benchmark reads while another thread erases.
//
// The EAL is initialised once in main() (DpdkRuntime) with
//   --no-huge --no-pci --no-shconf --no-telemetry -l 0-1 -m 256 --log-level=error
// rte_eal_init pins the calling thread to lcore 0's CPU; DpdkRuntime restores the thread's
// affinity afterwards, or every benchmark thread spawned later would inherit the pin to CPU 0.
// MULTI_WRITER_ADD indexes per-lcore caches by rte_lcore_id(), so writer threads must have an
// lcore id: ThreadScope registers non-EAL threads with rte_thread_register().
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

// rte_config.h first, as pkg-config's `-include rte_config.h` would put it.
// clang-format off
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_lcore.h>
// clang-format on

#include "support/dpdk_runtime.h"
#include "support/keys.h"

namespace xmaps_bench {

template <class K>
class DpdkPeer {
 public:
  static constexpr std::string_view kName = "Dpdk";
  static constexpr bool kConcurrent = true;
  static constexpr std::uint32_t kBulk = 32;
  static std::string describe() { return "rte_hash LF+MW+EXT data=ptr hash=DPDK default"; }

  // Gives a non-EAL thread an lcore id for its lifetime (MULTI_WRITER_ADD needs one).
  class ThreadScope {
   public:
    ThreadScope() : owner_(DpdkRuntime::ok() && rte_lcore_id() == LCORE_ID_ANY) {
      if (owner_ && rte_thread_register() != 0)
        owner_ = false;
    }
    ~ThreadScope() {
      if (owner_)
        rte_thread_unregister();
    }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

   private:
    bool owner_;
  };

  explicit DpdkPeer(std::uint32_t max_entries) : values_(max_entries) {
    if (!DpdkRuntime::ok())
      throw std::runtime_error(DpdkRuntime::error());
    static std::atomic<unsigned> serial{0};
    // Relaxed: only uniqueness of the name matters.
    const std::string name = "xmb" + std::to_string(serial.fetch_add(1, std::memory_order_relaxed));
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = max_entries;
    p.key_len = sizeof(K);
    p.hash_func = nullptr;
    p.hash_func_init_val = 0;
    p.socket_id = static_cast<int>(rte_socket_id());
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD |
                   RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    h_ = rte_hash_create(&p);
    if (h_ == nullptr) {
      throw std::runtime_error(std::string("rte_hash_create failed: ") + rte_strerror(rte_errno));
    }
  }
  ~DpdkPeer() { rte_hash_free(h_); }
  DpdkPeer(const DpdkPeer&) = delete;
  DpdkPeer& operator=(const DpdkPeer&) = delete;

  // Setup only (one thread): key i of the fill set, its value in values_[i].
  bool fill(std::uint32_t i, const K& k, const Value16& v) {
    values_[i] = v;
    return rte_hash_add_key_data(h_, &k, &values_[i]) == 0;
  }
  bool insert(const K& k, const Value16& v) {
    Value16& slot = spare();
    slot = v;
    return rte_hash_add_key_data(h_, &k, &slot) == 0;
  }
  bool lookup(const K& k, Value16& out) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(h_, &k, &data) < 0)
      return false;
    out = *static_cast<const Value16*>(data);
    return true;
  }
  // keys[0..kBulk) -> out[i] for each hit; returns the hit count.
  std::size_t lookup_bulk(const K* keys, Value16* out) const {
    const void* key_ptrs[kBulk];
    for (std::uint32_t i = 0; i < kBulk; ++i)
      key_ptrs[i] = &keys[i];
    void* data[kBulk];
    std::uint64_t hit_mask = 0;
    const int hits = rte_hash_lookup_bulk_data(h_, key_ptrs, kBulk, &hit_mask, data);
    for (std::uint64_t m = hit_mask; m != 0; m &= m - 1) {
      const int i = std::countr_zero(m);
      out[i] = *static_cast<const Value16*>(data[i]);
    }
    return hits < 0 ? 0 : static_cast<std::size_t>(hits);
  }
  bool update(const K& k, const Value16& v) {
    void* data = nullptr;
    if (rte_hash_lookup_data(h_, &k, &data) < 0)
      return false;
    store_value_relaxed(*static_cast<Value16*>(data), v);
    return true;
  }
  bool erase(const K& k) {
    const std::int32_t pos = rte_hash_del_key(h_, &k);
    if (pos < 0)
      return false;
    return rte_hash_free_key_with_position(h_, pos) == 0;
  }

 private:
  // The calling thread's value slot for keys inserted outside the fill.
  static Value16& spare() noexcept {
    thread_local Value16 slot{};
    return slot;
  }

  rte_hash* h_ = nullptr;
  std::vector<Value16> values_;
};

}  // namespace xmaps_bench
