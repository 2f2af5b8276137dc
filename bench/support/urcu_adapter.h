// SPDX-License-Identifier: MIT
//
// liburcu's lock-free resizable hash table (rculfhash, in liburcu-cds) on the "memb" RCU flavour
// (read side: compiler barriers when the kernel has membarrier(2), otherwise a full fence).
//
// The table holds caller-allocated nodes. As liburcu documents it:
//   lookup   under urcu_memb_read_lock(), value copied out before unlock;
//   insert   new node, cds_lfht_add_unique() under the read lock;
//   update   new node, cds_lfht_add_replace() under the read lock, the old node freed by
//            call_rcu() after a grace period (readers never see a half-written value);
//   erase    cds_lfht_del() under the read lock, the node freed by call_rcu().
// So every update and every insert costs one allocation, and every update and erase one
// call_rcu() (whose worker thread shares the machine's 2 cores with the benchmark threads).
//
// Buckets: a power of two >= max_entries, no auto-resize (load <= 1 for the whole run).
// Every thread that uses the table is registered as an RCU reader (ThreadScope).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

// _LGPL_SOURCE inlines the read-side fast path, as liburcu recommends for performance.
#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE
#endif
// The flavour header must come before rculfhash.h.
// clang-format off
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>
// clang-format on

#include "support/keys.h"

namespace xmaps_bench {

namespace urcu_detail {
// Registration depth of this thread, so scopes nest. Thread-local: no synchronization.
inline int& depth() noexcept {
  thread_local int d = 0;
  return d;
}
}  // namespace urcu_detail

template <class K>
class UrcuPeer {
 public:
  static constexpr std::string_view kName = "Urcu";
  static constexpr bool kConcurrent = true;
  static std::string describe() { return "urcu cds_lfht (memb) call_rcu-free hash=MixHash"; }

  // Registers the calling thread as an RCU reader for its lifetime (outermost scope only).
  class ThreadScope {
   public:
    ThreadScope() noexcept {
      if (urcu_detail::depth()++ == 0)
        urcu_memb_register_thread();
    }
    ~ThreadScope() {
      if (--urcu_detail::depth() == 0)
        urcu_memb_unregister_thread();
    }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;
  };

  explicit UrcuPeer(std::uint32_t max_entries) {
    const unsigned long buckets = std::bit_ceil(std::max<unsigned long>(max_entries, 1));
    ht_ = cds_lfht_new_flavor(buckets, buckets, 0, 0, &urcu_memb_flavor, nullptr);
    if (ht_ == nullptr)
      throw std::runtime_error("cds_lfht_new_flavor failed");
  }

  ~UrcuPeer() {
    ThreadScope scope;
    // 1. Unlink every node (no other thread uses the table any more).
    std::vector<Node*> nodes;
    urcu_memb_read_lock();
    cds_lfht_iter iter;
    cds_lfht_first(ht_, &iter);
    for (cds_lfht_node* n = cds_lfht_iter_get_node(&iter); n != nullptr;
         cds_lfht_next(ht_, &iter), n = cds_lfht_iter_get_node(&iter)) {
      if (cds_lfht_del(ht_, n) == 0)
        nodes.push_back(node_of(n));
    }
    urcu_memb_read_unlock();
    // 2. Wait out readers and pending call_rcu frees, then free the nodes and the table.
    urcu_memb_synchronize_rcu();
    urcu_memb_barrier();
    for (Node* n : nodes)
      delete n;
    cds_lfht_destroy(ht_, nullptr);
  }

  UrcuPeer(const UrcuPeer&) = delete;
  UrcuPeer& operator=(const UrcuPeer&) = delete;

  bool insert(const K& k, const Value16& v) {
    Node* node = new Node(k, v);
    urcu_memb_read_lock();
    cds_lfht_node* got = cds_lfht_add_unique(ht_, hash(k), match, &k, &node->node);
    urcu_memb_read_unlock();
    if (got != &node->node) {
      delete node;  // never published
      return false;
    }
    return true;
  }

  bool lookup(const K& k, Value16& out) {
    urcu_memb_read_lock();
    cds_lfht_iter iter;
    cds_lfht_lookup(ht_, hash(k), match, &k, &iter);
    cds_lfht_node* n = cds_lfht_iter_get_node(&iter);
    if (n != nullptr)
      out = node_of(n)->value;
    urcu_memb_read_unlock();
    return n != nullptr;
  }

  bool update(const K& k, const Value16& v) {
    Node* node = new Node(k, v);
    urcu_memb_read_lock();
    cds_lfht_node* old = cds_lfht_add_replace(ht_, hash(k), match, &k, &node->node);
    urcu_memb_read_unlock();
    if (old == nullptr)
      return false;  // was absent: node inserted instead
    urcu_memb_call_rcu(&node_of(old)->rcu, free_node);
    return true;
  }

  bool erase(const K& k) {
    urcu_memb_read_lock();
    cds_lfht_iter iter;
    cds_lfht_lookup(ht_, hash(k), match, &k, &iter);
    cds_lfht_node* n = cds_lfht_iter_get_node(&iter);
    const bool deleted = n != nullptr && cds_lfht_del(ht_, n) == 0;
    urcu_memb_read_unlock();
    if (deleted)
      urcu_memb_call_rcu(&node_of(n)->rcu, free_node);
    return deleted;
  }

 private:
  struct Node {
    Node(const K& k, const Value16& v) : key(k), value(v) { cds_lfht_node_init(&node); }
    cds_lfht_node node;
    K key;
    Value16 value;
    rcu_head rcu;
  };
  static_assert(std::is_standard_layout_v<Node>);

  static Node* node_of(cds_lfht_node* n) noexcept {
    return reinterpret_cast<Node*>(reinterpret_cast<char*>(n) - offsetof(Node, node));
  }
  static void free_node(rcu_head* head) {
    delete reinterpret_cast<Node*>(reinterpret_cast<char*>(head) - offsetof(Node, rcu));
  }
  static unsigned long hash(const K& k) noexcept { return MixHash{}(k); }
  static int match(cds_lfht_node* n, const void* key) {
    return node_of(n)->key == *static_cast<const K*>(key);
  }

  cds_lfht* ht_ = nullptr;
};

}  // namespace xmaps_bench
