// SPDX-License-Identifier: MIT
//
// KernelLookupProg (tests/support/kernel_prog.h) on real kernel maps: the program-side lookup
// the differential tests compare Map::lookup_elem with. These tests check the kernel and the
// helper, not xmaps:
//   * HASH: hit / miss, the returned bits of the value, key sizes 1..96 (97 is refused);
//   * PERCPU_HASH: a run on CPU c sees CPU c's slot;
//   * a program the verifier rejects (value_size < 4) reports the verifier log;
//   * test_lru_map.c sanity7 / sanity8 (kernel-notes §2.1) on LRU_HASH and LRU_PERCPU_HASH of
//     size 2 (per CPU with BPF_F_NO_COMMON_LRU): a program lookup sets the reference bit and
//     protects the key from the next eviction, a syscall lookup does not.
// Needs bpf(2) with CAP_BPF + CAP_PERFMON (root); skips with a message otherwise.
#include "support/kernel_prog.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <linux/bpf.h>
#include <sched.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "xmaps/map.h"

namespace {

using xmaps::MapSpec;
using xmaps::MapType;
using xmaps::testing::errno_name;
using xmaps::testing::kernel_possible_cpus;
using xmaps::testing::KernelLookupProg;
using xmaps::testing::KernelMap;
using xmaps::testing::type_name;
namespace map_flag = xmaps::map_flag;
using Bytes = std::vector<std::uint8_t>;

// The CPUs this thread may run on (and the kernel has as possible).
std::vector<int> allowed_cpus() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < kernel_possible_cpus() && c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set))
        out.push_back(c);
    }
  }
  return out;
}

// Pins the calling thread to one CPU for its lifetime (as test_lru_map.c pins itself).
class Pin {
 public:
  explicit Pin(int cpu) {
    CPU_ZERO(&saved_);
    saved_ok_ = ::sched_getaffinity(0, sizeof(saved_), &saved_) == 0;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ok_ = ::sched_setaffinity(0, sizeof(one), &one) == 0;
  }
  ~Pin() {
    if (saved_ok_)
      ::sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  cpu_set_t saved_;
  bool saved_ok_ = false;
  bool ok_ = false;
};

// Skips the test unless maps can be created and the lookup program loads.
#define REQUIRE_BPF()                                    \
  do {                                                   \
    std::string why_;                                    \
    if (!xmaps::testing::bpf_available(&why_))           \
      GTEST_SKIP() << why_;                              \
    if (std::string why2_; !prog_load_permitted(&why2_)) \
      GTEST_SKIP() << why2_;                             \
  } while (0)

KernelMap make_map(MapType type, std::uint32_t key_size, std::uint32_t value_size,
                   std::uint32_t max_entries, std::uint32_t flags) {
  MapSpec spec;
  spec.type = type;
  spec.key_size = key_size;
  spec.value_size = value_size;
  spec.max_entries = max_entries;
  spec.flags = flags;
  int err = 0;
  KernelMap map = KernelMap::create(spec, &err);
  EXPECT_TRUE(map.valid()) << "BPF_MAP_CREATE " << type_name(type) << " key " << key_size
                           << " value " << value_size << " max " << max_entries << " flags 0x"
                           << std::hex << flags << std::dec << ": " << errno_name(err);
  return map;
}

// Whether BPF_PROG_LOAD of a raw_tracepoint program is permitted (EPERM without CAP_BPF and
// CAP_PERFMON); other failures are left to the tests to report.
bool prog_load_permitted(std::string* why) {
  const KernelMap map = make_map(MapType::hash, 4, 8, 1, 0);
  if (!map.valid()) {
    *why = "cannot create a HASH map";
    return false;
  }
  const KernelLookupProg prog(map);
  if (prog.error() == -EPERM) {
    *why = "BPF_PROG_LOAD of a raw_tracepoint program failed: " + errno_name(-prog.error()) +
           " — run as root (CAP_BPF + CAP_PERFMON) to load test programs";
    return false;
  }
  return true;
}

Bytes key_bytes(std::uint32_t key_size, std::uint32_t i) {
  Bytes k(key_size);
  for (std::uint32_t b = 0; b < key_size; ++b)
    k[b] = static_cast<std::uint8_t>(i * 37 + b * 11 + (i >> 8));
  std::memcpy(k.data(), &i, std::min<std::uint32_t>(key_size, 4));
  return k;
}

TEST(KernelLookupProg, HashHitMissAndValueBits) {
  REQUIRE_BPF();
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  for (const std::uint32_t ks : {1U, 4U, 8U, 13U, 16U, 40U, 95U, 96U}) {
    SCOPED_TRACE("key_size " + std::to_string(ks));
    const KernelMap map = make_map(MapType::hash, ks, 12, 16, 0);
    ASSERT_TRUE(map.valid());
    const KernelLookupProg prog(map);
    ASSERT_TRUE(prog.valid()) << prog.log();
    EXPECT_EQ(prog.error(), 0);
    EXPECT_TRUE(prog.log().empty());
    // First u32 of the values: the program keeps 31 bits and sets bit 31.
    const std::uint32_t firsts[] = {0, 1, 0x1234, 0x7fffffff, 0x80000000, 0xdeadbeef};
    for (std::uint32_t i = 0; i < std::size(firsts); ++i) {
      Bytes v(12, 0xcc);
      std::memcpy(v.data(), &firsts[i], 4);
      const Bytes k = key_bytes(ks, i);
      ASSERT_EQ(map.update(k.data(), v.data(), BPF_ANY), 0);
    }
    for (const int cpu : cpus) {
      for (std::uint32_t i = 0; i < std::size(firsts); ++i) {
        const Bytes k = key_bytes(ks, i);
        std::uint32_t ret = 0xabababab;
        ASSERT_EQ(prog.run(k.data(), cpu, &ret), 0);
        EXPECT_EQ(ret, 0x80000000U | (firsts[i] & 0x7fffffffU)) << "key " << i << " cpu " << cpu;
        Bytes v(12);
        std::memcpy(v.data(), &firsts[i], 4);
        EXPECT_EQ(KernelLookupProg::encode(v.data()), ret);
      }
      // Misses: a key never inserted; a key differing only in its last byte.
      std::uint32_t ret = 0xabababab;
      const Bytes absent = key_bytes(ks, 1000);
      ASSERT_EQ(prog.run(absent.data(), cpu, &ret), 0);
      EXPECT_EQ(ret, 0U);
      if (ks > 4) {
        Bytes near = key_bytes(ks, 3);
        near.back() ^= 0x01;
        ret = 0xabababab;
        ASSERT_EQ(prog.run(near.data(), cpu, &ret), 0);
        EXPECT_EQ(ret, 0U) << "the lookup must use all " << ks << " key bytes";
      }
    }
    // Delete, then miss.
    const Bytes k2 = key_bytes(ks, 2);
    ASSERT_EQ(map.erase(k2.data()), 0);
    std::uint32_t ret = 1;
    ASSERT_EQ(prog.run(k2.data(), cpus[0], &ret), 0);
    EXPECT_EQ(ret, 0U);
  }
  EXPECT_EQ(KernelLookupProg::encode(nullptr), 0U);
}

TEST(KernelLookupProg, KeysOver96BytesAreRefused) {
  // No kernel needed: the size check comes first.
  for (const std::uint32_t ks : {0U, 97U, 104U, 512U}) {
    const KernelLookupProg prog(-1, ks);
    EXPECT_FALSE(prog.valid());
    EXPECT_EQ(prog.error(), -EINVAL) << ks;
    EXPECT_NE(prog.log().find("unsupported"), std::string::npos) << prog.log();
    const Bytes key(std::max<std::uint32_t>(ks, 1));
    std::uint32_t ret = 0;
    EXPECT_EQ(prog.run(key.data(), 0, &ret), -EINVAL);
  }
  const KernelLookupProg none;
  std::uint32_t ret = 0;
  const std::uint32_t key = 0;
  EXPECT_EQ(none.run(&key, 0, &ret), -EBADF);
}

TEST(KernelLookupProg, VerifierRejectionKeepsTheLog) {
  REQUIRE_BPF();
  // value_size 2: the program's 4-byte read of the value is out of bounds.
  const KernelMap small = make_map(MapType::hash, 4, 2, 4, 0);
  ASSERT_TRUE(small.valid());
  const KernelLookupProg prog(small);
  EXPECT_FALSE(prog.valid());
  EXPECT_LT(prog.error(), 0);
  EXPECT_NE(prog.log().find("BPF_PROG_LOAD"), std::string::npos) << prog.log();
  EXPECT_NE(prog.log().find("invalid access to map value"), std::string::npos)
      << "expected the verifier's own words in the log:\n"
      << prog.log();
  std::uint32_t ret = 0;
  const std::uint32_t key = 1;
  EXPECT_EQ(prog.run(&key, 0, &ret), prog.error());

  // Not a map fd at all.
  const KernelLookupProg bad_fd(-1, 4);
  EXPECT_FALSE(bad_fd.valid());
  EXPECT_LT(bad_fd.error(), 0);
  EXPECT_FALSE(bad_fd.log().empty());
}

TEST(KernelLookupProg, MoveKeepsOneOwner) {
  REQUIRE_BPF();
  const KernelMap map = make_map(MapType::hash, 4, 8, 4, 0);
  ASSERT_TRUE(map.valid());
  KernelLookupProg a(map);
  ASSERT_TRUE(a.valid()) << a.log();
  const int fd = a.fd();
  KernelLookupProg b(std::move(a));
  EXPECT_EQ(b.fd(), fd);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  KernelLookupProg c;
  c = std::move(b);
  EXPECT_EQ(c.fd(), fd);
  const std::uint32_t key = 7;
  const std::uint64_t value = 0x55;
  ASSERT_EQ(map.update(&key, &value, BPF_ANY), 0);
  std::uint32_t ret = 0;
  ASSERT_EQ(c.run(&key, allowed_cpus().at(0), &ret), 0);
  EXPECT_EQ(ret, 0x80000055U);
}

TEST(KernelLookupProg, BadCpuIsAnError) {
  REQUIRE_BPF();
  const KernelMap map = make_map(MapType::hash, 4, 8, 4, 0);
  ASSERT_TRUE(map.valid());
  const KernelLookupProg prog(map);
  ASSERT_TRUE(prog.valid()) << prog.log();
  const std::uint32_t key = 1;
  std::uint32_t ret = 0;
  EXPECT_EQ(prog.run(&key, 1 << 20, &ret), -ENXIO);
}

TEST(KernelLookupProg, PercpuHashSeesTheSlotOfTheCpuItRunsOn) {
  REQUIRE_BPF();
  const int ncpus = kernel_possible_cpus();
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  const KernelMap map = make_map(MapType::percpu_hash, 8, 12, 8, 0);
  ASSERT_TRUE(map.valid());
  const std::size_t slot = 16;
  ASSERT_EQ(map.value_buffer_size(), slot * static_cast<std::size_t>(ncpus));
  const KernelLookupProg prog(map);
  ASSERT_TRUE(prog.valid()) << prog.log();
  auto slot_value = [](std::uint64_t key, int cpu) {
    return static_cast<std::uint32_t>(0x10000 * (key + 1) + 0x111 * static_cast<unsigned>(cpu)) |
           (cpu % 2 == 1 ? 0x80000000U : 0U);  // bit 31 is masked off by the program
  };
  for (std::uint64_t key = 0; key < 4; ++key) {
    Bytes values(map.value_buffer_size(), 0xee);
    for (int c = 0; c < ncpus; ++c) {
      const std::uint32_t v = slot_value(key, c);
      std::memcpy(values.data() + slot * static_cast<std::size_t>(c), &v, 4);
    }
    ASSERT_EQ(map.update(&key, values.data(), BPF_ANY), 0);
  }
  for (const int cpu : cpus) {
    for (std::uint64_t key = 0; key < 4; ++key) {
      std::uint32_t ret = 0;
      ASSERT_EQ(prog.run(&key, cpu, &ret), 0);
      EXPECT_EQ(ret, 0x80000000U | (slot_value(key, cpu) & 0x7fffffffU))
          << "key " << key << " run on cpu " << cpu;
    }
    const std::uint64_t absent = 99;
    std::uint32_t ret = 1;
    ASSERT_EQ(prog.run(&absent, cpu, &ret), 0);
    EXPECT_EQ(ret, 0U);
  }
  if (cpus.size() < 2)
    GTEST_SKIP() << "only one CPU allowed: the per-CPU slots were checked on cpu " << cpus[0];
}

// ---- test_lru_map.c sanity7 / sanity8 ---------------------------------------------------------

struct LruCase {
  MapType type;
  std::uint32_t flags;
};

std::string lru_case_name(const ::testing::TestParamInfo<LruCase>& p) {
  return type_name(p.param.type) +
         ((p.param.flags & map_flag::kNoCommonLru) != 0 ? "_no_common_lru" : "_common_lru");
}

class KernelLookupProgLru : public ::testing::TestWithParam<LruCase> {
 protected:
  // Size 2 (2 per CPU with NO_COMMON_LRU), key and value u64, value[0] = 1234 in every slot.
  void SetUp() override {
    REQUIRE_BPF();
    cpus_ = allowed_cpus();
    ASSERT_FALSE(cpus_.empty());
    cpu_ = cpus_[0];
    const bool per_cpu_lists = (GetParam().flags & map_flag::kNoCommonLru) != 0;
    const auto size = static_cast<std::uint32_t>(per_cpu_lists ? 2 * kernel_possible_cpus() : 2);
    map_ = make_map(GetParam().type, 8, 8, size, GetParam().flags);
    ASSERT_TRUE(map_.valid());
    prog_ = KernelLookupProg(map_);
    ASSERT_TRUE(prog_.valid()) << prog_.log();
    value_.assign(map_.value_buffer_size(), 0);
    for (std::size_t off = 0; off < value_.size(); off += 8) {
      const std::uint64_t v = 1234;
      std::memcpy(value_.data() + off, &v, 8);
    }
  }

  int insert(std::uint64_t key) { return map_.update(&key, value_.data(), BPF_NOEXIST); }
  int syscall_lookup(std::uint64_t key) {
    Bytes out(map_.value_buffer_size());
    const int rc = map_.lookup(&key, out.data(), 0);
    if (rc == 0) {
      std::uint64_t v = 0;
      std::memcpy(&v, out.data(), 8);
      EXPECT_EQ(v, 1234U) << "key " << key;
    }
    return rc;
  }
  // The datapath lookup on the CPU the thread is pinned to; true on a hit.
  bool prog_lookup(std::uint64_t key) {
    std::uint32_t ret = 0;
    const int rc = prog_.run(&key, cpu_, &ret);
    EXPECT_EQ(rc, 0) << "BPF_PROG_TEST_RUN: " << errno_name(-rc);
    if (ret != 0) {
      EXPECT_EQ(ret, 0x80000000U | 1234U);
    }
    return ret != 0;
  }
  std::vector<std::uint64_t> keys() {
    std::vector<std::uint64_t> out;
    std::uint64_t k = 0;
    std::uint64_t next = 0;
    const std::uint64_t* prev = nullptr;
    while (map_.get_next_key(prev, &next) == 0 && out.size() < 64) {
      out.push_back(next);
      k = next;
      prev = &k;
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<int> cpus_;
  int cpu_ = 0;
  KernelMap map_;
  KernelLookupProg prog_;
  Bytes value_;
};

// insert 1, 2; program lookup 1; syscall lookup 2; insert 3 → 2 evicted; final {1, 3}.
TEST_P(KernelLookupProgLru, Sanity7ProgramLookupProtectsSyscallLookupDoesNot) {
  const Pin pin(cpu_);
  ASSERT_TRUE(pin.ok()) << "sched_setaffinity to cpu " << cpu_;
  ASSERT_EQ(insert(1), 0);
  ASSERT_EQ(insert(2), 0);
  EXPECT_TRUE(prog_lookup(1));
  EXPECT_EQ(syscall_lookup(2), 0);
  ASSERT_EQ(insert(3), 0);
  EXPECT_EQ(syscall_lookup(1), 0);
  EXPECT_EQ(syscall_lookup(2), ENOENT);
  EXPECT_EQ(syscall_lookup(3), 0);
  EXPECT_EQ(keys(), (std::vector<std::uint64_t>{1, 3}));
  EXPECT_FALSE(prog_lookup(2));
}

// insert 1, 2; syscall lookup 1; program lookup 2; insert 3 → 1 evicted; final {2, 3}.
TEST_P(KernelLookupProgLru, Sanity8SyscallLookupDoesNotProtect) {
  const Pin pin(cpu_);
  ASSERT_TRUE(pin.ok()) << "sched_setaffinity to cpu " << cpu_;
  ASSERT_EQ(insert(1), 0);
  ASSERT_EQ(insert(2), 0);
  EXPECT_EQ(syscall_lookup(1), 0);
  EXPECT_TRUE(prog_lookup(2));
  ASSERT_EQ(insert(3), 0);
  EXPECT_EQ(syscall_lookup(1), ENOENT);
  EXPECT_EQ(syscall_lookup(2), 0);
  EXPECT_EQ(syscall_lookup(3), 0);
  EXPECT_EQ(keys(), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_FALSE(prog_lookup(1));
}

INSTANTIATE_TEST_SUITE_P(Lru, KernelLookupProgLru,
                         ::testing::Values(LruCase{MapType::lru_hash, 0},
                                           LruCase{MapType::lru_hash, map_flag::kNoCommonLru},
                                           LruCase{MapType::lru_percpu_hash, 0},
                                           LruCase{MapType::lru_percpu_hash,
                                                   map_flag::kNoCommonLru}),
                         lru_case_name);

}  // namespace
