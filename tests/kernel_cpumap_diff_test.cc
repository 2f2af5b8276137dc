// SPDX-License-Identifier: MIT
//
// Differential test: the byte-level xmaps CPUMAP (create_map) against the running kernel's,
// op by op through the raw bpf(2) syscall. Seeded random sequences of update (qsize 0, small,
// the 16384 limit and one above; flags ANY / NOEXIST / EXIST / BPF_F_LOCK / 3 / large; keys in
// range, past the possible CPUs and past max_entries), lookup, delete, lookup_and_delete,
// get_next_key (null, in-range and out-of-range keys) and the batch calls, with value sizes 4
// (qsize) and 8 (qsize + program fd, always 0: no program). Every return code and every output
// byte is compared (output buffers are pre-filled with a pattern).
//
// Environment: XMAPS_DIFF_OPS=<n> ops per configuration (default 4000; every entry update
// starts a kernel thread and an xmaps worker, so this is the slow one), XMAPS_DIFF_SEED=<s>.
// Skips with a message where BPF_MAP_CREATE is not permitted (run as root).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "support/stress.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"
#include "xmaps/map.h"

namespace {

using xmaps::Errc;
using xmaps::MapSpec;
using xmaps::MapType;
using xmaps::testing::errno_name;
using xmaps::testing::KernelMap;
using Bytes = std::vector<std::uint8_t>;

using xmaps::testing::env_u64;

struct Config {
  std::uint32_t value_size;
  std::uint32_t max_entries;
};

class KernelCpumapDiff : public ::testing::TestWithParam<Config> {};

TEST_P(KernelCpumapDiff, EveryResultAndByteMatchesKernel) {
  std::string why;
  if (!xmaps::testing::bpf_available(&why))
    GTEST_SKIP() << why;
  ASSERT_EQ(xmaps::possible_cpus(), xmaps::testing::kernel_possible_cpus());
  const Config c = GetParam();
  MapSpec spec;
  spec.type = MapType::cpumap;
  spec.key_size = 4;
  spec.value_size = c.value_size;
  spec.max_entries = c.max_entries;
  int kerr = 0;
  KernelMap k = KernelMap::create(spec, &kerr);
  ASSERT_EQ(kerr, 0) << errno_name(kerr);
  Errc xerr = Errc::ok;
  auto x = xmaps::create_map(spec, &xerr);
  ASSERT_NE(x, nullptr) << xmaps::to_string(xerr);

  const std::uint64_t seed =
      env_u64("XMAPS_DIFF_SEED", 1) * 1000 + c.value_size * 100 + c.max_entries;
  const std::uint64_t ops = env_u64("XMAPS_DIFF_OPS", 4000);
  std::mt19937_64 rng(seed);
  const std::uint32_t qsizes[] = {0, 1, 8, 64, 192, 2048, 16384, 16385, 1U << 31};
  const std::uint64_t flag_values[] = {0, 0, 0, 2, 1, 3, 4, 1ULL << 32};
  std::ostringstream log;
  std::uint64_t compared = 0;
  std::uint64_t entries_made = 0;  // successful updates with qsize > 0
  for (std::uint64_t i = 0; i < ops; ++i) {
    const unsigned kind = static_cast<unsigned>(rng() % 10);
    // Keys: mostly in range; sometimes the first impossible CPU, max_entries, or far out.
    const std::uint32_t keys[] = {0,
                                  1,
                                  c.max_entries - 1,
                                  c.max_entries,
                                  c.max_entries + 7,
                                  static_cast<std::uint32_t>(xmaps::possible_cpus()),
                                  0xffffffffU};
    const std::uint32_t key = keys[rng() % std::size(keys)];
    Bytes kv(c.value_size, 0xA5);
    Bytes xv(c.value_size, 0xA5);
    int kr = 0;
    Errc xr = Errc::ok;
    std::string what;
    if (kind < 4) {  // update
      std::uint32_t val[2] = {qsizes[rng() % std::size(qsizes)], 0};
      const std::uint64_t flags = flag_values[rng() % std::size(flag_values)];
      what = "update key " + std::to_string(key) + " qsize " + std::to_string(val[0]) + " flags " +
             std::to_string(flags);
      kr = k.update(&key, val, flags);
      xr = x->update(&key, val, flags);
      entries_made += kr == 0 && val[0] != 0 ? 1 : 0;
    } else if (kind < 6) {  // lookup
      what = "lookup key " + std::to_string(key);
      kr = k.lookup(&key, kv.data(), 0);
      xr = x->lookup(&key, xv.data(), 0);
    } else if (kind == 6) {
      what = "delete key " + std::to_string(key);
      kr = k.erase(&key);
      xr = x->erase(&key);
    } else if (kind == 7) {
      const bool null_key = rng() % 3 == 0;
      std::uint32_t knext = 0xdeadbeef;
      std::uint32_t xnext = 0xdeadbeef;
      what = "get_next_key " + (null_key ? std::string("null") : std::to_string(key));
      kr = k.get_next_key(null_key ? nullptr : &key, &knext);
      xr = x->get_next_key(null_key ? nullptr : &key, &xnext);
      std::memcpy(kv.data(), &knext, 4);
      std::memcpy(xv.data(), &xnext, 4);
    } else if (kind == 8) {
      const std::uint64_t flags = rng() % 2 == 0 ? 0 : 4;
      what = "lookup_and_delete key " + std::to_string(key) + " flags " + std::to_string(flags);
      kr = k.lookup_and_erase(&key, kv.data(), flags);
      xr = x->lookup_and_erase(&key, xv.data(), flags);
    } else {
      std::uint32_t kkeys[4] = {};
      std::uint32_t xkeys[4] = {};
      std::uint8_t kvals[32] = {};
      std::uint8_t xvals[32] = {};
      xmaps::BatchArgs ka;
      ka.keys = kkeys;
      ka.values = kvals;
      ka.count = 4;
      xmaps::BatchArgs xa = ka;
      xa.keys = xkeys;
      xa.values = xvals;
      const unsigned which = static_cast<unsigned>(rng() % 4);
      what = "batch " + std::to_string(which);
      if (which == 0) {
        kr = k.lookup_batch(ka);
        xr = x->lookup_batch(xa);
      } else if (which == 1) {
        kr = k.lookup_and_erase_batch(ka);
        xr = x->lookup_and_erase_batch(xa);
      } else if (which == 2) {
        kr = k.update_batch(ka);
        xr = x->update_batch(xa);
      } else {
        kr = k.erase_batch(ka);
        xr = x->erase_batch(xa);
      }
    }
    log << i << ": " << what << " -> kernel " << errno_name(kr) << ", xmaps "
        << errno_name(static_cast<int>(xr)) << "\n";
    ASSERT_EQ(errno_name(kr), errno_name(static_cast<int>(xr)))
        << "op " << i << " (" << what << "), seed " << seed << "\n"
        << log.str().substr(log.str().size() > 4000 ? log.str().size() - 4000 : 0);
    ASSERT_EQ(kv, xv) << "output bytes differ at op " << i << " (" << what << ")";
    ++compared;
  }
  std::printf("%llu ops compared (%llu entries made), 0 mismatches\n",
              static_cast<unsigned long long>(compared),
              static_cast<unsigned long long>(entries_made));
  EXPECT_GT(entries_made, 0U);
}

INSTANTIATE_TEST_SUITE_P(Configs, KernelCpumapDiff,
                         ::testing::Values(Config{4, 1}, Config{4, 2}, Config{4, 4}, Config{8, 2},
                                           Config{8, 8}),
                         [](const ::testing::TestParamInfo<Config>& p) {
                           return "v" + std::to_string(p.param.value_size) + "_max" +
                                  std::to_string(p.param.max_entries);
                         });

}  // namespace
