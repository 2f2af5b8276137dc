// SPDX-License-Identifier: MIT
//
// HashMap / PercpuHashMap contract, written as the kernel's selftests check the hash maps
// (tools/testing/selftests/bpf/test_maps.c: test_hashmap, test_hashmap_percpu,
// test_hashmap_walk, test_hashmap_zero_seed), for preallocated and NO_PREALLOC maps.
#include "xmaps/hash_map.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/alloc_counter.h"
#include "xmaps/cpu.h"
#include "xmaps/detail/jhash.h"
#include "xmaps/errc.h"

namespace {

using xmaps::Errc;
using xmaps::HashMap;
using xmaps::PercpuHashMap;
using xmaps::UpdateFlag;
namespace map_flag = xmaps::map_flag;

class HashMapFlags : public ::testing::TestWithParam<std::uint32_t> {};

INSTANTIATE_TEST_SUITE_P(PreallocAndNoPrealloc, HashMapFlags,
                         ::testing::Values(0U, map_flag::kNoPrealloc), [](const auto& param_info) {
                           return param_info.param == 0 ? "prealloc" : "no_prealloc";
                         });

// test_maps.c test_hashmap: a 2-entry map of 8-byte keys and values.
TEST_P(HashMapFlags, BehavesAsTestHashmap) {
  HashMap<std::uint64_t, std::uint64_t> map(2, GetParam());
  std::uint64_t key = 1;
  std::uint64_t value = 1234;
  // Insert key=1 element.
  ASSERT_EQ(map.update(key, value, UpdateFlag::any), Errc::ok);
  value = 0;
  // BPF_NOEXIST means add new element if it doesn't exist.
  EXPECT_EQ(map.update(key, value, UpdateFlag::no_exist), Errc::exists);
  // An unknown flag is rejected.
  EXPECT_EQ(map.update(key, value, static_cast<UpdateFlag>(~0ULL)), Errc::invalid);
  EXPECT_EQ(map.update(key, value, static_cast<UpdateFlag>(3)), Errc::invalid);
  // Check that key=1 can be found.
  ASSERT_EQ(map.lookup_copy(key), std::optional<std::uint64_t>(1234));
  // Key=2 is not there yet: EXIST fails, NOEXIST inserts.
  key = 2;
  value = 1234;
  EXPECT_EQ(map.update(key, value, UpdateFlag::exist), Errc::not_found);
  EXPECT_EQ(map.update(key, value, UpdateFlag::no_exist), Errc::ok);
  // lookup_and_erase returns the value and removes the key.
  std::uint64_t out = 0;
  EXPECT_EQ(map.lookup_and_erase(key, out), Errc::ok);
  EXPECT_EQ(out, 1234U);
  EXPECT_EQ(map.lookup(key), nullptr);
  EXPECT_EQ(map.lookup_and_erase(key, out), Errc::not_found);
  // Fill the map again: key 1 (present) and key 2.
  ASSERT_EQ(map.update(key, value, UpdateFlag::no_exist), Errc::ok);
  // The map is full: a new key fails with E2BIG, twice.
  key = 0;
  EXPECT_EQ(map.update(key, value, UpdateFlag::no_exist), Errc::too_big);
  EXPECT_EQ(map.update(key, value, UpdateFlag::no_exist), Errc::too_big);
  EXPECT_EQ(map.update(key, value, UpdateFlag::any), Errc::too_big);
  // With EXIST, the missing key wins over the full map.
  EXPECT_EQ(map.update(key, value, UpdateFlag::exist), Errc::not_found);
  // Replacing existing keys in a full map works.
  key = 1;
  EXPECT_EQ(map.update(key, value, UpdateFlag::exist), Errc::ok);
  EXPECT_EQ(map.update(key, value, UpdateFlag::any), Errc::ok);
  // Deleting a missing key fails.
  key = 0;
  EXPECT_EQ(map.erase(key), Errc::not_found);
  // get_next_key: nullptr and a missing key both give the first key.
  std::uint64_t first = 0;
  std::uint64_t from_missing = 0;
  ASSERT_EQ(map.get_next_key(nullptr, first), Errc::ok);
  ASSERT_EQ(map.get_next_key(&key, from_missing), Errc::ok);
  EXPECT_EQ(first, from_missing);
  EXPECT_TRUE(first == 1 || first == 2);
  std::uint64_t second = 0;
  ASSERT_EQ(map.get_next_key(&first, second), Errc::ok);
  EXPECT_EQ(first + second, 3U);
  std::uint64_t none = 0;
  EXPECT_EQ(map.get_next_key(&second, none), Errc::not_found);
  // Delete both; the empty map has no first key.
  EXPECT_EQ(map.erase(1), Errc::ok);
  EXPECT_EQ(map.erase(2), Errc::ok);
  EXPECT_EQ(map.get_next_key(nullptr, none), Errc::not_found);
  EXPECT_EQ(map.approx_size(), 0U);
}

TEST_P(HashMapFlags, ReplacingAKeyInAFullMapNeverFails) {
  HashMap<std::uint32_t, std::uint64_t> map(16, GetParam());
  for (std::uint32_t k = 0; k < 16; ++k)
    ASSERT_EQ(map.update(k, k), Errc::ok);
  EXPECT_EQ(map.update(99, 0), Errc::too_big);
  for (std::uint64_t round = 0; round < 2000; ++round) {
    const auto k = static_cast<std::uint32_t>(round % 16);
    ASSERT_EQ(map.update(k, round), Errc::ok) << "round " << round;
    ASSERT_EQ(map.lookup_copy(k), std::optional<std::uint64_t>(round));
  }
  EXPECT_EQ(map.approx_size(), 16U);
  EXPECT_EQ(map.update(99, 0), Errc::too_big);
}

TEST_P(HashMapFlags, DeletedSlotsAreReusedUpToExactlyMaxEntries) {
  HashMap<std::uint32_t, std::uint32_t> map(100, GetParam());
  for (int round = 0; round < 5; ++round) {
    for (std::uint32_t k = 0; k < 100; ++k)
      ASSERT_EQ(map.update(k + 1000 * round, k), Errc::ok);
    EXPECT_EQ(map.update(7777, 0), Errc::too_big);
    for (std::uint32_t k = 0; k < 100; ++k)
      ASSERT_EQ(map.erase(k + 1000 * round), Errc::ok);
    EXPECT_EQ(map.approx_size(), 0U);
  }
}

TEST_P(HashMapFlags, LookupReturnsAPointerIntoTheElement) {
  struct Counters {
    std::uint64_t packets;
    std::uint64_t bytes;
  };
  HashMap<std::uint32_t, Counters> map(8, GetParam());
  ASSERT_EQ(map.update(5, Counters{0, 0}), Errc::ok);
  for (int i = 0; i < 10; ++i) {
    xmaps::RcuReadGuard guard;  // needed for NO_PREALLOC, harmless otherwise
    Counters* c = map.lookup(5);
    ASSERT_NE(c, nullptr);
    std::atomic_ref<std::uint64_t>(c->packets).fetch_add(1, std::memory_order_relaxed);
    std::atomic_ref<std::uint64_t>(c->bytes).fetch_add(64, std::memory_order_relaxed);
  }
  const auto copy = map.lookup_copy(5);
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(copy->packets, 10U);
  EXPECT_EQ(copy->bytes, 640U);
  EXPECT_EQ(map.lookup(6), nullptr);
}

// test_maps.c test_hashmap_walk: 10,000 entries, a full walk visits each exactly once.
TEST_P(HashMapFlags, WalkVisitsEveryKeyOnce) {
  struct Value {
    std::uint64_t a, b, c;
  };
  constexpr std::uint32_t kEntries = 10000;
  HashMap<std::uint32_t, Value> map(kEntries, GetParam());
  for (std::uint32_t k = 0; k < kEntries; ++k)
    ASSERT_EQ(map.update(k, Value{k, k, k}), Errc::ok);
  std::set<std::uint32_t> seen;
  std::uint32_t key = 0;
  Errc err = map.get_next_key(nullptr, key);
  while (err == Errc::ok) {
    EXPECT_TRUE(seen.insert(key).second) << "key " << key << " visited twice";
    err = map.get_next_key(&key, key);
  }
  EXPECT_EQ(err, Errc::not_found);
  EXPECT_EQ(seen.size(), kEntries);
}

// A walk that restarts from a key deleted under it still reaches every remaining key.
TEST_P(HashMapFlags, WalkFromADeletedKeyRestartsAtTheFirstKey) {
  HashMap<std::uint32_t, std::uint32_t> map(64, GetParam());
  for (std::uint32_t k = 0; k < 64; ++k)
    ASSERT_EQ(map.update(k, k), Errc::ok);
  std::uint32_t first = 0;
  ASSERT_EQ(map.get_next_key(nullptr, first), Errc::ok);
  ASSERT_EQ(map.erase(first), Errc::ok);
  std::uint32_t next = 0;
  std::uint32_t restart = 0;
  ASSERT_EQ(map.get_next_key(&first, next), Errc::ok);
  ASSERT_EQ(map.get_next_key(nullptr, restart), Errc::ok);
  EXPECT_EQ(next, restart);
}

// The bucket word summarises its chain (whether it has one element; 14 bits of the head's
// hash), and inserts and lookups trust it to skip elements. Random inserts, replaces (which move a
// key to its chain's head), deletes and lookup_and_erase on a small table with long chains, checked
// against a model after every operation: each key's presence and value, and every bucket's
// word against its chain (unsynchronized_bad_buckets()).
TEST_P(HashMapFlags, ChainSummariesStayExactUnderRandomOps) {
  for (const std::uint32_t seed_flag : {0U, map_flag::kZeroSeed}) {
    HashMap<std::uint32_t, std::uint32_t> map(48, GetParam() | seed_flag);
    std::vector<std::optional<std::uint32_t>> model(96);
    std::mt19937 rng(7 + seed_flag);
    std::uint32_t longest = 0;
    for (int op = 0; op < 10000; ++op) {
      const std::uint32_t k = rng() % 96;
      const std::uint32_t v = rng();
      switch (rng() % 4) {
        case 0: {
          const Errc e = map.update(k, v);
          const std::size_t size = static_cast<std::size_t>(std::count_if(
              model.begin(), model.end(), [](const auto& m) { return m.has_value(); }));
          ASSERT_EQ(e, model[k] || size < 48 ? Errc::ok : Errc::too_big) << op;
          if (e == Errc::ok)
            model[k] = v;
          break;
        }
        case 1:
          ASSERT_EQ(map.erase(k), model[k] ? Errc::ok : Errc::not_found) << op;
          model[k].reset();
          break;
        case 2: {
          std::uint32_t out = 0;
          ASSERT_EQ(map.lookup_and_erase(k, out), model[k] ? Errc::ok : Errc::not_found) << op;
          if (model[k]) {
            ASSERT_EQ(out, *model[k]);
          }
          model[k].reset();
          break;
        }
        default:
          if (model[k]) {
            ASSERT_EQ(map.update(k, v, UpdateFlag::exist), Errc::ok) << op;
            model[k] = v;
          } else {
            ASSERT_EQ(map.update(k, v, UpdateFlag::exist), Errc::not_found) << op;
          }
          break;
      }
      ASSERT_EQ(map.unsynchronized_bad_buckets(), 0U) << "after op " << op;
      for (std::uint32_t q = 0; q < 96; ++q)
        ASSERT_EQ(map.lookup_copy(q), model[q]) << "key " << q << " after op " << op;
      longest = std::max(longest, map.unsynchronized_longest_chain());
    }
    EXPECT_GE(longest, 4U) << "the run should have made chains of four and more";
  }
}

TEST(HashMap, ConstructorRejectsWhatTheKernelRejects) {
  using Map = HashMap<std::uint32_t, std::uint32_t>;
  EXPECT_THROW(Map(0), std::invalid_argument);
  EXPECT_THROW(Map(4, map_flag::kNoCommonLru), std::invalid_argument);
  EXPECT_THROW(Map(4, map_flag::kMmapable), std::invalid_argument);
  EXPECT_THROW(Map(4, 1U << 20), std::invalid_argument);
  EXPECT_THROW((PercpuHashMap<std::uint32_t, std::uint32_t>(4, map_flag::kNumaNode)),
               std::invalid_argument);
  EXPECT_NO_THROW(Map(4, map_flag::kZeroSeed | map_flag::kNoPrealloc));
}

// test_maps.c test_hashmap_zero_seed: two zero-seed maps iterate the same keys in one order.
TEST(HashMap, ZeroSeedMapsIterateInTheSameOrder) {
  HashMap<std::uint32_t, std::uint32_t> a(64, map_flag::kZeroSeed);
  HashMap<std::uint32_t, std::uint32_t> b(64, map_flag::kZeroSeed);
  for (std::uint32_t k = 0; k < 40; ++k) {
    ASSERT_EQ(a.update(k * 7919, k), Errc::ok);
    ASSERT_EQ(b.update(k * 7919, k), Errc::ok);
  }
  std::uint32_t ka = 0;
  std::uint32_t kb = 0;
  Errc ea = a.get_next_key(nullptr, ka);
  Errc eb = b.get_next_key(nullptr, kb);
  int n = 0;
  while (ea == Errc::ok && eb == Errc::ok) {
    EXPECT_EQ(ka, kb);
    ea = a.get_next_key(&ka, ka);
    eb = b.get_next_key(&kb, kb);
    ++n;
  }
  EXPECT_EQ(ea, eb);
  EXPECT_EQ(n, 40);
}

// Keys crafted to share one bucket under the zero seed pile into one chain there; a map with
// its own random seed spreads the same keys.
TEST(HashMap, RandomSeedDefeatsKeysCraftedForOneBucket) {
  constexpr std::uint32_t kEntries = 1024;  // n_buckets = 1024
  std::vector<std::uint32_t> crafted;
  for (std::uint32_t k = 0; crafted.size() < 64; ++k) {
    if ((xmaps::detail::htab_hash(&k, 4, 0) & (kEntries - 1)) == 0)
      crafted.push_back(k);
  }
  HashMap<std::uint32_t, std::uint32_t> zero(kEntries, map_flag::kZeroSeed);
  HashMap<std::uint32_t, std::uint32_t> seeded(kEntries);
  for (const std::uint32_t k : crafted) {
    ASSERT_EQ(zero.update(k, k), Errc::ok);
    ASSERT_EQ(seeded.update(k, k), Errc::ok);
  }
  EXPECT_EQ(zero.unsynchronized_longest_chain(), 64U);
  // 64 keys over 1024 buckets: a chain of 6 has probability far below 1e-6.
  EXPECT_LE(seeded.unsynchronized_longest_chain(), 5U);
  for (const std::uint32_t k : crafted)
    EXPECT_EQ(seeded.lookup_copy(k), std::optional<std::uint32_t>(k));
}

// lookup3's published check values: the kernel's jhash() is lookup3's hashlittle().
TEST(Jhash, MatchesLookup3CheckValues) {
  const char text[] = "Four score and seven years ago";
  EXPECT_EQ(xmaps::detail::jhash_bytes("", 0, 0), 0xdeadbeefU);
  EXPECT_EQ(xmaps::detail::jhash_bytes(text, 30, 0), 0x17770551U);
  EXPECT_EQ(xmaps::detail::jhash_bytes(text, 30, 1), 0xcd628161U);
}

TEST(Jhash, WordAndByteFormsAgreeOnWholeWords) {
  // jhash2 over n words mixes in n*4 as the length, exactly like jhash over n*4 bytes, and
  // reads the same words: the two forms must agree on the same memory.
  const std::uint32_t words[5] = {1, 0xdeadbeef, 42, 7, 0xffffffff};
  for (std::uint32_t n = 0; n <= 5; ++n) {
    EXPECT_EQ(xmaps::detail::jhash_words(words, n, 99),
              xmaps::detail::jhash_bytes(words, n * 4, 99))
        << n << " words";
  }
}

TEST(HashMap, KeysOfOddSizesWork) {
  struct Key {
    std::uint8_t bytes[13];
  };
  HashMap<Key, std::uint16_t> map(32);
  for (std::uint8_t i = 0; i < 32; ++i) {
    Key k{};
    k.bytes[12] = i;
    k.bytes[0] = static_cast<std::uint8_t>(255 - i);
    ASSERT_EQ(map.update(k, i), Errc::ok);
  }
  for (std::uint8_t i = 0; i < 32; ++i) {
    Key k{};
    k.bytes[12] = i;
    k.bytes[0] = static_cast<std::uint8_t>(255 - i);
    EXPECT_EQ(map.lookup_copy(k), std::optional<std::uint16_t>(i));
    k.bytes[5] = 1;
    EXPECT_EQ(map.lookup(k), nullptr);
  }
}

TEST(HashMap, LookupManyFindsWhatLookupFinds) {
  HashMap<std::uint32_t, std::uint64_t> map(1000);
  for (std::uint32_t k = 0; k < 1000; k += 2)
    ASSERT_EQ(map.update(k, k * 10ULL), Errc::ok);
  std::vector<std::uint32_t> keys;
  for (std::uint32_t k = 0; k < 300; ++k)
    keys.push_back((k * 37) % 1000);
  std::vector<std::uint64_t*> out(keys.size());
  const std::size_t hits = map.lookup_many(keys, out);
  std::size_t expected_hits = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(out[i], map.lookup(keys[i])) << keys[i];
    if (keys[i] % 2 == 0) {
      ++expected_hits;
      ASSERT_NE(out[i], nullptr);
      EXPECT_EQ(*out[i], keys[i] * 10ULL);
    }
  }
  EXPECT_EQ(hits, expected_hits);
}

TEST(HashMap, LookupManyWithAShorterOutLooksUpOnlyWhatFits) {
  HashMap<std::uint32_t, std::uint64_t> map(64);
  for (std::uint32_t k = 0; k < 10; ++k)
    ASSERT_EQ(map.update(k, k + 100), Errc::ok);
  const std::vector<std::uint32_t> keys = {1, 2, 3, 50, 4, 5};
  // out has room for 4 of the 6 keys; its 5th slot (outside the span) must stay untouched.
  std::vector<std::uint64_t*> storage(5, reinterpret_cast<std::uint64_t*>(&storage));
  const std::size_t hits = map.lookup_many(keys, std::span<std::uint64_t*>(storage.data(), 4));
  EXPECT_EQ(hits, 3U);
  EXPECT_EQ(storage[0], map.lookup(1));
  EXPECT_EQ(storage[1], map.lookup(2));
  EXPECT_EQ(storage[2], map.lookup(3));
  EXPECT_EQ(storage[3], nullptr);
  EXPECT_EQ(storage[4], reinterpret_cast<std::uint64_t*>(&storage));
}

// find_many() has three ways, chosen by the table's bytes (hash_table.h): key by key up to
// 1 MiB, a bucket+head prefetch pipeline up to 16 MiB, and one that also prefetches the second
// chain element beyond. These sizes take each (u32 key, u64 value: 32-byte elements): 1024
// (40 KiB), 64K (2.5 MiB), 512K (20 MiB). Every key's answer must be lookup()'s, for hits at
// every chain position and misses, in runs of every length (the pipeline's fill and drain).
class LookupManySizes : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(LookupManySizes, AgreesWithLookupAtEveryChainPosition) {
  const std::uint32_t entries = GetParam();
  HashMap<std::uint32_t, std::uint64_t> map(entries);
  // Full, so that chains of 2 and more are common (a third of the hits are not at the head).
  for (std::uint32_t i = 0; i < entries; ++i)
    ASSERT_EQ(map.update(i * 2654435761U, i), Errc::ok);
  std::vector<std::uint32_t> keys;
  for (std::uint32_t i = 0; i < 4096; ++i) {
    const std::uint32_t pick = (i * 7919U) % entries;
    keys.push_back(i % 5 == 4 ? pick * 2654435761U + 1 : pick * 2654435761U);  // 1 in 5 misses
  }
  std::vector<std::uint64_t*> out(keys.size());
  for (const std::size_t len : {std::size_t{1}, std::size_t{7}, std::size_t{31}, std::size_t{64},
                                std::size_t{100}, keys.size()}) {
    std::fill(out.begin(), out.end(), nullptr);
    const std::span<const std::uint32_t> part(keys.data(), len);
    const std::size_t hits = map.lookup_many(part, std::span<std::uint64_t*>(out.data(), len));
    std::size_t expected = 0;
    for (std::size_t i = 0; i < len; ++i) {
      std::uint64_t* const one = map.lookup(keys[i]);
      ASSERT_EQ(out[i], one) << "entries " << entries << " len " << len << " key " << i;
      expected += one != nullptr ? 1 : 0;
      if (i % 5 != 4) {
        ASSERT_NE(one, nullptr);
        EXPECT_EQ(static_cast<std::uint32_t>(*one * 2654435761U), keys[i]);
      }
    }
    EXPECT_EQ(hits, expected);
  }
  EXPECT_GE(map.unsynchronized_longest_chain(), 3U);
}

INSTANTIATE_TEST_SUITE_P(CachedHeadChain, LookupManySizes,
                         ::testing::Values(1024U, 65536U, 524288U));

TEST(HashMap, PreallocatedMapAllocatesNothingAfterConstruction) {
  HashMap<std::uint32_t, std::uint64_t> map(4096);
  PercpuHashMap<std::uint32_t, std::uint64_t> percpu(4096);
  std::vector<std::uint32_t> keys(8192);
  for (std::uint32_t i = 0; i < keys.size(); ++i)
    keys[i] = i * 2654435761U;
  std::vector<std::uint64_t*> out(64);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(xmaps::possible_cpus()));
  const std::uint64_t before = xmaps_test::allocation_count();
  std::uint64_t sink = 0;
  for (int round = 0; round < 3; ++round) {
    for (const std::uint32_t k : keys) {
      sink += static_cast<std::uint64_t>(map.update(k, k));  // half of them E2BIG
      sink += static_cast<std::uint64_t>(percpu.update(k, k));
      sink += map.lookup(k) != nullptr ? 1 : 0;
      sink += map.lookup_copy(k).value_or(0);
      sink += static_cast<std::uint64_t>(percpu.lookup_all(k, all));
      std::uint32_t next = 0;
      sink += static_cast<std::uint64_t>(map.get_next_key(&k, next));
    }
    sink += map.lookup_many(std::span<const std::uint32_t>(keys).first(64), out);
    for (const std::uint32_t k : keys) {
      sink += static_cast<std::uint64_t>(map.erase(k));
      sink += static_cast<std::uint64_t>(percpu.erase(k));
    }
  }
  const std::uint64_t after = xmaps_test::allocation_count();
  EXPECT_EQ(after - before, 0U) << "allocations on the hot path";
  EXPECT_NE(sink, 0U);
}

// ---- PERCPU_HASH -----------------------------------------------------------------------------

class PercpuHashFlags : public ::testing::TestWithParam<std::uint32_t> {};
INSTANTIATE_TEST_SUITE_P(PreallocAndNoPrealloc, PercpuHashFlags,
                         ::testing::Values(0U, map_flag::kNoPrealloc), [](const auto& param_info) {
                           return param_info.param == 0 ? "prealloc" : "no_prealloc";
                         });

TEST_P(PercpuHashFlags, ProgramUpdateWritesTheCurrentCpuAndZeroesTheOthers) {
  const int ncpus = xmaps::possible_cpus();
  PercpuHashMap<std::uint32_t, std::uint64_t> map(8, GetParam());
  const int cpu = ncpus - 1;
  {
    xmaps::CpuBinding bind(cpu);
    ASSERT_EQ(map.update(1, 77), Errc::ok);
    ASSERT_NE(map.lookup(1), nullptr);
    EXPECT_EQ(*map.lookup(1), 77U);
  }
  for (int c = 0; c < ncpus; ++c) {
    const std::uint64_t* v = map.lookup_percpu(1, static_cast<std::uint32_t>(c));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, c == cpu ? 77U : 0U) << "cpu " << c;
  }
  EXPECT_EQ(map.lookup_percpu(1, static_cast<std::uint32_t>(ncpus)), nullptr);
  EXPECT_EQ(map.lookup_percpu(2, 0), nullptr);
  // An update of an existing element changes only the current CPU's slot, in place.
  const std::uint64_t* slot0 = map.lookup_percpu(1, 0);
  {
    xmaps::CpuBinding bind(0);
    ASSERT_EQ(map.update(1, 5, UpdateFlag::exist), Errc::ok);
  }
  EXPECT_EQ(map.lookup_percpu(1, 0), slot0);
  EXPECT_EQ(*map.lookup_percpu(1, 0), 5U);
  if (ncpus > 1) {
    EXPECT_EQ(*map.lookup_percpu(1, static_cast<std::uint32_t>(cpu)), 77U);
  }
}

// test_maps.c test_hashmap_percpu: every CPU's value is set and read back at once.
TEST_P(PercpuHashFlags, UserSideUpdateAndLookupCoverEveryCpu) {
  struct Odd {
    std::uint32_t a, b, c;  // 12 bytes: stored in 16-byte slots
  };
  const auto ncpus = static_cast<std::size_t>(xmaps::possible_cpus());
  PercpuHashMap<std::uint64_t, Odd> map(2, GetParam());
  std::vector<Odd> values(ncpus);
  for (std::size_t c = 0; c < ncpus; ++c) {
    values[c] = Odd{static_cast<std::uint32_t>(c + 100), 1, 2};
  }
  ASSERT_EQ(map.update_all(1, values, UpdateFlag::any), Errc::ok);
  EXPECT_EQ(map.update_all(1, values, UpdateFlag::no_exist), Errc::exists);
  std::vector<Odd> out(ncpus);
  ASSERT_EQ(map.lookup_all(1, out), Errc::ok);
  for (std::size_t c = 0; c < ncpus; ++c) {
    EXPECT_EQ(out[c].a, c + 100);
    EXPECT_EQ(out[c].c, 2U);
  }
  EXPECT_EQ(map.lookup_all(1, std::span<Odd>(out).first(ncpus - 1)), Errc::invalid);
  EXPECT_EQ(map.lookup_all(9, out), Errc::not_found);
  // Full map: a new key fails, the existing ones update in place.
  ASSERT_EQ(map.update_all(2, values), Errc::ok);
  EXPECT_EQ(map.update_all(3, values), Errc::too_big);
  EXPECT_EQ(map.update(3, Odd{}), Errc::too_big);
  EXPECT_EQ(map.update_all(2, values, UpdateFlag::exist), Errc::ok);
  // lookup_and_erase returns every CPU's value.
  std::vector<Odd> erased(ncpus);
  ASSERT_EQ(map.lookup_and_erase(1, erased), Errc::ok);
  EXPECT_EQ(erased[0].a, 100U);
  EXPECT_EQ(map.lookup_all(1, out), Errc::not_found);
}

}  // namespace

namespace {

// The kernel returns -EBUSY when a bucket lock is re-entered on its CPU; xmaps does the same for
// a thread that already holds the bucket (e.g. from a callback), instead of deadlocking.
TEST(HashBucket, ReenteringAHeldLockReportsBusyInsteadOfDeadlocking) {
  xmaps::detail::Bucket bucket;
  bucket.init(xmaps::detail::kNullsBit);
  ASSERT_TRUE(bucket.lock());
  EXPECT_FALSE(bucket.lock()) << "a second lock() on the holding thread must refuse";
  // Another thread waits instead of being refused, and gets the lock once it is free.
  std::atomic<bool> other_locked{false};
  std::thread other([&] {
    EXPECT_TRUE(bucket.lock());
    other_locked.store(true, std::memory_order_release);
    bucket.unlock(false);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(other_locked.load(std::memory_order_acquire));
  bucket.unlock(false);
  other.join();
  EXPECT_TRUE(other_locked.load(std::memory_order_acquire));
  // Released: this thread may take it again.
  ASSERT_TRUE(bucket.lock());
  bucket.unlock(false);
}

}  // namespace
