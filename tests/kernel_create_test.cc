// SPDX-License-Identifier: MIT
//
// Create-time checks compared with the kernel: for every map type and many (key_size,
// value_size, max_entries, flags, numa_node) combinations, xmaps::validate() and
// xmaps::create_map() must fail with the errno BPF_MAP_CREATE fails with, and succeed when it
// succeeds. Then BPF_F_RDONLY / BPF_F_WRONLY (and the _PROG variants, which do not restrict the
// syscall side): every command, with valid and invalid flags, must return what the kernel
// returns (permission checks come before some flag checks and after others).
//
// Safety: the kernel allocates a map's memory at creation, and a huge preallocated map can
// drive the machine out of memory (2^31 entries is accepted by the checks). Every combination
// is screened by kernel_alloc_bytes() below and skipped unless the kernel rejects it before
// allocating or it needs at most 256 MiB.
//
// Needs bpf(BPF_MAP_CREATE): root or CAP_BPF (+ CAP_SYS_ADMIN for BPF_F_ZERO_SEED); skips
// otherwise. Map types xmaps does not build yet are skipped with a message.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <linux/bpf.h>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"
#include "xmaps/map.h"

namespace {

using xmaps::BatchArgs;
using xmaps::Errc;
using xmaps::MapSpec;
using xmaps::MapType;
using xmaps::testing::errno_name;
using xmaps::testing::KernelMap;
using xmaps::testing::type_name;
namespace map_flag = xmaps::map_flag;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t kKmallocMax = 4ULL << 20;               // KMALLOC_MAX_SIZE (x86-64)
constexpr std::uint64_t kHtabKeyValueLimit = kKmallocMax - 48;  // - sizeof(struct htab_elem)
constexpr std::uint64_t kAllocCap = 256ULL << 20;

std::string flags_name(std::uint32_t f) {
  static const char* const kNames[] = {
      "NO_PREALLOC",      "NO_COMMON_LRU",  "NUMA_NODE",     "RDONLY",      "WRONLY",
      "STACK_BUILD_ID",   "ZERO_SEED",      "RDONLY_PROG",   "WRONLY_PROG", "CLONE",
      "MMAPABLE",         "PRESERVE_ELEMS", "INNER_MAP",     "LINK",        "PATH_FD",
      "VTYPE_BTF_OBJ_FD", "TOKEN_FD",       "SEGV_ON_FAULT", "NO_USER_CONV"};
  if (f == 0)
    return "0";
  std::string s;
  for (unsigned b = 0; b < 32; ++b) {
    if ((f & (1U << b)) == 0)
      continue;
    if (!s.empty())
      s += "|";
    s += b < std::size(kNames) ? kNames[b] : "bit" + std::to_string(b);
  }
  return s;
}

std::string spec_name(const MapSpec& s) {
  std::ostringstream o;
  o << type_name(s.type) << " key=" << s.key_size << " value=" << s.value_size
    << " max=" << s.max_entries << " flags=" << flags_name(s.flags) << " numa=" << s.numa_node;
  return o.str();
}

bool is_hash_family(MapType t) {
  return t == MapType::hash || t == MapType::percpu_hash || t == MapType::lru_hash ||
         t == MapType::lru_percpu_hash;
}
bool is_percpu(MapType t) {
  return t == MapType::percpu_hash || t == MapType::percpu_array || t == MapType::lru_percpu_hash;
}

// NR_CPUS of the running kernel (cpumap's max_entries limit).
std::uint32_t kernel_nr_cpus() {
  std::ifstream in("/sys/devices/system/cpu/kernel_max");
  std::uint32_t max = 0;
  if (in >> max)
    return max + 1;
  return 8192;
}

// An upper bound of what BPF_MAP_CREATE would allocate for `s`, or 0 when the kernel rejects
// `s` before allocating anything big (the size checks this test is about).
std::uint64_t kernel_alloc_bytes(const MapSpec& s) {
  const std::uint64_t ncpus = static_cast<std::uint64_t>(xmaps::testing::kernel_possible_cpus());
  const std::uint64_t k8 = (static_cast<std::uint64_t>(s.key_size) + 7) / 8 * 8;
  const std::uint64_t v8 = (static_cast<std::uint64_t>(s.value_size) + 7) / 8 * 8;
  const std::uint64_t max = s.max_entries;
  switch (s.type) {
    case MapType::hash:
    case MapType::percpu_hash:
    case MapType::lru_hash:
    case MapType::lru_percpu_hash: {
      if (static_cast<std::uint64_t>(s.key_size) + s.value_size >= kHtabKeyValueLimit)
        return 0;
      std::uint64_t entries = max;
      if ((s.flags & map_flag::kNoCommonLru) != 0)
        entries = (max + ncpus - 1) / ncpus * ncpus;
      if (entries > (1ULL << 31))
        return 0;
      std::uint64_t buckets = 1;
      while (buckets < entries)
        buckets <<= 1;
      const bool percpu = is_percpu(s.type);
      const std::uint64_t elem = 64 + k8 + (percpu ? 8 + ncpus * v8 : v8);
      const bool prealloc = (s.flags & map_flag::kNoPrealloc) == 0;
      return buckets * 16 + (prealloc ? (entries + ncpus) * elem : 0);
    }
    case MapType::array:
    case MapType::percpu_array:
      if (s.value_size > 0x7fffffffU)
        return 0;
      return max * v8 * (s.type == MapType::percpu_array ? ncpus : 1) + max * 8;
    case MapType::queue:
    case MapType::stack:
      if (s.value_size > kKmallocMax)
        return 0;
      return (max + 1) * s.value_size;
    case MapType::cpumap:
      if (max > kernel_nr_cpus())
        return 0;
      return max * 8;
  }
  return 0;
}

// A spec of `type` that both sides should accept.
MapSpec basic_spec(MapType type) {
  MapSpec s;
  s.type = type;
  s.key_size = (type == MapType::queue || type == MapType::stack) ? 0 : 4;
  s.value_size = type == MapType::cpumap ? 4 : 8;
  s.max_entries = 4;
  return s;
}

bool xmaps_builds(MapType type) {
  Errc e = Errc::ok;
  return xmaps::create_map(basic_spec(type), &e) != nullptr;
}

// Compares one spec; returns "" or a description of the difference.
std::string compare_create(const MapSpec& s, int* skipped) {
  if (kernel_alloc_bytes(s) > kAllocCap) {
    ++*skipped;
    return "";
  }
  int kerr = 0;
  { const KernelMap k = KernelMap::create(s, &kerr); }
  if (kerr == EPERM && (s.flags & map_flag::kZeroSeed) != 0) {
    ++*skipped;  // BPF_F_ZERO_SEED without CAP_SYS_ADMIN: not a map property
    return "";
  }
  const Errc verr = xmaps::validate(s);
  std::string out;
  if (static_cast<int>(verr) != kerr) {
    out += "validate() " + errno_name(static_cast<int>(verr)) + ";";
  }
  // create_map only where validate agrees with the kernel (else a spec the kernel refuses as too
  // big could make xmaps allocate it).
  if (static_cast<int>(verr) == kerr) {
    Errc cerr = Errc::ok;
    const auto map = xmaps::create_map(s, &cerr);
    if (static_cast<int>(cerr) != kerr || (map != nullptr) != (kerr == 0)) {
      out += " create_map() " + errno_name(static_cast<int>(cerr)) +
             (map != nullptr ? " (map made)" : " (no map)") + ";";
    }
  }
  if (out.empty())
    return "";
  return spec_name(s) + ": kernel " + errno_name(kerr) + ", xmaps " + out;
}

class KernelCreate : public ::testing::TestWithParam<MapType> {
 protected:
  void SetUp() override {
    std::string why;
    if (!xmaps::testing::bpf_available(&why))
      GTEST_SKIP() << why;
    if (!xmaps_builds(GetParam())) {
      GTEST_SKIP() << "xmaps::create_map does not build " << type_name(GetParam()) << " maps yet ("
                   << spec_name(basic_spec(GetParam())) << " refused)";
    }
  }

  void check(const std::vector<MapSpec>& specs) {
    std::vector<std::string> bad;
    int skipped = 0;
    for (const MapSpec& s : specs) {
      std::string d = compare_create(s, &skipped);
      if (!d.empty())
        bad.push_back(std::move(d));
    }
    if (skipped != 0) {
      std::cout << "  (" << skipped << " of " << specs.size()
                << " specs skipped: the kernel would allocate > 256 MiB, or ZERO_SEED without "
                   "CAP_SYS_ADMIN)\n";
    }
    if (!bad.empty()) {
      std::ostringstream msg;
      msg << bad.size() << " of " << specs.size() << " specs differ:\n";
      for (std::size_t i = 0; i < bad.size() && i < 80; ++i)
        msg << "  " << bad[i] << "\n";
      if (bad.size() > 80)
        msg << "  ... and " << bad.size() - 80 << " more\n";
      ADD_FAILURE() << msg.str();
    }
  }
};

// Sizes: zero, tiny, odd, ARRAY's required 4, key 513 (no 512-byte limit), the per-CPU limit
// (32768 after rounding to 8) on both sides. Flags 0.
TEST_P(KernelCreate, SizesMatchKernel) {
  const std::uint32_t keys[] = {0, 1, 3, 4, 5, 8, 13, 16, 513};
  const std::uint32_t values[] = {0, 1, 4, 8, 12, 32760, 32761, 32768, 32769};
  const std::uint32_t maxes[] = {0, 1, 3, 64};
  std::vector<MapSpec> specs;
  for (const auto k : keys) {
    for (const auto v : values) {
      for (const auto m : maxes) {
        MapSpec s;
        s.type = GetParam();
        s.key_size = k;
        s.value_size = v;
        s.max_entries = m;
        specs.push_back(s);
      }
    }
  }
  check(specs);
}

// Every single flag bit, every pair of the known bits, with a NUMA node or without.
TEST_P(KernelCreate, FlagsMatchKernel) {
  std::vector<std::uint32_t> flag_sets;
  for (unsigned b = 0; b < 32; ++b)
    flag_sets.push_back(1U << b);
  const unsigned known[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12};
  for (std::size_t i = 0; i < std::size(known); ++i) {
    for (std::size_t j = i + 1; j < std::size(known); ++j) {
      flag_sets.push_back((1U << known[i]) | (1U << known[j]));
    }
  }
  flag_sets.push_back(0);
  flag_sets.push_back(~0U);
  flag_sets.push_back(map_flag::kNoPrealloc | map_flag::kZeroSeed | map_flag::kRdonly);
  flag_sets.push_back(map_flag::kNoCommonLru | map_flag::kNumaNode | map_flag::kZeroSeed);
  flag_sets.push_back(map_flag::kMmapable | map_flag::kInnerMap | map_flag::kNumaNode);
  flag_sets.push_back(map_flag::kRdonlyProg | map_flag::kWronly);
  std::vector<MapSpec> specs;
  for (const std::uint32_t f : flag_sets) {
    for (const int numa : {-1, 0, 1, 64, -2}) {
      MapSpec s = basic_spec(GetParam());
      s.flags = f;
      s.numa_node = numa;
      specs.push_back(s);
    }
  }
  check(specs);
}

// The limits: hash key + value against KMALLOC_MAX_SIZE - sizeof(htab_elem), u32 overflow of
// the sum, ARRAY value > INT_MAX, QUEUE/STACK value > KMALLOC_MAX_SIZE, max_entries > 2^31
// (2^31 itself passes the check and is not tried: the kernel would allocate it), cpumap
// max_entries > NR_CPUS.
TEST_P(KernelCreate, LimitsMatchKernel) {
  const MapType t = GetParam();
  const auto lim = static_cast<std::uint32_t>(kHtabKeyValueLimit);
  struct Sz {
    std::uint32_t k, v, m;
  };
  std::vector<Sz> sizes = {
      {4, lim - 5, 1},
      {4, lim - 4, 1},
      {lim - 5, 4, 1},
      {lim - 4, 4, 1},
      {lim - 9, 8, 1},
      {lim - 8, 8, 1},
      {lim - 32769, 32768, 1},
      {lim - 32768, 32768, 1},
      {0xffffffffU, 2, 1},
      {4, 0xffffffffU, 1},
      {0x80000000U, 0x80000000U, 1},
      {4, 8, 0x80000001U},
      {4, 8, 0xffffffffU},
      {4, 0x7fffffffU, 0},
      {4, 0x80000000U, 1},
      {4, 0xffffffffU, 1},
      {4, 0xfffffff9U, 1},
      {4, 8U << 20, 1},
      {4, (4U << 20) + 1, 1},
      {0, 4U << 20, 1},
      {0, (4U << 20) + 1, 1},
      {0, 0xffffffffU, 1},
      {4, 4, kernel_nr_cpus()},
      {4, 4, kernel_nr_cpus() + 1},
      {4, 8, 0xffffffffU},
      {0, 4, 0xffffffffU},
  };
  std::vector<MapSpec> specs;
  for (const Sz& z : sizes) {
    for (const std::uint32_t f :
         {0U, map_flag::kNoPrealloc, map_flag::kNoCommonLru, map_flag::kNumaNode, 1U << 20}) {
      MapSpec s;
      s.type = t;
      s.key_size = z.k;
      s.value_size = z.v;
      s.max_entries = z.m;
      s.flags = f;
      specs.push_back(s);
    }
  }
  check(specs);
}

// Random combinations from the pools above, for the order of the checks (which error wins when
// several apply).
TEST_P(KernelCreate, RandomCombinationsMatchKernel) {
  std::mt19937_64 rng(0x637265617465ULL + static_cast<unsigned>(GetParam()));
  SCOPED_TRACE("seed " + std::to_string(0x637265617465ULL + static_cast<unsigned>(GetParam())));
  const std::uint32_t keys[] = {0, 1, 4, 8, 13, 513, 4194000, 0xffffffffU};
  const std::uint32_t values[] = {0, 1, 4, 8, 12, 32768, 32769, 4194000, 0x80000000U};
  const std::uint32_t maxes[] = {0, 1, 3, 64, 257, 0x80000001U, 0xffffffffU};
  const std::uint32_t bits[] = {1U << 0, 1U << 1, 1U << 2,  1U << 3,  1U << 4,  1U << 5, 1U << 6,
                                1U << 7, 1U << 8, 1U << 10, 1U << 11, 1U << 12, 1U << 20};
  const int numas[] = {-1, 0, 1};
  std::vector<MapSpec> specs;
  for (int i = 0; i < 1500; ++i) {
    MapSpec s;
    s.type = GetParam();
    s.key_size = keys[rng() % std::size(keys)];
    s.value_size = values[rng() % std::size(values)];
    s.max_entries = maxes[rng() % std::size(maxes)];
    const int nbits = static_cast<int>(rng() % 4);
    for (int b = 0; b < nbits; ++b)
      s.flags |= bits[rng() % std::size(bits)];
    s.numa_node = numas[rng() % std::size(numas)];
    specs.push_back(s);
  }
  check(specs);
}

INSTANTIATE_TEST_SUITE_P(Types, KernelCreate,
                         ::testing::Values(MapType::hash, MapType::percpu_hash, MapType::array,
                                           MapType::percpu_array, MapType::lru_hash,
                                           MapType::lru_percpu_hash, MapType::queue, MapType::stack,
                                           MapType::cpumap),
                         [](const ::testing::TestParamInfo<MapType>& p) {
                           return type_name(p.param);
                         });

// ---- BPF_F_RDONLY / BPF_F_WRONLY: every command -----------------------------------------------

struct AccessCase {
  MapType type;
  std::uint32_t access;
};

std::string access_name(const AccessCase& c) {
  std::string a = flags_name(c.access);
  std::transform(a.begin(), a.end(), a.begin(), [](char ch) { return ch == '|' ? '_' : ch; });
  return type_name(c.type) + "_" + a;
}

class KernelAccess : public ::testing::TestWithParam<AccessCase> {};

TEST_P(KernelAccess, EveryCommandMatchesKernel) {
  std::string why;
  if (!xmaps::testing::bpf_available(&why))
    GTEST_SKIP() << why;
  const AccessCase c = GetParam();
  if (!xmaps_builds(c.type)) {
    GTEST_SKIP() << "xmaps::create_map does not build " << type_name(c.type) << " maps yet";
  }
  MapSpec spec = basic_spec(c.type);
  spec.value_size = c.type == MapType::cpumap ? 4 : 12;
  spec.flags = c.access | (is_hash_family(c.type) ? map_flag::kZeroSeed : 0U);
  const bool keyless = c.type == MapType::queue || c.type == MapType::stack;

  int kerr = 0;
  KernelMap kmap = KernelMap::create(spec, &kerr);
  Errc xerr = Errc::ok;
  auto xmap = xmaps::create_map(spec, &xerr);
  ASSERT_EQ(errno_name(kerr), errno_name(static_cast<int>(xerr))) << spec_name(spec);
  if (kerr != 0)
    return;
  const std::size_t vs = kmap.value_buffer_size();
  ASSERT_EQ(vs, xmap->value_buffer_size());

  std::vector<std::string> bad;
  auto same = [&](const std::string& what, int k, Errc x, const Bytes& kb = {},
                  const Bytes& xb = {}, std::uint32_t kc = 0, std::uint32_t xc = 0) {
    if (k != static_cast<int>(x) || kb != xb || kc != xc) {
      bad.push_back(what + ": kernel " + errno_name(k) + " count " + std::to_string(kc) +
                    ", xmaps " + errno_name(static_cast<int>(x)) + " count " + std::to_string(xc) +
                    (kb != xb ? " (output bytes differ)" : ""));
    }
  };

  // Populate keys 0 and 1 where writes are allowed (both sides, results compared too).
  for (std::uint32_t i = 0; i < 2; ++i) {
    Bytes v(vs, static_cast<std::uint8_t>(0x40 + i));
    if (c.type == MapType::cpumap)
      v.assign(vs, 0);  // qsize 0 = delete: nothing to start
    const void* key = keyless ? nullptr : &i;
    same("populate update key " + std::to_string(i), kmap.update(key, v.data(), 0),
         xmap->update(key, v.data(), 0));
  }

  const std::uint64_t flag_values[] = {0, 1, 2, 3, 4, 1ULL << 32};
  for (const std::uint32_t key_index : {0U, 7U}) {  // present (if populated) / missing
    const void* key = keyless ? nullptr : &key_index;
    const std::string ks = keyless ? "nullptr" : std::to_string(key_index);
    for (const std::uint64_t f : flag_values) {
      const std::string fs = std::to_string(f);
      Bytes kv(vs, 0xaa);
      Bytes xv(vs, 0xaa);
      same("lookup(" + ks + ", flags " + fs + ")", kmap.lookup(key, kv.data(), f),
           xmap->lookup(key, xv.data(), f), kv, xv);
      const Bytes nv(vs, 0x17);
      same("update(" + ks + ", flags " + fs + ")", kmap.update(key, nv.data(), f),
           xmap->update(key, nv.data(), f));
      kv.assign(vs, 0xbb);
      xv.assign(vs, 0xbb);
      same("lookup_and_erase(" + ks + ", flags " + fs + ")",
           kmap.lookup_and_erase(key, kv.data(), f), xmap->lookup_and_erase(key, xv.data(), f), kv,
           xv);
    }
    same("erase(" + ks + ")", kmap.erase(key), xmap->erase(key));
    Bytes kn(8, 0xcc);
    Bytes xn(8, 0xcc);
    same("get_next_key(" + ks + ")", kmap.get_next_key(key, kn.data()),
         xmap->get_next_key(key, xn.data()), kn, xn);
    kn.assign(8, 0xcc);
    xn.assign(8, 0xcc);
    same("get_next_key(nullptr)", kmap.get_next_key(nullptr, kn.data()),
         xmap->get_next_key(nullptr, xn.data()), kn, xn);
  }

  // Batch commands: count 0 and 4, with and without bad elem_flags / flags.
  for (const std::uint32_t count : {0U, 4U}) {
    for (const std::uint64_t elem_flags : {0ULL, 4ULL, 1ULL}) {
      for (const std::uint64_t flags : {0ULL, 1ULL}) {
        const std::string args = "(count " + std::to_string(count) + ", elem_flags " +
                                 std::to_string(elem_flags) + ", flags " + std::to_string(flags) +
                                 ")";
        for (int cmd = 0; cmd < 4; ++cmd) {
          static const char* const kCmd[] = {"lookup_batch", "lookup_and_erase_batch",
                                             "update_batch", "erase_batch"};
          auto run = [&](auto&& call, Bytes& keys, Bytes& values, Bytes& token) {
            keys.assign(4 * 4, 0);
            for (std::uint32_t i = 0; i < 4; ++i)
              std::memcpy(keys.data() + 4 * i, &i, 4);
            values.assign(4 * vs, 0x33);
            token.assign(8, 0x44);
            BatchArgs b;
            b.keys = keys.data();
            b.values = values.data();
            b.out_batch = token.data();
            b.count = count;
            b.elem_flags = elem_flags;
            b.flags = flags;
            const int rc = call(b);
            keys.insert(keys.end(), values.begin(), values.end());
            keys.insert(keys.end(), token.begin(), token.end());
            return std::pair{rc, b.count};
          };
          Bytes kk, kvv, kt, xk, xvv, xt;
          const auto [krc, kcount] = run(
              [&](BatchArgs& b) {
                switch (cmd) {
                  case 0: return kmap.lookup_batch(b);
                  case 1: return kmap.lookup_and_erase_batch(b);
                  case 2: return kmap.update_batch(b);
                  default: return kmap.erase_batch(b);
                }
              },
              kk, kvv, kt);
          const auto [xrc, xcount] = run(
              [&](BatchArgs& b) {
                switch (cmd) {
                  case 0: return static_cast<int>(xmap->lookup_batch(b));
                  case 1: return static_cast<int>(xmap->lookup_and_erase_batch(b));
                  case 2: return static_cast<int>(xmap->update_batch(b));
                  default: return static_cast<int>(xmap->erase_batch(b));
                }
              },
              xk, xvv, xt);
          same(std::string(kCmd[cmd]) + args, krc, static_cast<Errc>(xrc), kk, xk, kcount, xcount);
        }
      }
    }
  }

  if (!bad.empty()) {
    std::ostringstream msg;
    msg << spec_name(spec) << ": " << bad.size() << " commands differ:\n";
    for (const auto& b : bad)
      msg << "  " << b << "\n";
    ADD_FAILURE() << msg.str();
  }
}

std::vector<AccessCase> access_cases() {
  std::vector<AccessCase> out;
  for (const MapType t : {MapType::hash, MapType::percpu_hash, MapType::array,
                          MapType::percpu_array, MapType::lru_hash, MapType::lru_percpu_hash,
                          MapType::queue, MapType::stack, MapType::cpumap}) {
    for (const std::uint32_t a :
         {map_flag::kRdonly, map_flag::kWronly, map_flag::kRdonlyProg, map_flag::kWronlyProg,
          map_flag::kRdonly | map_flag::kWronlyProg}) {
      out.push_back({t, a});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Maps, KernelAccess, ::testing::ValuesIn(access_cases()),
                         [](const ::testing::TestParamInfo<AccessCase>& p) {
                           return access_name(p.param);
                         });

}  // namespace
