// SPDX-License-Identifier: MIT
//
// Differential test: xmaps QUEUE and STACK maps (create_map) against the running kernel's, op by
// op through the raw bpf(2) syscall. Seeded random sequences of push (every flag value: ANY,
// NOEXIST, EXIST, BPF_F_LOCK, 3, large), peek, pop, delete, get_next_key and the batch calls,
// with null and non-null key and value pointers, biased so that the maps run full and empty
// often. Every return code and every output byte is compared (output buffers are pre-filled
// with a pattern, so "left untouched" is compared too); the first mismatch fails with the
// sequence that led to it.
//
// Environment: XMAPS_DIFF_OPS=<n> ops per entry (default 20000), XMAPS_DIFF_SEED=<s>.
// Skips with a message where BPF_MAP_CREATE is not permitted (run as root).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "support/stress.h"
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
  MapType type;
  std::uint32_t value_size;
  std::uint32_t max_entries;
};

std::string config_name(const Config& c) {
  return std::string(c.type == MapType::queue ? "queue" : "stack") + "_v" +
         std::to_string(c.value_size) + "_max" + std::to_string(c.max_entries);
}

enum class Kind { push, peek, pop, erase, get_next_key, batch };

struct Op {
  Kind kind = Kind::push;
  std::uint64_t flags = 0;
  bool key = false;   // pass a non-null key pointer
  bool value = true;  // pass a non-null value pointer
  std::uint8_t fill = 0;
  int batch_cmd = 0;  // 0..3: lookup, lookup_and_delete, update, delete
};

std::string describe(const Op& op) {
  std::ostringstream s;
  switch (op.kind) {
    case Kind::push: s << "push flags=" << op.flags << " fill=" << int{op.fill}; break;
    case Kind::peek: s << "peek flags=" << op.flags; break;
    case Kind::pop: s << "pop flags=" << op.flags; break;
    case Kind::erase: s << "delete"; break;
    case Kind::get_next_key: s << "get_next_key"; break;
    case Kind::batch: s << "batch cmd " << op.batch_cmd; break;
  }
  s << (op.key ? " key=ptr" : "") << (op.value ? "" : " value=null");
  return s.str();
}

// `filling`: pushes outnumber pops (the map runs full), else the other way round.
Op random_op(std::mt19937_64& rng, bool filling) {
  Op op;
  const std::uint32_t r = static_cast<std::uint32_t>(rng() % 100);
  const std::uint32_t push_share = filling ? 65 : 20;
  // Mostly pushes and pops; the rest is the odd commands.
  if (r < push_share) {
    op.kind = Kind::push;
    static constexpr std::uint64_t kFlags[] = {0, 0, 0, 2, 2, 1, 3, 4, 6, 1ULL << 32};
    op.flags = kFlags[rng() % std::size(kFlags)];
  } else if (r < 75) {
    op.kind = Kind::pop;  // 10% while filling, 55% while draining
  } else if (r < 88) {
    op.kind = Kind::peek;
  } else if (r < 92) {
    op.kind = Kind::erase;
  } else if (r < 96) {
    op.kind = Kind::get_next_key;
  } else {
    op.kind = Kind::batch;
    op.batch_cmd = static_cast<int>(rng() % 4);
  }
  if ((op.kind == Kind::peek || op.kind == Kind::pop) && rng() % 10 == 0)
    op.flags = rng() % 2 == 0 ? 4 : 1;  // BPF_F_LOCK or an unknown flag
  op.key = rng() % 20 == 0;
  op.value = rng() % 25 != 0;
  op.fill = static_cast<std::uint8_t>(rng());
  return op;
}

struct Outcome {
  int rc = 0;
  Bytes out;
};

int rc_of(int rc) {
  return rc;
}
int rc_of(Errc e) {
  return static_cast<int>(e);
}

// Runs `op` on the kernel's map (KernelMap: errno results) or on xmaps' (Map: Errc results);
// both have the same command names.
template <class M>
Outcome run_on(M& m, const Op& op, std::size_t vs) {
  Outcome o;
  std::uint64_t dummy_key = 0x1234;
  const void* key = op.key ? &dummy_key : nullptr;
  Bytes in(vs, op.fill);
  o.out.assign(vs, 0xa5);
  void* out = op.value ? o.out.data() : nullptr;
  switch (op.kind) {
    case Kind::push: o.rc = rc_of(m.update(key, op.value ? in.data() : nullptr, op.flags)); break;
    case Kind::peek: o.rc = rc_of(m.lookup(key, out, op.flags)); break;
    case Kind::pop: o.rc = rc_of(m.lookup_and_erase(key, out, op.flags)); break;
    case Kind::erase: o.rc = rc_of(m.erase(key)); break;
    case Kind::get_next_key:
      o.rc = rc_of(m.get_next_key(key, op.value ? o.out.data() : nullptr));
      break;
    case Kind::batch: {
      xmaps::BatchArgs a;
      a.keys = o.out.data();
      a.values = o.out.data();
      a.count = 1;
      switch (op.batch_cmd) {
        case 0: o.rc = rc_of(m.lookup_batch(a)); break;
        case 1: o.rc = rc_of(m.lookup_and_erase_batch(a)); break;
        case 2: o.rc = rc_of(m.update_batch(a)); break;
        default: o.rc = rc_of(m.erase_batch(a)); break;
      }
      o.out.push_back(static_cast<std::uint8_t>(a.count));
      break;
    }
  }
  return o;
}

class KernelQueueStackDiff : public ::testing::TestWithParam<Config> {};

TEST_P(KernelQueueStackDiff, RandomOpsMatchKernelByteForByte) {
  std::string why;
  if (!xmaps::testing::bpf_available(&why))
    GTEST_SKIP() << why;
  const Config c = GetParam();
  MapSpec spec;
  spec.type = c.type;
  spec.key_size = 0;
  spec.value_size = c.value_size;
  spec.max_entries = c.max_entries;
  int kerr = 0;
  const KernelMap k = KernelMap::create(spec, &kerr);
  ASSERT_EQ(kerr, 0) << "kernel refused " << config_name(c) << ": " << errno_name(kerr);
  Errc xerr = Errc::ok;
  const auto x = xmaps::create_map(spec, &xerr);
  ASSERT_NE(x, nullptr) << "xmaps refused " << config_name(c) << ": " << errno_name(int(xerr));

  const std::uint64_t n = env_u64("XMAPS_DIFF_OPS", 20000);
  const std::uint64_t seed = env_u64("XMAPS_DIFF_SEED", 1) * 1000003 + c.value_size * 131 +
                             c.max_entries * 7 + (c.type == MapType::queue ? 0 : 1);
  std::mt19937_64 rng(seed);
  std::vector<std::string> history;
  std::uint64_t full_seen = 0;
  std::uint64_t empty_seen = 0;
  std::uint64_t overwrites = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    // Phases of 4 x max_entries ops (at least 40), filling and draining in turn.
    const std::uint64_t phase = std::max<std::uint64_t>(40, 4ULL * c.max_entries);
    const Op op = random_op(rng, (i / phase) % 2 == 0);
    const Outcome ko = run_on(k, op, c.value_size);
    const Outcome xo = run_on(*x, op, c.value_size);
    history.push_back("#" + std::to_string(i) + " " + describe(op) + " -> " + errno_name(ko.rc));
    if (history.size() > 40)
      history.erase(history.begin());
    if (op.kind == Kind::push && op.flags == 0 && ko.rc == E2BIG)
      ++full_seen;
    if (op.kind == Kind::push && op.flags == 2 && ko.rc == 0)
      ++overwrites;  // an EXIST push: an overwrite if the map was full (counted loosely here)
    if ((op.kind == Kind::pop || op.kind == Kind::peek) && ko.rc == ENOENT)
      ++empty_seen;
    if (ko.rc != xo.rc || ko.out != xo.out) {
      std::ostringstream msg;
      msg << config_name(c) << " seed " << seed << ": op #" << i << " " << describe(op)
          << ": kernel " << errno_name(ko.rc) << ", xmaps " << errno_name(xo.rc)
          << (ko.out != xo.out ? " (output bytes differ)" : "") << "\nlast ops:\n";
      for (const std::string& h : history)
        msg << "  " << h << "\n";
      FAIL() << msg.str();
    }
  }
  // The sequence must have exercised both ends, or it proved little.
  EXPECT_GT(full_seen, 0U) << "never full";
  EXPECT_GT(empty_seen, 0U) << "never empty";
  std::cout << "  " << config_name(c) << ": " << n << " ops, 0 mismatches (full " << full_seen
            << "x, empty " << empty_seen << "x, EXIST pushes " << overwrites << ")\n";
}

std::vector<Config> configs() {
  std::vector<Config> out;
  for (const MapType t : {MapType::queue, MapType::stack}) {
    for (const std::uint32_t v : {1U, 4U, 12U, 64U}) {
      for (const std::uint32_t m : {1U, 2U, 7U, 32U}) {
        out.push_back({t, v, m});
      }
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Matrix, KernelQueueStackDiff, ::testing::ValuesIn(configs()),
                         [](const ::testing::TestParamInfo<Config>& p) {
                           return config_name(p.param);
                         });

}  // namespace
