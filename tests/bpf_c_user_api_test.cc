// SPDX-License-Identifier: MIT
//
// xmaps/bpf.h, the user side of BPF-C, call by call against libbpf on the running kernel
// (tests/support/libbpf_calls.h; skipped with the reason where libbpf or bpf() is missing):
// bpf_map_create with LIBBPF_OPTS / bpf_map_create_opts (flags, sz checks, BTF and the other
// options xmaps cannot honour, the name), bpf_map_lookup_elem_flags, the four batch calls on a
// HASH map (counts written back, the final ENOENT, option checks, a QUEUE), and closed or bogus
// descriptors. Every call's return value and errno are checked against fixed expectations; the
// kernel's are compared where it is there. Where xmaps differs on purpose (map_ifindex of an
// existing device, a NULL batch count, which libbpf dereferences) the test says so.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <net/if.h>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>
#include <xmaps/bpf.h>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "support/libbpf_calls.h"

// xmaps' option structs have libbpf 1.1's layout, so the same bytes go to both.
XMAPS_CHECK_LIBBPF_OPTS_LAYOUT();

namespace {

namespace libbpf = xmaps::testing::libbpf;
using Result = libbpf::Result;

constexpr int kEnotsupp = 524;       // ENOTSUPP: kernel-internal, not in <errno.h>
constexpr int kNeverOpen = 1 << 20;  // above any RLIMIT_NOFILE here: never an open descriptor

// What an xmaps call returned, and errno right after it (0 when it succeeded).
Result outcome(int rc) {
  return {rc, rc < 0 ? errno : 0};
}

std::string str(const Result& r) {
  return "rc " + std::to_string(r.rc) + ", errno " + xmaps::testing::errno_name(r.err);
}

// Whether libbpf and bpf() are both here; else *why.
bool kernel_here(std::string* why) {
  return libbpf::available(why) && xmaps::testing::bpf_available(why);
}

// An fd is an fd: what matters is that both made one. Failures must agree exactly.
bool same(const Result& a, const Result& b) {
  return (a.rc >= 0 && b.rc >= 0) || (a.rc == b.rc && a.err == b.err);
}

// ---- bpf_map_create -----------------------------------------------------------------------------

// Options bytes: a bpf_map_create_opts, then `tail` more bytes (a newer caller's struct); `sz`
// as given (LIBBPF_OPTS sets sizeof).
std::vector<unsigned char> opts_bytes(const bpf_map_create_opts& o,
                                      std::vector<unsigned char> tail = {}) {
  std::vector<unsigned char> b(sizeof(o) + tail.size());
  std::memcpy(b.data(), &o, sizeof(o));
  if (!tail.empty())  // memcpy from an empty vector's data() (null) is undefined
    std::memcpy(b.data() + sizeof(o), tail.data(), tail.size());
  return b;
}

struct CreateCase {
  const char* what;
  enum bpf_map_type type;
  const char* name;
  __u32 key_size;
  __u32 value_size;
  __u32 max_entries;
  std::optional<std::vector<unsigned char>> opts;  // nullopt: NULL opts
  int expected;                                    // 0: an fd; else -errno
};

Result xmaps_create(const CreateCase& c) {
  const auto* o = c.opts ? reinterpret_cast<const bpf_map_create_opts*>(c.opts->data()) : nullptr;
  errno = 0;
  return outcome(bpf_map_create(c.type, c.name, c.key_size, c.value_size, c.max_entries, o));
}

Result kernel_create(const CreateCase& c) {
  return libbpf::map_create(static_cast<std::uint32_t>(c.type), c.name, c.key_size, c.value_size,
                            c.max_entries, c.opts ? c.opts->data() : nullptr);
}

std::vector<CreateCase> create_cases(int open_non_btf_fd) {
  auto with = [](auto set) {
    LIBBPF_OPTS(bpf_map_create_opts, o);
    set(o);
    return std::optional<std::vector<unsigned char>>(opts_bytes(o));
  };
  auto sized = [](std::size_t sz, __u32 map_flags) {
    bpf_map_create_opts o = {};
    o.sz = sz;
    o.map_flags = map_flags;
    return std::optional<std::vector<unsigned char>>(opts_bytes(o));
  };
  auto longer = [](unsigned char tail_byte) {
    LIBBPF_OPTS(bpf_map_create_opts, o);
    o.sz = sizeof(o) + 8;
    return std::optional<std::vector<unsigned char>>(
        opts_bytes(o, {0, 0, 0, tail_byte, 0, 0, 0, 0}));
  };
  const auto none = std::optional<std::vector<unsigned char>>();
  const auto hash = BPF_MAP_TYPE_HASH;
  const auto btf_fd = static_cast<__u32>(open_non_btf_fd);
  return {
      {"LIBBPF_OPTS, BPF_F_NO_PREALLOC, HASH", hash, "flows", 4, 8, 16,
       with([](auto& o) { o.map_flags = BPF_F_NO_PREALLOC; }), 0},
      {"BPF_F_NO_PREALLOC, LRU_HASH", BPF_MAP_TYPE_LRU_HASH, "lru", 4, 8, 16,
       with([](auto& o) { o.map_flags = BPF_F_NO_PREALLOC; }), -kEnotsupp},
      {"an unknown map flag", hash, "h", 4, 8, 16, with([](auto& o) { o.map_flags = 1U << 20; }),
       -EINVAL},
      {"no options", hash, "h", 4, 8, 16, none, 0},
      {"sz 0", hash, "h", 4, 8, 16, sized(0, 0), -EINVAL},
      {"sz 4", hash, "h", 4, 8, 16, sized(4, 0), -EINVAL},
      {"sz 8: map_flags beyond it are not read", hash, "h", 4, 8, 16, sized(8, 1U << 20), 0},
      {"sz 28: map_flags (28..32) beyond it", hash, "h", 4, 8, 16, sized(28, 1U << 20), 0},
      {"a longer struct, zero beyond ours", hash, "h", 4, 8, 16, longer(0), 0},
      {"a longer struct, non-zero beyond ours", hash, "h", 4, 8, 16, longer(1), -EINVAL},
      {"btf_fd without a type id: not read", hash, "h", 4, 8, 16,
       with([](auto& o) { o.btf_fd = kNeverOpen; }), 0},
      {"a BTF value type, btf_fd not open", hash, "h", 4, 8, 16, with([](auto& o) {
         o.btf_fd = kNeverOpen;
         o.btf_value_type_id = 1;
       }),
       -EBADF},
      {"a BTF value type, btf_fd open but not BTF", hash, "h", 4, 8, 16, with([btf_fd](auto& o) {
         o.btf_fd = btf_fd;
         o.btf_value_type_id = 1;
       }),
       -EINVAL},
      {"a BTF key type without a value type", hash, "h", 4, 8, 16,
       with([](auto& o) { o.btf_key_type_id = 1; }), -EINVAL},
      {"btf_vmlinux_value_type_id (STRUCT_OPS only)", hash, "h", 4, 8, 16,
       with([](auto& o) { o.btf_vmlinux_value_type_id = 1; }), -EINVAL},
      {"inner_map_fd on a HASH: not read", hash, "h", 4, 8, 16,
       with([](auto& o) { o.inner_map_fd = kNeverOpen; }), 0},
      {"map_extra (BLOOM_FILTER only)", hash, "h", 4, 8, 16, with([](auto& o) { o.map_extra = 1; }),
       -EINVAL},
      {"map_ifindex of no device", hash, "h", 4, 8, 16,
       with([](auto& o) { o.map_ifindex = 999999; }), -EINVAL},
      {"numa_node without BPF_F_NUMA_NODE: not read", hash, "h", 4, 8, 16,
       with([](auto& o) { o.numa_node = 255; }), 0},
      {"BPF_F_NUMA_NODE, node 255 (not online)", hash, "h", 4, 8, 16, with([](auto& o) {
         o.map_flags = BPF_F_NUMA_NODE;
         o.numa_node = 255;
       }),
       -EINVAL},
      {"name with '.', '_' and digits", hash, "my.map_1", 4, 8, 16, none, 0},
      {"name with '-'", hash, "my-map", 4, 8, 16, none, -EINVAL},
      {"name with ' '", hash, "my map", 4, 8, 16, none, -EINVAL},
      {"empty name", hash, "", 4, 8, 16, none, 0},
      {"NULL name", hash, nullptr, 4, 8, 16, none, 0},
      {"long name: only 15 bytes are passed", hash, "a_long_map_name-is_cut", 4, 8, 16, none, 0},
      {"long name, '-' within the first 15", hash, "a_long_map_na-e_is_cut", 4, 8, 16, none,
       -EINVAL},
      {"bad name, but the map's own check first", BPF_MAP_TYPE_LRU_HASH, "b-d", 4, 8, 16,
       with([](auto& o) { o.map_flags = BPF_F_NO_PREALLOC; }), -kEnotsupp},
      {"bad name before the BTF lookup", hash, "b-d", 4, 8, 16, with([](auto& o) {
         o.btf_fd = kNeverOpen;
         o.btf_value_type_id = 1;
       }),
       -EINVAL},
      {"max_entries 0", hash, "h", 4, 8, 0, none, -EINVAL},
  };
}

TEST(BpfUserApi, MapCreateOptionsAsLibbpfAndTheKernelTakeThem) {
  std::string why;
  const bool kernel = kernel_here(&why);
  if (!kernel)
    std::cout << "[          ] xmaps only: " << why << '\n';
  const int non_btf = bpf_map_create(BPF_MAP_TYPE_ARRAY, "not_btf", 4, 4, 1, nullptr);
  ASSERT_GE(non_btf, 0);  // an open descriptor that is no BTF object, for xmaps and the kernel
  for (const CreateCase& c : create_cases(non_btf)) {
    SCOPED_TRACE(c.what);
    const Result x = xmaps_create(c);
    if (c.expected == 0) {
      EXPECT_GE(x.rc, 0) << str(x);
      EXPECT_EQ(x.err, 0);
    } else {
      EXPECT_EQ(x.rc, c.expected) << str(x);
      EXPECT_EQ(x.err, -c.expected);
    }
    if (x.rc >= 0) {
      EXPECT_EQ(close(x.rc), 0);
    }
    if (kernel) {
      const Result k = kernel_create(c);
      EXPECT_TRUE(same(x, k)) << "xmaps: " << str(x) << "; kernel: " << str(k);
      if (k.rc >= 0)
        close(k.rc);
    }
  }
  EXPECT_EQ(close(non_btf), 0);
}

// The one option where xmaps knowingly differs: no xmaps map can be offloaded, so map_ifindex is
// EINVAL for any device; the kernel says EOPNOTSUPP for a device without BPF offload ops (lo)
// and EINVAL for one with them but no offload device.
TEST(BpfUserApi, MapIfindexOfAnExistingDeviceIsEinval) {
  const unsigned lo = if_nametoindex("lo");
  if (lo == 0)
    GTEST_SKIP() << "no loopback device";
  LIBBPF_OPTS(bpf_map_create_opts, o, .map_ifindex = lo);
  errno = 0;
  EXPECT_EQ(bpf_map_create(BPF_MAP_TYPE_HASH, "offload", 4, 8, 16, &o), -EINVAL);
  EXPECT_EQ(errno, EINVAL);
}

// ---- bpf_map_lookup_elem_flags ------------------------------------------------------------------

TEST(BpfUserApi, LookupElemFlagsTakesZeroAndRefusesBpfFLock) {
  std::string why;
  const bool kernel = kernel_here(&why);
  const int x_hash = bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 8, nullptr);
  const int x_array = bpf_map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 4, 8, nullptr);
  ASSERT_GE(x_hash, 0);
  ASSERT_GE(x_array, 0);
  int k_hash = -1;
  int k_array = -1;
  if (kernel) {
    k_hash = libbpf::map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 8, nullptr).rc;
    k_array = libbpf::map_create(BPF_MAP_TYPE_ARRAY, "a", 4, 4, 8, nullptr).rc;
    ASSERT_GE(k_hash, 0);
    ASSERT_GE(k_array, 0);
  }
  const __u32 key = 1;
  const __u32 seven = 7;
  ASSERT_EQ(bpf_map_update_elem(x_hash, &key, &seven, BPF_ANY), 0);
  if (kernel) {
    ASSERT_EQ(libbpf::map_update_elem(k_hash, &key, &seven, BPF_ANY).rc, 0);
  }

  struct Call {
    const char* what;
    bool array;
    __u32 key;
    __u64 flags;
    int expected;
  };
  const Call calls[] = {
      {"flags 0", false, 1, 0, 0},
      {"flags 0, a missing key", false, 2, 0, -ENOENT},
      {"BPF_F_LOCK without a bpf_spin_lock", false, 1, BPF_F_LOCK, -EINVAL},
      {"BPF_F_LOCK, a missing key: the flag is checked first", false, 2, BPF_F_LOCK, -EINVAL},
      {"an unknown flag", false, 1, 8, -EINVAL},
      {"BPF_F_LOCK on an ARRAY", true, 1, BPF_F_LOCK, -EINVAL},
      {"flags 0 on an ARRAY", true, 1, 0, 0},
  };
  for (const Call& c : calls) {
    SCOPED_TRACE(c.what);
    __u32 value = 0xdead;
    errno = 0;
    const Result x =
        outcome(bpf_map_lookup_elem_flags(c.array ? x_array : x_hash, &c.key, &value, c.flags));
    EXPECT_EQ(x.rc, c.expected) << str(x);
    EXPECT_EQ(x.err, -c.expected);
    if (c.expected == 0) {
      EXPECT_EQ(value, c.array ? 0U : 7U);
    }
    if (kernel) {
      __u32 kvalue = 0xdead;
      const Result k =
          libbpf::map_lookup_elem_flags(c.array ? k_array : k_hash, &c.key, &kvalue, c.flags);
      EXPECT_TRUE(same(x, k)) << "xmaps: " << str(x) << "; kernel: " << str(k);
      EXPECT_EQ(value, kvalue);
    }
  }
  for (const int fd : {x_hash, x_array, k_hash, k_array}) {
    if (fd >= 0)
      close(fd);
  }
}

// ---- the batch calls ------------------------------------------------------------------------

// The four batch calls through one side's functions.
struct Calls {
  virtual ~Calls() = default;
  virtual int create(enum bpf_map_type type, __u32 key_size, __u32 max_entries,
                     __u32 flags) const = 0;
  virtual Result lookup(int fd, void* in, void* out, void* keys, void* values, __u32* count,
                        const bpf_map_batch_opts* opts) const = 0;
  virtual Result lookup_and_delete(int fd, void* in, void* out, void* keys, void* values,
                                   __u32* count, const bpf_map_batch_opts* opts) const = 0;
  virtual Result update(int fd, const void* keys, const void* values, __u32* count,
                        const bpf_map_batch_opts* opts) const = 0;
  virtual Result erase(int fd, const void* keys, __u32* count,
                       const bpf_map_batch_opts* opts) const = 0;
  virtual Result get_next_key(int fd, const void* key, void* next) const = 0;
};

struct XmapsCalls : Calls {
  int create(enum bpf_map_type type, __u32 key_size, __u32 max_entries,
             __u32 flags) const override {
    LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
    return bpf_map_create(type, "batch", key_size, 4, max_entries, &o);
  }
  Result lookup(int fd, void* in, void* out, void* keys, void* values, __u32* count,
                const bpf_map_batch_opts* opts) const override {
    errno = 0;
    return outcome(bpf_map_lookup_batch(fd, in, out, keys, values, count, opts));
  }
  Result lookup_and_delete(int fd, void* in, void* out, void* keys, void* values, __u32* count,
                           const bpf_map_batch_opts* opts) const override {
    errno = 0;
    return outcome(bpf_map_lookup_and_delete_batch(fd, in, out, keys, values, count, opts));
  }
  Result update(int fd, const void* keys, const void* values, __u32* count,
                const bpf_map_batch_opts* opts) const override {
    errno = 0;
    return outcome(bpf_map_update_batch(fd, keys, values, count, opts));
  }
  Result erase(int fd, const void* keys, __u32* count,
               const bpf_map_batch_opts* opts) const override {
    errno = 0;
    return outcome(bpf_map_delete_batch(fd, keys, count, opts));
  }
  Result get_next_key(int fd, const void* key, void* next) const override {
    errno = 0;
    return outcome(bpf_map_get_next_key(fd, key, next));
  }
};

struct KernelCalls : Calls {
  int create(enum bpf_map_type type, __u32 key_size, __u32 max_entries,
             __u32 flags) const override {
    LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
    return libbpf::map_create(type, "batch", key_size, 4, max_entries, &o).rc;
  }
  Result lookup(int fd, void* in, void* out, void* keys, void* values, __u32* count,
                const bpf_map_batch_opts* opts) const override {
    return libbpf::map_lookup_batch(fd, in, out, keys, values, count, opts);
  }
  Result lookup_and_delete(int fd, void* in, void* out, void* keys, void* values, __u32* count,
                           const bpf_map_batch_opts* opts) const override {
    return libbpf::map_lookup_and_delete_batch(fd, in, out, keys, values, count, opts);
  }
  Result update(int fd, const void* keys, const void* values, __u32* count,
                const bpf_map_batch_opts* opts) const override {
    return libbpf::map_update_batch(fd, keys, values, count, opts);
  }
  Result erase(int fd, const void* keys, __u32* count,
               const bpf_map_batch_opts* opts) const override {
    return libbpf::map_delete_batch(fd, keys, count, opts);
  }
  Result get_next_key(int fd, const void* key, void* next) const override {
    return libbpf::map_get_next_key(fd, key, next);
  }
};

// One call of the script, as it came out.
struct Step {
  std::string what;
  int rc = 0;
  int err = 0;
  __u32 count = 0;            // as written back
  std::vector<__u32> keys;    // the first `count` keys out (lookups)
  std::vector<__u32> values;  // and values
  bool operator==(const Step&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Step& s) {
  os << s.what << ": rc " << s.rc << " errno " << xmaps::testing::errno_name(s.err) << " count "
     << s.count << " keys";
  for (const __u32 k : s.keys)
    os << ' ' << k;
  return os;
}

// The script, on a fresh 8-entry HASH of __u32 -> __u32 (BPF_F_ZERO_SEED, so that xmaps and the
// kernel put the keys in the same buckets and batch them alike).
std::vector<Step> batch_script(const Calls& c) {
  std::vector<Step> steps;
  const int fd = c.create(BPF_MAP_TYPE_HASH, 4, 8, BPF_F_ZERO_SEED);
  if (fd < 0)
    return {Step{"create", fd, 0, 0, {}, {}}};
  const LIBBPF_OPTS(bpf_map_batch_opts, no_flags);
  // `count` by reference: read after the call that is the argument before it wrote it back.
  auto record = [&](const char* what, Result r, const __u32& count, const __u32* keys,
                    const __u32* values) {
    Step s{what, r.rc, r.err, count, {}, {}};
    if (keys != nullptr && (r.rc == 0 || r.err == ENOENT)) {
      s.keys.assign(keys, keys + count);
      s.values.assign(values, values + count);
    }
    steps.push_back(s);
  };
  const __u32 keys[5] = {10, 11, 12, 13, 14};
  const __u32 values[5] = {100, 110, 120, 130, 140};
  __u32 count = 5;
  record("update 5", c.update(fd, keys, values, &count, &no_flags), count, nullptr, nullptr);
  count = 0;
  record("update 0", c.update(fd, keys, values, &count, nullptr), count, nullptr, nullptr);

  // A walk in batches of 2 from the start, until ENOENT.
  __u32 out_keys[8] = {};
  __u32 out_values[8] = {};
  __u64 token = 0;
  __u64 next = 0;
  count = 2;
  Result r = c.lookup(fd, nullptr, &token, out_keys, out_values, &count, nullptr);
  record("lookup 2 from the start", r, count, out_keys, out_values);
  for (int i = 0; i < 8 && r.rc == 0; ++i) {
    count = 2;
    r = c.lookup(fd, &token, &next, out_keys, out_values, &count, &no_flags);
    record("lookup 2 more", r, count, out_keys, out_values);
    token = next;
  }
  count = 8;
  record("lookup 8 from the start",
         c.lookup(fd, nullptr, &token, out_keys, out_values, &count, nullptr), count, out_keys,
         out_values);
  count = 0;
  record("lookup 0", c.lookup(fd, nullptr, &token, out_keys, out_values, &count, nullptr), count,
         nullptr, nullptr);

  // Options libbpf or the kernel refuse.
  bpf_map_batch_opts bad = {};
  bad.sz = 0;
  count = 2;
  record("lookup, opts sz 0", c.lookup(fd, nullptr, &token, out_keys, out_values, &count, &bad),
         count, nullptr, nullptr);
  LIBBPF_OPTS(bpf_map_batch_opts, lock, .elem_flags = BPF_F_LOCK);
  count = 2;
  record("lookup, BPF_F_LOCK", c.lookup(fd, nullptr, &token, out_keys, out_values, &count, &lock),
         count, nullptr, nullptr);
  LIBBPF_OPTS(bpf_map_batch_opts, flags, .flags = 1);
  count = 2;
  record("lookup, flags 1", c.lookup(fd, nullptr, &token, out_keys, out_values, &count, &flags),
         count, nullptr, nullptr);
  // The kernel's update and delete batches do not look at `flags`: this rewrites 10 and 11.
  count = 2;
  record("update, flags 1", c.update(fd, keys, values, &count, &flags), count, nullptr, nullptr);

  // Delete 10, then stop at the missing 99: 11 stays.
  const __u32 doomed[3] = {10, 99, 11};
  count = 3;
  record("delete 10 99 11", c.erase(fd, doomed, &count, nullptr), count, nullptr, nullptr);
  count = 0;
  record("delete 0", c.erase(fd, doomed, &count, nullptr), count, nullptr, nullptr);
  // Take the rest.
  count = 8;
  record("lookup_and_delete 8",
         c.lookup_and_delete(fd, nullptr, &token, out_keys, out_values, &count, nullptr), count,
         out_keys, out_values);
  __u32 first = 0;
  record("get_next_key after", c.get_next_key(fd, nullptr, &first), 0, nullptr, nullptr);
  count = 8;
  record("lookup_and_delete, empty",
         c.lookup_and_delete(fd, nullptr, &token, out_keys, out_values, &count, &no_flags), count,
         out_keys, out_values);
  close(fd);

  // A QUEUE has no batch operations.
  const int queue = c.create(BPF_MAP_TYPE_QUEUE, 0, 8, 0);
  count = 1;
  record("update, QUEUE", c.update(queue, nullptr, values, &count, nullptr), count, nullptr,
         nullptr);
  count = 1;
  record("lookup, QUEUE", c.lookup(queue, nullptr, &token, out_keys, out_values, &count, nullptr),
         count, nullptr, nullptr);
  close(queue);
  return steps;
}

const Step* find(const std::vector<Step>& steps, const std::string& what) {
  for (const Step& s : steps) {
    if (s.what == what)
      return &s;
  }
  return nullptr;
}

TEST(BpfUserApi, BatchCallsOnAHashMapWriteBackCountsAndEndWithEnoent) {
  const std::vector<Step> x = batch_script(XmapsCalls());
  ASSERT_GT(x.size(), 1U) << x.front();
  const Step* s = find(x, "update 5");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->rc, 0);
  EXPECT_EQ(s->count, 5U);
  EXPECT_EQ(find(x, "update 0")->rc, 0);
  EXPECT_EQ(find(x, "update 0")->count, 0U);

  // The walk: every key once with its value, 2 at most a call, the last call -ENOENT.
  std::set<__u32> seen;
  const Step* last = nullptr;
  for (const Step& step : x) {
    if (step.what != "lookup 2 from the start" && step.what != "lookup 2 more")
      continue;
    EXPECT_LE(step.count, 2U);
    for (std::size_t i = 0; i < step.keys.size(); ++i) {
      EXPECT_TRUE(seen.insert(step.keys[i]).second) << "key " << step.keys[i] << " twice";
      EXPECT_EQ(step.values[i], step.keys[i] * 10);
    }
    last = &step;
  }
  EXPECT_EQ(seen, (std::set<__u32>{10, 11, 12, 13, 14}));
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->rc, -ENOENT);
  EXPECT_EQ(last->err, ENOENT);

  s = find(x, "lookup 8 from the start");
  EXPECT_EQ(s->rc, -ENOENT);  // all of it in one call, and nothing after
  EXPECT_EQ(s->err, ENOENT);
  EXPECT_EQ(s->count, 5U);
  EXPECT_EQ(find(x, "lookup 0")->rc, 0);
  EXPECT_EQ(find(x, "lookup 0")->count, 0U);

  for (const char* refused : {"lookup, opts sz 0", "lookup, BPF_F_LOCK", "lookup, flags 1"}) {
    SCOPED_TRACE(refused);
    s = find(x, refused);
    EXPECT_EQ(s->rc, -EINVAL);
    EXPECT_EQ(s->err, EINVAL);
  }

  s = find(x, "update, flags 1");
  EXPECT_EQ(s->rc, 0);
  EXPECT_EQ(s->count, 2U);
  s = find(x, "delete 10 99 11");
  EXPECT_EQ(s->rc, -ENOENT);
  EXPECT_EQ(s->count, 1U);  // 10 went; the batch stopped at 99
  EXPECT_EQ(find(x, "delete 0")->rc, 0);
  s = find(x, "lookup_and_delete 8");
  EXPECT_EQ(s->rc, -ENOENT);
  EXPECT_EQ(s->count, 4U);
  EXPECT_EQ(std::set<__u32>(s->keys.begin(), s->keys.end()), (std::set<__u32>{11, 12, 13, 14}));
  EXPECT_EQ(find(x, "get_next_key after")->rc, -ENOENT);  // empty
  s = find(x, "lookup_and_delete, empty");
  EXPECT_EQ(s->rc, -ENOENT);
  EXPECT_EQ(s->count, 0U);
  for (const char* queue : {"update, QUEUE", "lookup, QUEUE"}) {
    SCOPED_TRACE(queue);
    s = find(x, queue);
    EXPECT_EQ(s->rc, -kEnotsupp);
    EXPECT_EQ(s->err, kEnotsupp);
  }

  std::string why;
  if (!kernel_here(&why))
    GTEST_SKIP() << why;
  // Call by call, the kernel's results: return values, errno, counts, keys and values.
  EXPECT_EQ(x, batch_script(KernelCalls()));
}

// libbpf dereferences `count` (a NULL one crashes the caller); the kernel faults on a bad user
// pointer, and xmaps gives that: -EFAULT with errno set, from each of the four calls.
TEST(BpfUserApi, NullBatchCountIsEfault) {
  const int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 8, nullptr);
  ASSERT_GE(fd, 0);
  __u32 keys[2] = {1, 2};
  __u32 values[2] = {3, 4};
  __u64 token = 0;
  errno = 0;
  EXPECT_EQ(bpf_map_update_batch(fd, keys, values, nullptr, nullptr), -EFAULT);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(bpf_map_lookup_batch(fd, nullptr, &token, keys, values, nullptr, nullptr), -EFAULT);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(bpf_map_lookup_and_delete_batch(fd, nullptr, &token, keys, values, nullptr, nullptr),
            -EFAULT);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(bpf_map_delete_batch(fd, keys, nullptr, nullptr), -EFAULT);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(close(fd), 0);
}

// ---- descriptors ------------------------------------------------------------------------------

// Every call on `fd`, with its result.
std::vector<std::pair<std::string, Result>> every_call_on(int fd, bool kernel) {
  __u32 key = 1;
  __u32 value = 2;
  __u32 count = 1;
  __u64 token = 0;
  const bpf_map_batch_opts zero_sz = {};  // sz 0
  std::vector<std::pair<std::string, Result>> out;
  auto add = [&](const char* what, Result r) { out.emplace_back(what, r); };
  if (kernel) {
    add("update_elem", libbpf::map_update_elem(fd, &key, &value, BPF_ANY));
    add("lookup_elem_flags", libbpf::map_lookup_elem_flags(fd, &key, &value, 0));
    add("delete_elem", libbpf::map_delete_elem(fd, &key));
    add("get_next_key", libbpf::map_get_next_key(fd, nullptr, &key));
    add("lookup_and_delete_elem", libbpf::map_lookup_and_delete_elem(fd, &key, &value));
    add("lookup_batch",
        libbpf::map_lookup_batch(fd, nullptr, &token, &key, &value, &count, nullptr));
    add("lookup_and_delete_batch",
        libbpf::map_lookup_and_delete_batch(fd, nullptr, &token, &key, &value, &count, nullptr));
    add("update_batch", libbpf::map_update_batch(fd, &key, &value, &count, nullptr));
    add("delete_batch", libbpf::map_delete_batch(fd, &key, &count, nullptr));
    add("delete_batch, opts sz 0", libbpf::map_delete_batch(fd, &key, &count, &zero_sz));
    return out;
  }
  errno = 0;
  add("update_elem", outcome(bpf_map_update_elem(fd, &key, &value, BPF_ANY)));
  errno = 0;
  add("lookup_elem_flags", outcome(bpf_map_lookup_elem_flags(fd, &key, &value, 0)));
  errno = 0;
  add("delete_elem", outcome(bpf_map_delete_elem(fd, &key)));
  errno = 0;
  add("get_next_key", outcome(bpf_map_get_next_key(fd, nullptr, &key)));
  errno = 0;
  add("lookup_and_delete_elem", outcome(bpf_map_lookup_and_delete_elem(fd, &key, &value)));
  errno = 0;
  add("lookup_batch",
      outcome(bpf_map_lookup_batch(fd, nullptr, &token, &key, &value, &count, nullptr)));
  errno = 0;
  add("lookup_and_delete_batch",
      outcome(bpf_map_lookup_and_delete_batch(fd, nullptr, &token, &key, &value, &count, nullptr)));
  errno = 0;
  add("update_batch", outcome(bpf_map_update_batch(fd, &key, &value, &count, nullptr)));
  errno = 0;
  add("delete_batch", outcome(bpf_map_delete_batch(fd, &key, &count, nullptr)));
  errno = 0;
  add("delete_batch, opts sz 0", outcome(bpf_map_delete_batch(fd, &key, &count, &zero_sz)));
  return out;
}

void expect_ebadf_from_every_call(const std::vector<std::pair<std::string, Result>>& results) {
  ASSERT_EQ(results.size(), 10U);
  for (const auto& [what, r] : results) {
    SCOPED_TRACE(what);
    // libbpf checks the options before the descriptor: EINVAL for sz 0, whatever the fd.
    const int expected = what == "delete_batch, opts sz 0" ? EINVAL : EBADF;
    EXPECT_EQ(r.rc, -expected) << str(r);
    EXPECT_EQ(r.err, expected);
  }
}

TEST(BpfUserApi, ClosedAndBogusDescriptorsGiveEbadf) {
  const int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 8, nullptr);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(close(fd), 0);
  {
    SCOPED_TRACE("xmaps, closed");
    expect_ebadf_from_every_call(every_call_on(fd, false));
  }
  for (const int bogus : {-1, kNeverOpen}) {
    SCOPED_TRACE("xmaps, fd " + std::to_string(bogus));
    expect_ebadf_from_every_call(every_call_on(bogus, false));
  }
  std::string why;
  if (!kernel_here(&why))
    GTEST_SKIP() << why;
  const Result k = libbpf::map_create(BPF_MAP_TYPE_HASH, "h", 4, 4, 8, nullptr);
  ASSERT_GE(k.rc, 0);
  ASSERT_EQ(close(k.rc), 0);
  {
    SCOPED_TRACE("kernel, closed");
    expect_ebadf_from_every_call(every_call_on(k.rc, true));
  }
  for (const int bogus : {-1, kNeverOpen}) {
    SCOPED_TRACE("kernel, fd " + std::to_string(bogus));
    expect_ebadf_from_every_call(every_call_on(bogus, true));
  }
}

}  // namespace
