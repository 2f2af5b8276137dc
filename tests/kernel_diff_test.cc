// SPDX-License-Identifier: MIT
//
// Differential test: seeded random sequences of bpf(2) user-side commands run on a kernel BPF map
// and on the xmaps map made from the same MapSpec, op by op. Every return code and every output
// byte must match: lookup values, next keys, batch keys/values (and the guard bytes past them),
// the batch count and the out_batch token. Hash maps are made with BPF_F_ZERO_SEED, so xmaps'
// jhash gives the kernel's bucket order and get_next_key / batch walks match byte for byte.
//
// Besides the bpf(2) commands, `prog_lookup` is the datapath lookup: on the kernel side a tiny
// BPF program calling bpf_map_lookup_elem, run with BPF_PROG_TEST_RUN on the op's CPU
// (tests/support/kernel_prog.h); on the xmaps side Map::lookup_elem with the thread bound to the
// same CPU. Both answers are encoded as the program's return value (0 = miss, 0x80000000 | 31
// bits of the value's first u32 = hit; the CPU's slot for per-CPU maps). On LRU maps it is the
// only op that sets the reference bit, so it steers which keys later updates evict.
//
// Output buffers are pre-filled with the same pattern on both sides, so bytes one side writes
// and the other leaves alone (a value on ENOENT, out_batch when count == 0) show up too. The
// thread moves between CPUs (sched_setaffinity + xmaps::CpuBinding to the same id) as it goes.
//
// Environment:
//   XMAPS_DIFF_OPS=<n>        ops per matrix entry (default 20000; LRU entries run 3x as many)
//   XMAPS_DIFF_SEED=<n>       base seed (default fixed; each entry mixes in its name)
//   XMAPS_DIFF_SHRINK=0       do not shrink a failing sequence to a minimal reproduction
//   XMAPS_DIFF_SHRINK_SECONDS=<n>  time bound of the shrinking (default 20)
//   XMAPS_DIFF_STATS=1        print how often each command met each kernel result (coverage),
//                             how full the dumps found the map, and (LRU) how many keys were
//                             evicted
// Needs bpf(BPF_MAP_CREATE): root or CAP_BPF (+ CAP_SYS_ADMIN for BPF_F_ZERO_SEED); skips
// otherwise.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <linux/bpf.h>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sched.h>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "support/kernel_prog.h"
#include "support/stress.h"
#include "xmaps/cpu.h"
#include "xmaps/errc.h"
#include "xmaps/map.h"

namespace {

using xmaps::BatchArgs;
using xmaps::Errc;
using xmaps::MapSpec;
using xmaps::MapType;
using xmaps::testing::errno_name;
using xmaps::testing::KernelLookupProg;
using xmaps::testing::KernelMap;
using xmaps::testing::type_name;
namespace map_flag = xmaps::map_flag;

using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kGuard = 16;       // pattern bytes past every output buffer
constexpr std::size_t kTokenBytes = 8;   // out_batch buffer (the kernel writes 4)
constexpr std::uint32_t kTokenSize = 4;  // u32 bucket index (hash) / the u32 key (array)

using xmaps::testing::env_u64;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s)
    h = (h ^ static_cast<std::uint8_t>(c)) * 0x100000001b3ULL;
  return h;
}

std::string hex(const std::uint8_t* p, std::size_t n, std::size_t limit = 96) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n && i < limit; ++i) {
    if (i != 0)
      s += (i % 8 == 0) ? " | " : " ";
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  if (n > limit)
    s += " ... (" + std::to_string(n) + " bytes)";
  return s;
}
std::string hex(const Bytes& b, std::size_t limit = 96) {
  return hex(b.data(), b.size(), limit);
}

// Keyed hash maps (bucket-order walks, u32 bucket-index batch tokens), LRU ones included.
bool is_hash(MapType t) {
  return t == MapType::hash || t == MapType::percpu_hash || t == MapType::lru_hash ||
         t == MapType::lru_percpu_hash;
}

bool is_lru(MapType t) {
  return t == MapType::lru_hash || t == MapType::lru_percpu_hash;
}

std::uint32_t roundup_pow_of_two(std::uint32_t n) {
  std::uint32_t p = 1;
  while (p < n)
    p <<= 1;
  return p;
}

// ---- CPU placement ----------------------------------------------------------------------------

// Moves the calling thread between the CPUs it may run on, binding xmaps to the same id;
// restores the original affinity on destruction.
class CpuMover {
 public:
  CpuMover() {
    CPU_ZERO(&saved_);
    if (::sched_getaffinity(0, sizeof(saved_), &saved_) == 0) {
      const int limit = std::min(xmaps::possible_cpus(), xmaps::testing::kernel_possible_cpus());
      for (int c = 0; c < limit && c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &saved_))
          cpus_.push_back(c);
      }
    }
    if (cpus_.empty())
      cpus_.push_back(0);
  }
  ~CpuMover() {
    binding_.reset();
    ::sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  CpuMover(const CpuMover&) = delete;
  CpuMover& operator=(const CpuMover&) = delete;

  [[nodiscard]] const std::vector<int>& cpus() const { return cpus_; }

  void move_to(int cpu) {
    if (cpu == current_)
      return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::sched_setaffinity(0, sizeof(set), &set);  // best effort: the binding is what xmaps sees
    binding_.reset();
    binding_.emplace(cpu);
    current_ = cpu;
  }

 private:
  cpu_set_t saved_;
  std::vector<int> cpus_;
  int current_ = -1;
  std::optional<xmaps::CpuBinding> binding_;
};

// ---- operations -------------------------------------------------------------------------------

enum class Kind {
  update,
  lookup,
  erase,
  lookup_and_erase,
  get_next_key,
  lookup_batch,
  lookup_and_erase_batch,
  update_batch,
  erase_batch,
  prog_lookup,  // datapath bpf_map_lookup_elem on op.cpu (a BPF program / Map::lookup_elem)
  dump,         // full get_next_key walk + lookup of every key (a state check, not a command)
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::update: return "update";
    case Kind::lookup: return "lookup";
    case Kind::erase: return "erase";
    case Kind::lookup_and_erase: return "lookup_and_erase";
    case Kind::get_next_key: return "get_next_key";
    case Kind::lookup_batch: return "lookup_batch";
    case Kind::lookup_and_erase_batch: return "lookup_and_erase_batch";
    case Kind::update_batch: return "update_batch";
    case Kind::erase_batch: return "erase_batch";
    case Kind::prog_lookup: return "prog_lookup";
    case Kind::dump: return "dump";
  }
  return "?";
}

bool is_batch(Kind k) {
  return k == Kind::lookup_batch || k == Kind::lookup_and_erase_batch || k == Kind::update_batch ||
         k == Kind::erase_batch;
}

// One command with every input spelled out, so a sequence replays on fresh maps.
struct Op {
  Kind kind = Kind::lookup;
  int cpu = 0;
  bool null_key = false;  // get_next_key(nullptr, ...)
  Bytes key;              // single-element ops
  Bytes value;            // update input
  std::uint64_t flags = 0;
  // batch
  std::uint32_t count = 0;
  bool has_in_batch = false;
  Bytes in_batch;  // kTokenSize bytes
  Bytes keys;      // update_batch / erase_batch input, count * key_size
  Bytes values;    // update_batch input, count * value_buffer_size
  std::uint64_t elem_flags = 0;
  std::uint64_t batch_flags = 0;
  std::uint8_t fill = 0xa5;  // pattern of the output buffers
};

std::string describe(const Op& op) {
  std::ostringstream s;
  s << kind_name(op.kind) << "(";
  switch (op.kind) {
    case Kind::update:
      s << "key=[" << hex(op.key) << "], value=[" << hex(op.value, 48) << "], flags=0x" << std::hex
        << op.flags << std::dec;
      break;
    case Kind::lookup:
    case Kind::lookup_and_erase:
      s << "key=[" << hex(op.key) << "], flags=0x" << std::hex << op.flags << std::dec;
      break;
    case Kind::erase:
    case Kind::prog_lookup: s << "key=[" << hex(op.key) << "]"; break;
    case Kind::get_next_key:
      if (op.null_key) {
        s << "key=nullptr";
      } else {
        s << "key=[" << hex(op.key) << "]";
      }
      break;
    case Kind::lookup_batch:
    case Kind::lookup_and_erase_batch:
    case Kind::update_batch:
    case Kind::erase_batch:
      s << "in_batch=" << (op.has_in_batch ? "[" + hex(op.in_batch) + "]" : "nullptr")
        << ", count=" << op.count << ", elem_flags=0x" << std::hex << op.elem_flags << ", flags=0x"
        << op.batch_flags << std::dec;
      if (!op.keys.empty())
        s << ", keys=[" << hex(op.keys, 64) << "]";
      if (!op.values.empty())
        s << ", values=[" << hex(op.values, 48) << "]";
      break;
    case Kind::dump: break;
  }
  s << ") on cpu " << op.cpu;
  return s.str();
}

// What one side returned.
struct Outcome {
  int rc = 0;
  std::uint32_t count = 0;  // batch: count after the call; dump: keys walked
  Bytes out;                // value / next key / batch keys / dump keys
  Bytes out2;               // batch values / dump values
  Bytes token;              // out_batch buffer
  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
  std::ostringstream s;
  s << "rc=" << errno_name(o.rc);
  s << " count=" << o.count;
  if (!o.out.empty())
    s << "\n      out=[" << hex(o.out, 160) << "]";
  if (!o.out2.empty())
    s << "\n      out2=[" << hex(o.out2, 160) << "]";
  if (!o.token.empty())
    s << "\n      out_batch=[" << hex(o.token) << "]";
  return s.str();
}

// prog_lookup's return value, spelled out: " retval=0x80001234 (hit)".
std::string retval_note(const Op& op, const Outcome& o) {
  if (op.kind != Kind::prog_lookup || o.out.size() != 4)
    return "";
  std::uint32_t ret = 0;
  std::memcpy(&ret, o.out.data(), 4);
  std::ostringstream s;
  s << " retval=0x" << std::hex << ret << std::dec << (ret == 0 ? " (miss)" : " (hit)");
  return s.str();
}

// Where two outcomes differ, field by field.
std::string diff(const Outcome& k, const Outcome& x) {
  std::ostringstream s;
  if (k.rc != x.rc)
    s << "  rc: kernel " << errno_name(k.rc) << ", xmaps " << errno_name(x.rc) << "\n";
  if (k.count != x.count)
    s << "  count: kernel " << k.count << ", xmaps " << x.count << "\n";
  auto bytes = [&](const char* what, const Bytes& a, const Bytes& b) {
    if (a == b)
      return;
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i])
      ++i;
    s << "  " << what << " differ from byte " << i << ":\n    kernel [" << hex(a, 160)
      << "]\n    xmaps  [" << hex(b, 160) << "]\n";
  };
  bytes("out", k.out, x.out);
  bytes("out2", k.out2, x.out2);
  bytes("out_batch", k.token, x.token);
  return s.str();
}

Bytes pattern(std::size_t n, std::uint8_t fill) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(fill + i * 7);
  return b;
}

// max_entries as the kernel has it (BPF_OBJ_GET_INFO_BY_FD; NO_COMMON_LRU rounds it up), or 0.
std::uint32_t kernel_max_entries(const KernelMap& map) {
  struct bpf_map_info info;
  std::memset(&info, 0, sizeof(info));
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = static_cast<std::uint32_t>(map.fd());
  attr.info.info_len = sizeof(info);
  attr.info.info = xmaps::testing::to_user(&info);
  if (xmaps::testing::sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0)
    return 0;
  return info.max_entries;
}

// The two maps under test and the calls that run one Op on each.
struct Pair {
  KernelMap kernel;
  std::unique_ptr<xmaps::Map> mine;
  KernelLookupProg prog;  // the kernel side of prog_lookup; !valid() if it cannot load
  MapSpec spec;
  std::size_t vsize = 0;          // value buffer size
  std::uint32_t max_entries = 0;  // as the maps have it (after NO_COMMON_LRU rounding)

  // Whether prog_lookup ops can run on this map: keys the raw_tp context can carry, values the
  // program can read 4 bytes of.
  static bool prog_applicable(const MapSpec& spec) {
    return spec.key_size >= 1 && spec.key_size <= KernelLookupProg::kMaxKeySize &&
           spec.value_size >= 4;
  }

  static std::optional<Pair> make(const MapSpec& spec, std::string* error) {
    Pair p;
    p.spec = spec;
    int kerr = 0;
    p.kernel = KernelMap::create(spec, &kerr);
    Errc xerr = Errc::ok;
    p.mine = xmaps::create_map(spec, &xerr);
    if (!p.kernel.valid() || p.mine == nullptr) {
      *error =
          "create: kernel " + errno_name(kerr) + ", xmaps " + errno_name(static_cast<int>(xerr));
      return std::nullopt;
    }
    if (p.mine->value_buffer_size() != p.kernel.value_buffer_size()) {
      *error = "value_buffer_size: kernel " + std::to_string(p.kernel.value_buffer_size()) +
               ", xmaps " + std::to_string(p.mine->value_buffer_size());
      return std::nullopt;
    }
    if (p.mine->batch_token_size() != kTokenSize) {
      *error =
          "batch_token_size: xmaps " + std::to_string(p.mine->batch_token_size()) + ", kernel 4";
      return std::nullopt;
    }
    const std::uint32_t kmax = kernel_max_entries(p.kernel);
    if (kmax != 0 && kmax != p.mine->max_entries()) {
      *error = "max_entries: kernel " + std::to_string(kmax) + ", xmaps " +
               std::to_string(p.mine->max_entries());
      return std::nullopt;
    }
    p.max_entries = p.mine->max_entries();
    p.vsize = p.kernel.value_buffer_size();
    if (prog_applicable(spec))
      p.prog = KernelLookupProg(p.kernel);
    return p;
  }

  Outcome run_kernel(const Op& op) {
    if (op.kind == Kind::prog_lookup) {
      Outcome o;
      Bytes key = op.key;
      std::uint32_t ret = 0;
      o.rc = -prog.run(key.data(), op.cpu, &ret);  // positive errno, as the other commands
      o.out.resize(sizeof(ret));
      std::memcpy(o.out.data(), &ret, sizeof(ret));
      return o;
    }
    return run(op, [&](auto&&... a) { return kernel_call(a...); });
  }
  Outcome run_mine(const Op& op) {
    if (op.kind == Kind::prog_lookup) {
      Outcome o;
      Bytes key = op.key;
      // The caller bound the thread to op.cpu (CpuMover); a wrong binding would compare the
      // wrong per-CPU slot / LRU list, so it is reported as its own failure.
      if (xmaps::current_cpu() != op.cpu)
        o.rc = -3;
      const std::uint32_t ret = KernelLookupProg::encode(mine->lookup_elem(key.data()));
      o.out.resize(sizeof(ret));
      std::memcpy(o.out.data(), &ret, sizeof(ret));
      return o;
    }
    return run(op, [&](auto&&... a) { return mine_call(a...); });
  }

 private:
  // Dispatch helpers: (kind, key, value, flags, batch args) → rc.
  int kernel_call(Kind kind, const void* key, void* value, std::uint64_t flags, BatchArgs* b) {
    switch (kind) {
      case Kind::update: return kernel.update(key, value, flags);
      case Kind::lookup: return kernel.lookup(key, value, flags);
      case Kind::erase: return kernel.erase(key);
      case Kind::lookup_and_erase: return kernel.lookup_and_erase(key, value, flags);
      case Kind::get_next_key: return kernel.get_next_key(key, value);
      case Kind::lookup_batch: return kernel.lookup_batch(*b);
      case Kind::lookup_and_erase_batch: return kernel.lookup_and_erase_batch(*b);
      case Kind::update_batch: return kernel.update_batch(*b);
      case Kind::erase_batch: return kernel.erase_batch(*b);
      case Kind::prog_lookup:
      case Kind::dump: break;
    }
    return -1;
  }
  int mine_call(Kind kind, const void* key, void* value, std::uint64_t flags, BatchArgs* b) {
    Errc e = Errc::ok;
    switch (kind) {
      case Kind::update: e = mine->update(key, value, flags); break;
      case Kind::lookup: e = mine->lookup(key, value, flags); break;
      case Kind::erase: e = mine->erase(key); break;
      case Kind::lookup_and_erase: e = mine->lookup_and_erase(key, value, flags); break;
      case Kind::get_next_key: e = mine->get_next_key(key, value); break;
      case Kind::lookup_batch: e = mine->lookup_batch(*b); break;
      case Kind::lookup_and_erase_batch: e = mine->lookup_and_erase_batch(*b); break;
      case Kind::update_batch: e = mine->update_batch(*b); break;
      case Kind::erase_batch: e = mine->erase_batch(*b); break;
      case Kind::prog_lookup:
      case Kind::dump: return -1;
    }
    return static_cast<int>(e);
  }

  template <class Call>
  Outcome run(const Op& op, Call call) {
    Outcome o;
    const std::size_t ks = spec.key_size;
    switch (op.kind) {
      case Kind::update: {
        Bytes key = op.key;
        Bytes value = op.value;
        o.rc = call(op.kind, key.data(), value.data(), op.flags, nullptr);
        break;
      }
      case Kind::erase: {
        Bytes key = op.key;
        o.rc = call(op.kind, key.data(), nullptr, 0, nullptr);
        break;
      }
      case Kind::lookup:
      case Kind::lookup_and_erase: {
        Bytes key = op.key;
        o.out = pattern(vsize + kGuard, op.fill);
        o.rc = call(op.kind, key.data(), o.out.data(), op.flags, nullptr);
        break;
      }
      case Kind::get_next_key: {
        Bytes key = op.key;
        o.out = pattern(ks + kGuard, op.fill);
        o.rc = call(op.kind, op.null_key ? nullptr : key.data(), o.out.data(), 0, nullptr);
        break;
      }
      case Kind::lookup_batch:
      case Kind::lookup_and_erase_batch:
      case Kind::update_batch:
      case Kind::erase_batch: {
        const bool input = op.kind == Kind::update_batch || op.kind == Kind::erase_batch;
        Bytes in_batch = op.in_batch;
        o.token = pattern(kTokenBytes, static_cast<std::uint8_t>(op.fill ^ 0x5a));
        if (input) {
          o.out = op.keys;
          o.out.resize(op.keys.size() + kGuard, 0xee);
          o.out2 = op.values;
          if (op.kind == Kind::update_batch)
            o.out2.resize(op.values.size() + kGuard, 0xee);
        } else {
          o.out = pattern(op.count * ks + kGuard, op.fill);
          o.out2 = pattern(op.count * vsize + kGuard, static_cast<std::uint8_t>(op.fill + 1));
        }
        BatchArgs b;
        b.in_batch = op.has_in_batch ? in_batch.data() : nullptr;
        b.out_batch = o.token.data();
        b.keys = o.out.data();
        b.values = o.out2.empty() ? nullptr : o.out2.data();
        b.count = op.count;
        b.elem_flags = op.elem_flags;
        b.flags = op.batch_flags;
        o.rc = call(op.kind, nullptr, nullptr, 0, &b);
        o.count = b.count;
        break;
      }
      case Kind::dump: {
        // Walk from nullptr, look every key up; stop at the first error or after more keys
        // than the map can hold.
        Bytes prev;
        Bytes next(ks);
        Bytes value(vsize);
        const std::uint32_t limit = max_entries + 4;
        for (;;) {
          const int rc = call(Kind::get_next_key, prev.empty() ? nullptr : prev.data(), next.data(),
                              0, nullptr);
          if (rc != 0) {
            o.rc = rc;
            break;
          }
          std::fill(value.begin(), value.end(), op.fill);
          const int lrc = call(Kind::lookup, next.data(), value.data(), 0, nullptr);
          o.out.insert(o.out.end(), next.begin(), next.end());
          o.out2.push_back(static_cast<std::uint8_t>(lrc));
          o.out2.insert(o.out2.end(), value.begin(), value.end());
          prev = next;
          if (++o.count > limit) {
            o.rc = -2;  // walk does not end
            break;
          }
        }
        break;
      }
      case Kind::prog_lookup: break;  // run_kernel / run_mine
    }
    return o;
  }
};

// ---- the random op generator ------------------------------------------------------------------

struct Config {
  MapType type = MapType::hash;
  std::uint32_t flags = 0;
  std::uint32_t key_size = 4;
  std::uint32_t value_size = 8;
  std::uint32_t max_entries = 1;
  std::uint32_t ops_divisor = 1;     // fewer ops for the read-only / write-only variants
  std::uint32_t ops_multiplier = 1;  // more ops (the LRU variants)
  std::uint32_t key_space = 2;       // hash keys drawn from key_space * max_entries + 2 keys

  [[nodiscard]] MapSpec spec() const {
    return MapSpec{.type = type,
                   .key_size = key_size,
                   .value_size = value_size,
                   .max_entries = max_entries,
                   .flags = flags};
  }
  [[nodiscard]] std::string name() const {
    std::string n = type_name(type);
    if (is_lru(type)) {
      n += (flags & map_flag::kNoCommonLru) != 0 ? "_nocommon" : "_common";
    } else if (is_hash(type)) {
      n += (flags & map_flag::kNoPrealloc) != 0 ? "_noprealloc" : "_prealloc";
    }
    if ((flags & map_flag::kRdonly) != 0)
      n += "_rdonly";
    if ((flags & map_flag::kWronly) != 0)
      n += "_wronly";
    n += "_k" + std::to_string(key_size) + "_v" + std::to_string(value_size) + "_max" +
         std::to_string(max_entries);
    if (key_space != 2)
      n += "_keys" + std::to_string(key_space) + "x";
    return n;
  }
};

// Draws the commands, with weights per map family (LRU maps: constant eviction, ~22% program
// lookups; the others: the original mix plus ~7% program lookups).
// cfg.max_entries must be the maps' effective max_entries (NO_COMMON_LRU rounds it up).
class Generator {
 public:
  Generator(const Config& cfg, std::uint64_t seed, std::size_t vsize, std::vector<int> cpus,
            bool prog_lookups)
      : cfg_(cfg), rng_(seed), vsize_(vsize), cpus_(std::move(cpus)) {
    n_buckets_ = roundup_pow_of_two(cfg.max_entries);
    if (is_lru(cfg.type)) {
      // Constant eviction: many updates, few deletes; a fifth of the ops are program lookups,
      // the only ones that set reference bits.
      weights_ = {330, 100, 50, 40, 100, 60, 25, 50, 25, prog_lookups ? 220U : 0U};
      cpu_switch_ = 10;
    } else {
      weights_ = {330, 150, 90, 70, 130, 70, 45, 60, 55, prog_lookups ? 80U : 0U};
    }
    for (const std::uint32_t w : weights_)
      total_weight_ += w;
    const std::uint32_t pool = std::max<std::uint32_t>(cfg.key_space * cfg.max_entries + 2, 4);
    const std::uint64_t salt = rng_();
    for (std::uint32_t i = 0; i < pool; ++i) {
      Bytes k(cfg.key_size);
      if (cfg.key_size == 4) {
        std::memcpy(k.data(), &i, 4);
      } else {
        std::uint64_t x = splitmix64(salt ^ i);
        for (std::uint32_t b = 0; b < cfg.key_size; ++b) {
          if (b % 8 == 0 && b != 0)
            x = splitmix64(x);
          k[b] = static_cast<std::uint8_t>(x >> (8 * (b % 8)));
        }
        k[0] = static_cast<std::uint8_t>(i);  // distinct
        if (cfg.key_size > 1)
          k[1] = static_cast<std::uint8_t>(i >> 8);
      }
      pool_.push_back(std::move(k));
    }
    cpu_ = cpus_[0];
  }

  Op next() {
    Op op;
    if (cpus_.size() > 1 && one_in(cpu_switch_))
      cpu_ = cpus_[pick(cpus_.size())];
    op.cpu = cpu_;
    op.fill = static_cast<std::uint8_t>(rng_());
    std::uint32_t r = static_cast<std::uint32_t>(pick(total_weight_));
    std::size_t which = 0;
    while (which + 1 < weights_.size() && r >= weights_[which])
      r -= weights_[which++];
    const Kind kind = kKinds[which];
    if (kind == Kind::prog_lookup) {
      op.kind = Kind::prog_lookup;
      op.key = !present_.empty() && one_in(2) ? present_key() : key();
    } else if (kind == Kind::update) {
      op.kind = Kind::update;
      op.key = key();
      op.value = random_bytes(vsize_);
      op.flags = update_flags();
    } else if (kind == Kind::lookup) {
      op.kind = Kind::lookup;
      op.key = key();
      op.flags = one_in(12) ? bad_flags() : 0;
    } else if (kind == Kind::erase) {
      op.kind = Kind::erase;
      op.key = key();
    } else if (kind == Kind::lookup_and_erase) {
      op.kind = Kind::lookup_and_erase;
      op.key = key();
      op.flags = one_in(10) ? (one_in(2) ? 1 : bad_flags()) : 0;
    } else if (kind == Kind::get_next_key) {
      op.kind = Kind::get_next_key;
      if (!last_next_.empty() && one_in(2)) {
        op.key = last_next_;  // keep walking
      } else if (one_in(4)) {
        op.null_key = true;
        op.key.clear();
      } else {
        op.key = key();
      }
    } else if (kind == Kind::lookup_batch) {
      op.kind = Kind::lookup_batch;
      batch_common(op);
    } else if (kind == Kind::lookup_and_erase_batch) {
      op.kind = Kind::lookup_and_erase_batch;
      batch_common(op);
    } else if (kind == Kind::update_batch) {
      op.kind = Kind::update_batch;
      batch_common(op);
      for (std::uint32_t i = 0; i < op.count; ++i) {
        const Bytes k = key();
        op.keys.insert(op.keys.end(), k.begin(), k.end());
      }
      op.values = random_bytes(static_cast<std::size_t>(op.count) * vsize_);
    } else {
      op.kind = Kind::erase_batch;
      batch_common(op);
      for (std::uint32_t i = 0; i < op.count; ++i) {
        const Bytes k = present_.empty() || one_in(4) ? key() : present_key();
        op.keys.insert(op.keys.end(), k.begin(), k.end());
      }
    }
    return op;
  }

  // Learns from the kernel's answer: keys present, where a walk or a batch left off.
  void observe(const Op& op, const Outcome& k) {
    const std::size_t ks = cfg_.key_size;
    switch (op.kind) {
      case Kind::update:
        if (k.rc == 0)
          present_.insert(op.key);
        break;
      case Kind::lookup:
        if (k.rc == 0)
          present_.insert(op.key);
        if (k.rc == ENOENT)
          present_.erase(op.key);
        break;
      case Kind::erase:
      case Kind::lookup_and_erase:
        if (k.rc == 0 || k.rc == ENOENT)
          present_.erase(op.key);
        break;
      case Kind::get_next_key:
        if (k.rc == 0) {
          last_next_.assign(k.out.begin(), k.out.begin() + static_cast<std::ptrdiff_t>(ks));
        } else {
          last_next_.clear();
        }
        break;
      case Kind::lookup_batch:
      case Kind::lookup_and_erase_batch:
        if (k.rc == 0 || k.rc == ENOENT) {
          if (k.count > 0 || is_hash(cfg_.type)) {
            last_token_.assign(k.token.begin(), k.token.begin() + kTokenSize);
          }
          if (k.rc == ENOENT)
            last_token_.clear();
          for (std::uint32_t i = 0; i < k.count && op.kind == Kind::lookup_and_erase_batch; ++i) {
            present_.erase(Bytes(k.out.begin() + static_cast<std::ptrdiff_t>(i * ks),
                                 k.out.begin() + static_cast<std::ptrdiff_t>((i + 1) * ks)));
          }
        }
        break;
      case Kind::update_batch:
        for (std::uint32_t i = 0; i < k.count; ++i) {
          present_.insert(Bytes(op.keys.begin() + static_cast<std::ptrdiff_t>(i * ks),
                                op.keys.begin() + static_cast<std::ptrdiff_t>((i + 1) * ks)));
        }
        break;
      case Kind::erase_batch:
        for (std::uint32_t i = 0; i < k.count; ++i) {
          present_.erase(Bytes(op.keys.begin() + static_cast<std::ptrdiff_t>(i * ks),
                               op.keys.begin() + static_cast<std::ptrdiff_t>((i + 1) * ks)));
        }
        break;
      case Kind::prog_lookup:
        if (k.rc == 0 && k.out.size() == 4) {
          if (k.out != Bytes(4, 0)) {
            present_.insert(op.key);
          } else {
            present_.erase(op.key);
          }
        }
        break;
      case Kind::dump:
        // The whole key set: resynchronises present_ (LRU updates evict keys silently).
        if (is_hash(cfg_.type) && k.rc == ENOENT) {
          present_.clear();
          for (std::uint32_t i = 0; i < k.count; ++i) {
            present_.insert(Bytes(k.out.begin() + static_cast<std::ptrdiff_t>(i * ks),
                                  k.out.begin() + static_cast<std::ptrdiff_t>((i + 1) * ks)));
          }
        }
        break;
    }
  }

 private:
  std::uint64_t pick(std::uint64_t n) { return n <= 1 ? 0 : rng_() % n; }
  bool one_in(std::uint64_t n) { return pick(n) == 0; }

  Bytes random_bytes(std::size_t n) {
    Bytes b(n);
    for (auto& c : b)
      c = static_cast<std::uint8_t>(rng_());
    return b;
  }

  Bytes key() {
    if (!is_hash(cfg_.type)) {
      // Array index: mostly in the pool (0 .. 2*max+1), sometimes far out of range.
      std::uint32_t i = static_cast<std::uint32_t>(pick(pool_.size()));
      if (one_in(40))
        i = one_in(2) ? 0xffffffffU : 0x80000000U;
      Bytes k(4);
      std::memcpy(k.data(), &i, 4);
      return k;
    }
    if (!present_.empty() && one_in(3))
      return present_key();
    if (one_in(50))
      return random_bytes(cfg_.key_size);  // a key no one inserted
    return pool_[pick(pool_.size())];
  }

  Bytes present_key() {
    auto it = present_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(present_.size())));
    return *it;
  }

  std::uint64_t update_flags() {
    if (one_in(12))
      return bad_flags();
    return pick(3);  // BPF_ANY, BPF_NOEXIST, BPF_EXIST
  }

  std::uint64_t bad_flags() {
    static constexpr std::uint64_t kBad[] = {3,     4, 5, 6, 8, 16, 1ULL << 32, (1ULL << 32) | 1,
                                             ~0ULL, 1, 2};
    return kBad[pick(std::size(kBad))];
  }

  void batch_common(Op& op) {
    const std::uint32_t big = 2 * cfg_.max_entries + static_cast<std::uint32_t>(pick(4));
    switch (pick(6)) {
      case 0: op.count = 0; break;
      case 1: op.count = 1; break;
      case 2:
      case 3: op.count = 2 + static_cast<std::uint32_t>(pick(7)); break;
      case 4: op.count = 1 + static_cast<std::uint32_t>(pick(cfg_.max_entries + 1)); break;
      default: op.count = big; break;
    }
    // in_batch: nullptr, where the last batch stopped, or any index, in range or not.
    const std::uint32_t range = is_hash(cfg_.type) ? n_buckets_ : cfg_.max_entries;
    const std::uint32_t t = static_cast<std::uint32_t>(pick(10));
    op.has_in_batch = true;
    std::uint32_t token = 0;
    if (t < 3) {
      op.has_in_batch = false;
    } else if (t < 6 && !last_token_.empty()) {
      std::memcpy(&token, last_token_.data(), kTokenSize);
    } else if (t < 8) {
      token = static_cast<std::uint32_t>(pick(range));
    } else if (t < 9) {
      token = range + static_cast<std::uint32_t>(pick(3));
    } else {
      token = one_in(2) ? 0xffffffffU : range - 1;
    }
    if (op.has_in_batch) {
      op.in_batch.resize(kTokenSize);
      std::memcpy(op.in_batch.data(), &token, kTokenSize);
    }
    if (one_in(25)) {
      static constexpr std::uint64_t kElem[] = {1, 2, 4, 8, 1ULL << 32};
      op.elem_flags = kElem[pick(std::size(kElem))];
    }
    if (one_in(25)) {
      static constexpr std::uint64_t kFlags[] = {1, 4, 1ULL << 32};
      op.batch_flags = kFlags[pick(std::size(kFlags))];
    }
  }

  // The order of weights_.
  static constexpr Kind kKinds[] = {Kind::update,
                                    Kind::lookup,
                                    Kind::erase,
                                    Kind::lookup_and_erase,
                                    Kind::get_next_key,
                                    Kind::lookup_batch,
                                    Kind::lookup_and_erase_batch,
                                    Kind::update_batch,
                                    Kind::erase_batch,
                                    Kind::prog_lookup};

  Config cfg_;
  std::mt19937_64 rng_;
  std::size_t vsize_;
  std::vector<int> cpus_;
  std::array<std::uint32_t, std::size(kKinds)> weights_{};
  std::uint32_t total_weight_ = 0;
  std::uint64_t cpu_switch_ = 12;  // one op in cpu_switch_ moves to a random CPU
  int cpu_ = 0;
  std::uint32_t n_buckets_ = 1;
  std::vector<Bytes> pool_;
  std::set<Bytes> present_;
  Bytes last_next_;
  Bytes last_token_;
};

// For XMAPS_DIFF_STATS on LRU maps: keys that vanished without being deleted (evictions), as
// seen from one dump to the next (a key inserted and evicted between two dumps is not seen).
class EvictionTally {
 public:
  explicit EvictionTally(std::size_t key_size) : ks_(key_size) {}
  void observe(const Op& op, const Outcome& k) {
    auto key_at = [&](const Bytes& b, std::uint32_t i) {
      return Bytes(b.begin() + static_cast<std::ptrdiff_t>(i * ks_),
                   b.begin() + static_cast<std::ptrdiff_t>((i + 1) * ks_));
    };
    switch (op.kind) {
      case Kind::update:
        if (k.rc == 0)
          expected_.insert(op.key);
        break;
      case Kind::update_batch:
        for (std::uint32_t i = 0; i < k.count; ++i)
          expected_.insert(key_at(op.keys, i));
        break;
      case Kind::erase:
      case Kind::lookup_and_erase:
        if (k.rc == 0)
          expected_.erase(op.key);
        break;
      case Kind::erase_batch:
        for (std::uint32_t i = 0; i < k.count; ++i)
          expected_.erase(key_at(op.keys, i));
        break;
      case Kind::lookup_and_erase_batch:
        if (k.rc == 0 || k.rc == ENOENT) {
          for (std::uint32_t i = 0; i < k.count; ++i)
            expected_.erase(key_at(k.out, i));
        }
        break;
      case Kind::dump: {
        std::set<Bytes> now;
        for (std::uint32_t i = 0; i < k.count && k.rc == ENOENT; ++i)
          now.insert(key_at(k.out, i));
        for (const Bytes& key : expected_)
          evicted_ += now.count(key) == 0 ? 1 : 0;
        expected_ = std::move(now);
        break;
      }
      default: break;
    }
  }
  [[nodiscard]] std::uint64_t evicted() const { return evicted_; }

 private:
  std::size_t ks_;
  std::set<Bytes> expected_;
  std::uint64_t evicted_ = 0;
};

// ---- running and shrinking --------------------------------------------------------------------

struct Mismatch {
  std::size_t index = 0;
  Outcome kernel;
  Outcome mine;
};

// Runs `ops` on fresh maps; returns the first op whose outcomes differ.
std::optional<Mismatch> replay(const MapSpec& spec, const std::vector<Op>& ops, CpuMover& mover,
                               std::string* error) {
  auto pair = Pair::make(spec, error);
  if (!pair)
    return std::nullopt;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    mover.move_to(ops[i].cpu);
    Outcome k = pair->run_kernel(ops[i]);
    Outcome x = pair->run_mine(ops[i]);
    if (!(k == x))
      return Mismatch{i, std::move(k), std::move(x)};
  }
  return std::nullopt;
}

// Delta debugging (ddmin) over the op list, bounded in time: the smallest sub-sequence found
// that still ends in a mismatch. The dump at the end is kept as a state check.
std::vector<Op> shrink(const MapSpec& spec, std::vector<Op> ops, CpuMover& mover) {
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::seconds(env_u64("XMAPS_DIFF_SHRINK_SECONDS", 20));
  std::string error;
  auto fails = [&](const std::vector<Op>& candidate) {
    std::vector<Op> with_dump = candidate;
    Op dump;
    dump.kind = Kind::dump;
    dump.cpu = candidate.empty() ? 0 : candidate.back().cpu;
    with_dump.push_back(dump);
    return replay(spec, with_dump, mover, &error).has_value();
  };
  std::size_t n = 2;
  while (ops.size() >= 2 && Clock::now() < deadline) {
    const std::size_t chunk = (ops.size() + n - 1) / n;
    bool reduced = false;
    for (std::size_t start = 0; start < ops.size() && Clock::now() < deadline; start += chunk) {
      std::vector<Op> complement(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(start));
      complement.insert(
          complement.end(),
          ops.begin() + static_cast<std::ptrdiff_t>(std::min(start + chunk, ops.size())),
          ops.end());
      if (!complement.empty() && fails(complement)) {
        ops = std::move(complement);
        n = std::max<std::size_t>(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= ops.size())
        break;
      n = std::min(ops.size(), n * 2);
    }
  }
  return ops;
}

std::string render_sequence(const MapSpec& spec, const std::vector<Op>& ops, CpuMover& mover) {
  std::ostringstream s;
  std::string error;
  auto pair = Pair::make(spec, &error);
  if (!pair)
    return "  (cannot re-create the maps: " + error + ")\n";
  for (std::size_t i = 0; i < ops.size(); ++i) {
    mover.move_to(ops[i].cpu);
    const Outcome k = pair->run_kernel(ops[i]);
    const Outcome x = pair->run_mine(ops[i]);
    s << "  #" << i << " " << describe(ops[i]) << "\n";
    if (k == x) {
      s << "      both: rc=" << errno_name(k.rc) << retval_note(ops[i], k);
      if (is_batch(ops[i].kind))
        s << " count=" << k.count;
      s << "\n";
    } else {
      s << "    MISMATCH\n    kernel: " << describe(k) << retval_note(ops[i], k)
        << "\n    xmaps:  " << describe(x) << retval_note(ops[i], x) << "\n"
        << diff(k, x);
      break;
    }
  }
  return s.str();
}

// ---- the matrix -------------------------------------------------------------------------------

std::vector<Config> matrix() {
  std::vector<Config> out;
  const std::uint32_t keys[] = {4, 16, 13};
  const std::uint32_t values[] = {8, 16, 12};
  const std::uint32_t maxes[] = {1, 2, 7, 64};
  int variant = 0;
  for (const MapType t : {MapType::hash, MapType::percpu_hash}) {
    for (const std::uint32_t prealloc_flag : {0U, map_flag::kNoPrealloc}) {
      int i = variant++;
      for (const std::uint32_t k : keys) {
        for (const std::uint32_t v : values) {
          Config c;
          c.type = t;
          c.flags = prealloc_flag | map_flag::kZeroSeed;
          c.key_size = k;
          c.value_size = v;
          c.max_entries = maxes[i++ % 4];
          out.push_back(c);
        }
      }
    }
  }
  for (const MapType t : {MapType::array, MapType::percpu_array}) {
    const std::pair<std::uint32_t, std::uint32_t> vm[] = {{8, 1},  {16, 2},  {12, 7},
                                                          {8, 64}, {12, 64}, {16, 7}};
    for (const auto& [v, m] : vm) {
      Config c;
      c.type = t;
      c.key_size = 4;
      c.value_size = v;
      c.max_entries = m;
      out.push_back(c);
    }
  }
  // LRU maps, common and per-CPU lists, at sizes where every few updates evict (a key space
  // 2-4x the size), with program lookups setting reference bits and CPU switches (the local /
  // per-CPU lists). Max 2 makes CPUs steal from each other (common) or split 1 + 1 (per-CPU).
  // ops_multiplier: 6 x 60,000 = 360,000 ops per LRU variant at the default XMAPS_DIFF_OPS.
  {
    const std::uint32_t lru_keys[] = {4, 8, 16};
    const std::uint32_t lru_values[] = {8, 12};
    const std::uint32_t lru_maxes[] = {2, 4, 7, 16, 64, 300};
    const std::uint32_t lru_spaces[] = {4, 3, 2};
    int lru_variant = 0;
    for (const MapType t : {MapType::lru_hash, MapType::lru_percpu_hash}) {
      for (const std::uint32_t lists : {0U, map_flag::kNoCommonLru}) {
        const int v = lru_variant++;
        for (std::size_t j = 0; j < std::size(lru_maxes); ++j) {
          Config c;
          c.type = t;
          c.flags = lists | map_flag::kZeroSeed;
          c.key_size = lru_keys[(j + static_cast<std::size_t>(v)) % 3];
          c.value_size = lru_values[(j + static_cast<std::size_t>(v) / 2) % 2];
          c.max_entries = lru_maxes[j];
          c.key_space = lru_spaces[(j + 2 * static_cast<std::size_t>(v)) % 3];
          c.ops_multiplier = 3;
          out.push_back(c);
        }
      }
    }
  }
  // Read-only / write-only maps: every command meets the permission checks, with every flag.
  for (const std::uint32_t access : {map_flag::kRdonly, map_flag::kWronly}) {
    for (const MapType t : {MapType::hash, MapType::percpu_hash, MapType::array}) {
      Config c;
      c.type = t;
      c.flags = access | (is_hash(t) ? map_flag::kZeroSeed : 0U);
      c.key_size = 4;
      c.value_size = t == MapType::array ? 12 : 8;
      c.max_entries = 7;
      c.ops_divisor = 10;
      out.push_back(c);
    }
  }
  return out;
}

class KernelDiff : public ::testing::TestWithParam<Config> {};

TEST_P(KernelDiff, RandomOpsMatchKernelByteForByte) {
  std::string why;
  if (!xmaps::testing::bpf_available(&why))
    GTEST_SKIP() << why;
  const Config& cfg = GetParam();
  const MapSpec spec = cfg.spec();
  const std::uint64_t base = env_u64("XMAPS_DIFF_SEED", 0x6b65726e656cULL);
  const std::uint64_t seed = splitmix64(base ^ fnv1a(cfg.name()));
  const std::uint64_t n_ops = std::max<std::uint64_t>(
      env_u64("XMAPS_DIFF_OPS", 20000) * cfg.ops_multiplier / cfg.ops_divisor, 1);
  SCOPED_TRACE("map " + cfg.name() + ", base seed XMAPS_DIFF_SEED=" + std::to_string(base) +
               " (entry seed " + std::to_string(seed) + "), " + std::to_string(n_ops) + " ops");

  {
    int err = 0;
    const KernelMap probe = KernelMap::create(spec, &err);
    if (err == EPERM) {
      GTEST_SKIP() << "bpf(BPF_MAP_CREATE) of " << cfg.name()
                   << " failed: EPERM (BPF_F_ZERO_SEED needs CAP_SYS_ADMIN)";
    }
  }
  CpuMover mover;
  std::string error;
  auto pair = Pair::make(spec, &error);
  ASSERT_TRUE(pair.has_value()) << error;
  bool prog_lookups = Pair::prog_applicable(spec);
  if (prog_lookups && !pair->prog.valid()) {
    // Without CAP_PERFMON the program cannot load: run the bpf(2) commands only. Any other
    // failure is the harness's bug (the log says why the verifier refused it).
    ASSERT_EQ(pair->prog.error(), -EPERM) << pair->prog.log();
    std::cout << cfg.name() << ": prog_lookup ops left out (" << pair->prog.log() << ")\n";
    prog_lookups = false;
  }
  Config gen_cfg = cfg;
  gen_cfg.max_entries = pair->max_entries;  // NO_COMMON_LRU rounds it up to a multiple of CPUs
  Generator gen(gen_cfg, seed, pair->vsize, mover.cpus(), prog_lookups);

  std::vector<Op> ops;
  const std::uint64_t n_steps = n_ops + n_ops / 127 + 1;
  ops.reserve(n_steps);
  std::map<std::string, std::uint64_t> stats;  // "command rc" -> times, for XMAPS_DIFF_STATS
  EvictionTally evictions(spec.key_size);
  for (std::uint64_t i = 0; i < n_steps; ++i) {
    // n_ops commands; after every 127th, and at the end, a dump: the whole map compared.
    Op next;
    if (i + 1 == n_steps || i % 128 == 127) {
      next.kind = Kind::dump;
      next.cpu = ops.empty() ? mover.cpus()[0] : ops.back().cpu;
      next.fill = static_cast<std::uint8_t>(i);
    } else {
      next = gen.next();
    }
    ops.push_back(std::move(next));  // reserved: `op` stays valid
    const Op& op = ops.back();
    mover.move_to(op.cpu);
    const Outcome k = pair->run_kernel(op);
    const Outcome x = pair->run_mine(op);
    if (!(k == x)) {
      std::ostringstream msg;
      msg << "mismatch at op #" << (ops.size() - 1) << ": " << describe(op)
          << "\n  kernel: " << describe(k) << retval_note(op, k) << "\n  xmaps:  " << describe(x)
          << retval_note(op, x) << "\n"
          << diff(k, x);
      msg << "  last ops before it:\n";
      const std::size_t from = ops.size() > 12 ? ops.size() - 12 : 0;
      for (std::size_t j = from; j + 1 < ops.size(); ++j) {
        msg << "    #" << j << " " << describe(ops[j]) << "\n";
      }
      if (env_u64("XMAPS_DIFF_SHRINK", 1) != 0) {
        const std::vector<Op> small = shrink(spec, ops, mover);
        msg << "  minimal reproduction (" << small.size() << " ops + a dump), on fresh maps:\n"
            << render_sequence(
                   spec,
                   [&] {
                     std::vector<Op> with_dump = small;
                     Op dump;
                     dump.kind = Kind::dump;
                     dump.cpu = small.empty() ? 0 : small.back().cpu;
                     with_dump.push_back(dump);
                     return with_dump;
                   }(),
                   mover);
      }
      FAIL() << msg.str();
    }
    gen.observe(op, k);
    evictions.observe(op, k);
    std::string what = std::string(kind_name(op.kind)) + " " + errno_name(k.rc);
    if (is_batch(op.kind)) {
      what += k.count == 0 ? " count=0" : (k.count == op.count ? " count=all" : " count=part");
    }
    if (op.kind == Kind::prog_lookup)
      what += k.out == Bytes(4, 0) ? " miss" : " hit";
    if (op.kind == Kind::dump) {  // how full the map is: LRU maps should be full most of the time
      const std::uint64_t m = pair->max_entries;
      what += k.count >= m ? " full" : (4 * k.count >= 3 * m ? " >=75%" : " <75%");
    }
    ++stats[what];
  }
  if (env_u64("XMAPS_DIFF_STATS", 0) != 0) {
    std::ostringstream s;
    for (const auto& [what, n] : stats)
      s << "  " << what << ": " << n << "\n";
    if (is_lru(cfg.type))
      s << "  (keys evicted, at least: " << evictions.evicted() << ")\n";
    std::cout << cfg.name() << ":\n" << s.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, KernelDiff, ::testing::ValuesIn(matrix()),
                         [](const ::testing::TestParamInfo<Config>& p) { return p.param.name(); });

// ---- null pointers: EFAULT and what happened before it ----------------------------------------

// Every command with a null key, value, next_key, keys, values or out_batch, on a map holding a
// few keys; the return codes and the map's contents afterwards must match the kernel's (the
// kernel may act before it fails to copy out, e.g. delete then EFAULT).
struct NullCase {
  std::string name;
  Kind kind;
  bool null_key = false;
  bool null_value = false;  // value / next_key
  bool null_keys = false;
  bool null_values = false;
  bool null_out_batch = false;
  bool present = true;  // key present in the map
  std::uint64_t flags = 0;
  std::uint32_t count = 4;
};

std::vector<NullCase> null_cases() {
  std::vector<NullCase> c;
  for (const bool present : {true, false}) {
    const std::string p = present ? "_present" : "_missing";
    c.push_back({"lookup_null_key" + p, Kind::lookup, true, false, false, false, false, present});
    c.push_back({"lookup_null_value" + p, Kind::lookup, false, true, false, false, false, present});
    c.push_back({"lookup_null_value_flag1" + p, Kind::lookup, false, true, false, false, false,
                 present, 1});
    c.push_back({"update_null_key" + p, Kind::update, true, false, false, false, false, present});
    c.push_back(
        {"update_null_key_flag3" + p, Kind::update, true, false, false, false, false, present, 3});
    c.push_back(
        {"update_null_key_flag4" + p, Kind::update, true, false, false, false, false, present, 4});
    c.push_back({"update_null_value" + p, Kind::update, false, true, false, false, false, present});
    c.push_back({"update_null_value_noexist" + p, Kind::update, false, true, false, false, false,
                 present, 1});
    c.push_back({"erase_null_key" + p, Kind::erase, true, false, false, false, false, present});
    c.push_back({"lookup_and_erase_null_key" + p, Kind::lookup_and_erase, true, false, false, false,
                 false, present});
    c.push_back({"lookup_and_erase_null_value" + p, Kind::lookup_and_erase, false, true, false,
                 false, false, present});
    c.push_back({"get_next_key_null_next" + p, Kind::get_next_key, false, true, false, false, false,
                 present});
    c.push_back({"get_next_key_null_both" + p, Kind::get_next_key, true, true, false, false, false,
                 present});
  }
  for (const Kind k :
       {Kind::lookup_batch, Kind::lookup_and_erase_batch, Kind::update_batch, Kind::erase_batch}) {
    const std::string n = kind_name(k);
    c.push_back({n + "_null_keys", k, false, false, true, false, false});
    c.push_back({n + "_null_values", k, false, false, false, true, false});
    c.push_back({n + "_null_out_batch", k, false, false, false, false, true});
    c.push_back({n + "_null_keys_count0", k, false, false, true, true, true, true, 0, 0});
    c.push_back({n + "_null_keys_count1", k, false, false, true, false, false, true, 0, 1});
  }
  return c;
}

class KernelDiffNullPointers : public ::testing::TestWithParam<MapType> {};

TEST_P(KernelDiffNullPointers, EveryCommandMatchesKernel) {
  std::string why;
  if (!xmaps::testing::bpf_available(&why))
    GTEST_SKIP() << why;
  MapSpec spec;
  spec.type = GetParam();
  spec.key_size = 4;
  spec.value_size = 12;
  spec.max_entries = 8;
  spec.flags = is_hash(spec.type) ? map_flag::kZeroSeed : 0U;
  std::ostringstream report;
  for (const NullCase& c : null_cases()) {
    std::string error;
    auto pair = Pair::make(spec, &error);
    ASSERT_TRUE(pair.has_value()) << error;
    const std::size_t vs = pair->vsize;
    // Keys 0..3 hold values; key 5 is missing (in range for arrays, which hold every index).
    for (std::uint32_t i = 0; i < 4; ++i) {
      const Bytes v = pattern(vs, static_cast<std::uint8_t>(i * 31));
      ASSERT_EQ(pair->kernel.update(&i, v.data(), 0), 0);
      ASSERT_EQ(pair->mine->update(&i, v.data(), 0), Errc::ok);
    }
    auto one = [&](auto&& call) {
      const std::uint32_t key = c.present ? 2 : 5;
      Bytes value = pattern(std::max<std::size_t>(vs, 4), 0x11);
      return call(c.null_key ? nullptr : &key, c.null_value ? nullptr : value.data(), value);
    };
    int krc = 0;
    int xrc = 0;
    Bytes kout;
    Bytes xout;
    std::uint32_t kcount = 0;
    std::uint32_t xcount = 0;
    if (!is_batch(c.kind)) {
      krc = one([&](const void* key, void* value, Bytes& buf) {
        int rc = -1;
        switch (c.kind) {
          case Kind::lookup: rc = pair->kernel.lookup(key, value, c.flags); break;
          case Kind::update: rc = pair->kernel.update(key, value, c.flags); break;
          case Kind::erase: rc = pair->kernel.erase(key); break;
          case Kind::lookup_and_erase:
            rc = pair->kernel.lookup_and_erase(key, value, c.flags);
            break;
          case Kind::get_next_key: rc = pair->kernel.get_next_key(key, value); break;
          default: break;
        }
        kout = buf;
        return rc;
      });
      xrc = one([&](const void* key, void* value, Bytes& buf) {
        Errc e = Errc::ok;
        switch (c.kind) {
          case Kind::lookup: e = pair->mine->lookup(key, value, c.flags); break;
          case Kind::update: e = pair->mine->update(key, value, c.flags); break;
          case Kind::erase: e = pair->mine->erase(key); break;
          case Kind::lookup_and_erase: e = pair->mine->lookup_and_erase(key, value, c.flags); break;
          case Kind::get_next_key: e = pair->mine->get_next_key(key, value); break;
          default: break;
        }
        xout = buf;
        return static_cast<int>(e);
      });
    } else {
      auto batch = [&](auto&& call, Bytes& keys_out, std::uint32_t& count_out) {
        Bytes keys(8 * 4);
        for (std::uint32_t i = 0; i < 8; ++i)
          std::memcpy(keys.data() + 4 * i, &i, 4);
        Bytes values = pattern(8 * vs, 0x22);
        Bytes token = pattern(kTokenBytes, 0x33);
        BatchArgs b;
        b.keys = c.null_keys ? nullptr : keys.data();
        b.values = c.null_values ? nullptr : values.data();
        b.out_batch = c.null_out_batch ? nullptr : token.data();
        b.count = c.count;
        const int rc = call(b);
        count_out = b.count;
        keys_out = keys;
        keys_out.insert(keys_out.end(), values.begin(), values.end());
        keys_out.insert(keys_out.end(), token.begin(), token.end());
        return rc;
      };
      krc = batch(
          [&](BatchArgs& b) {
            switch (c.kind) {
              case Kind::lookup_batch: return pair->kernel.lookup_batch(b);
              case Kind::lookup_and_erase_batch: return pair->kernel.lookup_and_erase_batch(b);
              case Kind::update_batch: return pair->kernel.update_batch(b);
              case Kind::erase_batch: return pair->kernel.erase_batch(b);
              default: return -1;
            }
          },
          kout, kcount);
      xrc = batch(
          [&](BatchArgs& b) {
            switch (c.kind) {
              case Kind::lookup_batch: return static_cast<int>(pair->mine->lookup_batch(b));
              case Kind::lookup_and_erase_batch:
                return static_cast<int>(pair->mine->lookup_and_erase_batch(b));
              case Kind::update_batch: return static_cast<int>(pair->mine->update_batch(b));
              case Kind::erase_batch: return static_cast<int>(pair->mine->erase_batch(b));
              default: return -1;
            }
          },
          xout, xcount);
    }
    Op dump;
    dump.kind = Kind::dump;
    const Outcome kd = pair->run_kernel(dump);
    const Outcome xd = pair->run_mine(dump);
    std::ostringstream line;
    if (krc != xrc)
      line << " rc kernel " << errno_name(krc) << " xmaps " << errno_name(xrc) << ";";
    if (kcount != xcount)
      line << " count kernel " << kcount << " xmaps " << xcount << ";";
    if (kout != xout)
      line << " output buffers differ;";
    if (!(kd == xd)) {
      line << " map afterwards: kernel " << kd.count << " keys [" << hex(kd.out) << "], xmaps "
           << xd.count << " keys [" << hex(xd.out) << "]"
           << (kd.count == xd.count && kd.out == xd.out ? " (values differ)" : "") << ";";
    }
    if (!line.str().empty())
      report << "  " << c.name << ":" << line.str() << "\n";
  }
  if (!report.str().empty()) {
    FAIL() << type_name(spec.type) << " map (key 4, value 12, max 8) holding keys 0..3; '_present' "
           << "uses key 2, '_missing' key 5; batch cases count 4 unless named:\n"
           << report.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Types, KernelDiffNullPointers,
                         ::testing::Values(MapType::hash, MapType::percpu_hash, MapType::array,
                                           MapType::percpu_array, MapType::lru_hash,
                                           MapType::lru_percpu_hash),
                         [](const ::testing::TestParamInfo<MapType>& p) {
                           return type_name(p.param);
                         });

}  // namespace
