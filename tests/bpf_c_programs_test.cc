// SPDX-License-Identifier: MIT
// The BPF-C benchmark programs (bench/bpf_c/*.bpf.c), compiled natively here, do what their
// comments say; and the kernel, running the same source compiled by clang's BPF target, ends
// in the same state from the same operations on the same CPU: the same LRU keys survive the
// evicting loop, the same values remain in the overwritten queue, every frame of the
// round-robin redirect arrives. The kernel half skips, saying why, without libbpf, clang's BPF
// target or bpf() permission.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>
#include <xmaps/cpu.h>
#include <xmaps/cpumap.h>
#include <xmaps/frame_pool.h>
#include <xmaps/redirect.h>

#include <gtest/gtest.h>

#include "../bench/bpf_c/bench_bpf.h"
#include "support/libbpf_object.h"

namespace prog_hash {
#include "../bench/bpf_c/hash_lookup.bpf.c"
}
namespace prog_lru {
#include "../bench/bpf_c/lru_update.bpf.c"
}
namespace prog_queue {
#include "../bench/bpf_c/queue_push_pop.bpf.c"
}
namespace prog_cpumap {
#include "../bench/bpf_c/cpumap_rr.bpf.c"
}

namespace {

using xmaps::testing::KernelObject;

template <class Def>
int fd_of(Def* def) {
  return bpf_map__fd(xmaps::bpf_map_of(def));
}

std::string object(const char* name) {
  return std::string(XMAPS_BPF_OBJ_DIR) + "/" + name + ".bpf.o";
}

// The kernel's copy of `name`, or nullptr with `why` set.
std::unique_ptr<KernelObject> load(const char* name, std::string& why) {
  if (!xmaps::testing::libbpf_available(why))
    return nullptr;
  try {
    return std::make_unique<KernelObject>(object(name));
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

#define LOAD_OR_SKIP(var, name)                              \
  std::string why_##var;                                     \
  std::unique_ptr<KernelObject> var = load(name, why_##var); \
  if (var == nullptr)                                        \
  GTEST_SKIP() << "kernel side skipped: " << why_##var.substr(0, 400)

// Runs a native program once on a 64-byte frame (on CPU 0: the fixture binds the thread).
int run_native(int (*prog)(struct xdp_md*)) {
  unsigned char frame[64] = {};
  xdp_md ctx{};
  ctx.data = reinterpret_cast<std::uintptr_t>(frame);
  ctx.data_end = reinterpret_cast<std::uintptr_t>(frame + sizeof(frame));
  ctx.data_meta = ctx.data;
  return prog(&ctx);
}

std::uint64_t native_errors(int errors_fd) {
  const std::uint32_t zero = 0;
  std::uint64_t v = 0;
  EXPECT_EQ(bpf_map_lookup_elem(errors_fd, &zero, &v), 0);
  return v;
}

void reset_errors(int errors_fd) {
  const std::uint32_t zero = 0;
  const std::uint64_t v = 0;
  ASSERT_EQ(bpf_map_update_elem(errors_fd, &zero, &v, BPF_ANY), 0);
}

// Every key -> value of a native map of __u32 -> __u64 (the user-side API on its fd).
std::map<std::uint32_t, std::uint64_t> native_contents(int fd) {
  std::map<std::uint32_t, std::uint64_t> out;
  std::uint32_t key = 0;
  std::uint32_t next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    std::uint64_t v = 0;
    if (bpf_map_lookup_elem(fd, &next, &v) == 0)
      out[next] = v;
    key = next;
    prev = &key;
  }
  return out;
}

void native_clear(int fd) {
  std::uint32_t next = 0;
  while (bpf_map_get_next_key(fd, nullptr, &next) == 0)
    ASSERT_EQ(bpf_map_delete_elem(fd, &next), 0);
}

std::vector<std::uint64_t> native_drain_queue(int fd) {
  std::vector<std::uint64_t> out;
  std::uint64_t v = 0;
  while (bpf_map_lookup_and_delete_elem(fd, nullptr, &v) == 0)
    out.push_back(v);
  return out;
}

// The kernel side, through libbpf's calls behind KernelObject.
std::map<std::uint32_t, std::uint64_t> kernel_contents(const KernelObject& k, const char* map,
                                                       std::uint32_t max_key) {
  std::map<std::uint32_t, std::uint64_t> out;
  for (std::uint32_t key = 0; key <= max_key; ++key) {
    std::uint64_t v = 0;
    if (k.try_lookup(map, &key, &v))
      out[key] = v;
  }
  return out;
}

std::uint64_t kernel_errors(const KernelObject& k) {
  const std::uint32_t zero = 0;
  std::uint64_t v = 0;
  k.lookup("bench_errors", &zero, &v);
  return v;
}

// bpf_loop() as the kernel's: the count of calls made, a callback's 1 stopping after that call,
// and its argument checks.
long count_to_five(__u32 index, void* ctx) {
  auto* seen = static_cast<std::vector<__u32>*>(ctx);
  seen->push_back(index);
  return index == 4 ? 1 : 0;
}

TEST(BpfLoop, CallsInOrderStopsOnOneAndChecksItsArguments) {
  std::vector<__u32> seen;
  EXPECT_EQ(bpf_loop(3, count_to_five, &seen, 0), 3);
  EXPECT_EQ(seen, (std::vector<__u32>{0, 1, 2}));
  seen.clear();
  EXPECT_EQ(bpf_loop(100, count_to_five, &seen, 0), 5);  // the call that returned 1 counts
  EXPECT_EQ(seen.size(), 5U);
  seen.clear();
  EXPECT_EQ(bpf_loop(0, count_to_five, &seen, 0), 0);
  EXPECT_EQ(bpf_loop(3, count_to_five, &seen, 1), -EINVAL);
  EXPECT_EQ(bpf_loop((1U << 23) + 1, count_to_five, &seen, 0), -E2BIG);
  EXPECT_TRUE(seen.empty());
}

class BpfCPrograms : public ::testing::Test {
 protected:
  // The kernel's test run runs on the calling CPU; native runs are bound to the same CPU.
  void SetUp() override {
    ASSERT_EQ(sched_getaffinity(0, sizeof(saved_), &saved_), 0);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    ASSERT_EQ(sched_setaffinity(0, sizeof(set), &set), 0);
  }
  void TearDown() override { (void)sched_setaffinity(0, sizeof(saved_), &saved_); }

  cpu_set_t saved_{};
  xmaps::CpuBinding bind_{0};
};

TEST_F(BpfCPrograms, HashLookupFindsEveryKeyOnBothSides) {
  const int fd = fd_of(&prog_hash::bench_hash);
  const int errors = fd_of(&prog_hash::bench_errors);
  ASSERT_GE(fd, 0);
  native_clear(fd);
  reset_errors(errors);
  EXPECT_EQ(run_native(prog_hash::hash_lookup_loop), XDP_DROP);  // empty map: nothing summed
  EXPECT_EQ(native_errors(errors), static_cast<std::uint64_t>(BENCH_LOOPS));
  reset_errors(errors);
  for (std::uint32_t k = 0; k < HASH_KEYS; ++k) {
    const std::uint64_t v = k + 1;
    ASSERT_EQ(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
  }
  EXPECT_EQ(run_native(prog_hash::hash_lookup_loop), XDP_PASS);
  EXPECT_EQ(native_errors(errors), 0U);

  LOAD_OR_SKIP(k, "hash_lookup");
  EXPECT_EQ(k->test_run("hash_lookup_loop", 1).retval, static_cast<std::uint32_t>(XDP_DROP));
  EXPECT_EQ(kernel_errors(*k), static_cast<std::uint64_t>(BENCH_LOOPS));
  const std::uint32_t zero = 0;
  const std::uint64_t none = 0;
  k->update("bench_errors", &zero, &none, BPF_ANY);
  for (std::uint32_t key = 0; key < HASH_KEYS; ++key) {
    const std::uint64_t v = key + 1;
    k->update("bench_hash", &key, &v, BPF_NOEXIST);
  }
  EXPECT_EQ(k->test_run("hash_lookup_loop", 1).retval, static_cast<std::uint32_t>(XDP_PASS));
  EXPECT_EQ(kernel_errors(*k), 0U);
}

TEST_F(BpfCPrograms, LruEvictingLoopKeepsTheSameKeysAsTheKernel) {
  const int fd = fd_of(&prog_lru::bench_lru);
  const int errors = fd_of(&prog_lru::bench_errors);
  ASSERT_GE(fd, 0);
  native_clear(fd);
  reset_errors(errors);
  ASSERT_EQ(run_native(prog_lru::lru_update_evicting), XDP_PASS);
  EXPECT_EQ(native_errors(errors), 0U);
  const auto native = native_contents(fd);
  EXPECT_LE(native.size(), static_cast<std::size_t>(LRU_ENTRIES));
  EXPECT_GT(native.size(), static_cast<std::size_t>(LRU_ENTRIES) / 2);
  // The resident loop replaces present keys only: it never fails and, after it, every one of
  // its 2048 keys is present with the value of its last update.
  native_clear(fd);
  ASSERT_EQ(run_native(prog_lru::lru_update_resident), XDP_PASS);
  EXPECT_EQ(native_errors(errors), 0U);
  const auto resident = native_contents(fd);
  EXPECT_EQ(resident.size(), static_cast<std::size_t>(LRU_ENTRIES / 2));

  LOAD_OR_SKIP(k, "lru_update");
  ASSERT_EQ(k->test_run("lru_update_evicting", 1).retval, static_cast<std::uint32_t>(XDP_PASS));
  EXPECT_EQ(kernel_errors(*k), 0U);
  const auto kernel = kernel_contents(*k, "bench_lru", 4 * LRU_ENTRIES - 1);
  EXPECT_EQ(kernel.size(), native.size());
  EXPECT_TRUE(kernel == native) << "the kernel kept other keys (or values) than xmaps";
}

TEST_F(BpfCPrograms, QueueLoopsLeaveTheSameValuesAsTheKernel) {
  const int fd = fd_of(&prog_queue::bench_queue);
  const int errors = fd_of(&prog_queue::bench_errors);
  ASSERT_GE(fd, 0);
  (void)native_drain_queue(fd);
  reset_errors(errors);
  ASSERT_EQ(run_native(prog_queue::queue_push_pop), XDP_PASS);
  EXPECT_EQ(native_errors(errors), 0U);
  EXPECT_TRUE(native_drain_queue(fd).empty());
  // Overwriting a full queue: the last QUEUE_SIZE values pushed remain, oldest first.
  for (std::uint64_t v = 0; v < QUEUE_SIZE; ++v)
    ASSERT_EQ(bpf_map_update_elem(fd, nullptr, &v, BPF_ANY), 0);
  ASSERT_EQ(run_native(prog_queue::queue_push_overwrite), XDP_PASS);
  EXPECT_EQ(native_errors(errors), 0U);
  const std::vector<std::uint64_t> native = native_drain_queue(fd);
  ASSERT_EQ(native.size(), static_cast<std::size_t>(QUEUE_SIZE));
  EXPECT_EQ(native.front(), static_cast<std::uint64_t>(BENCH_LOOPS - QUEUE_SIZE));
  EXPECT_EQ(native.back(), static_cast<std::uint64_t>(BENCH_LOOPS - 1));

  LOAD_OR_SKIP(k, "queue_push_pop");
  ASSERT_EQ(k->test_run("queue_push_pop", 1).retval, static_cast<std::uint32_t>(XDP_PASS));
  EXPECT_EQ(kernel_errors(*k), 0U);
  for (std::uint64_t v = 0; v < QUEUE_SIZE; ++v)
    k->update("bench_queue", nullptr, &v, BPF_ANY);
  ASSERT_EQ(k->test_run("queue_push_overwrite", 1).retval, static_cast<std::uint32_t>(XDP_PASS));
  EXPECT_EQ(kernel_errors(*k), 0U);
  std::vector<std::uint64_t> kernel;
  std::uint64_t v = 0;
  while (k->try_pop("bench_queue", &v))
    kernel.push_back(v);
  EXPECT_EQ(kernel, native);
}

TEST_F(BpfCPrograms, RoundRobinRedirectDeliversEveryFrameOnBothSides) {
  if (xmaps::possible_cpus() < 2)
    GTEST_SKIP() << "needs 2 CPUs";
  // Fewer frames than a ring holds: both sides drop on a full ring (the kernel counts that
  // only in a tracepoint), so every frame must arrive only if no ring can fill.
  constexpr std::uint32_t kFrames = 1024;
  constexpr std::uint32_t kQsize = 2048;
  constexpr std::uint32_t kBatch = 64;
  const std::uint32_t zero = 0;
  const std::uint32_t one = 1;
  const std::uint32_t remote = 1;
  {
    ASSERT_EQ(bpf_map_update_elem(fd_of(&prog_cpumap::rr_targets), &zero, &remote, BPF_ANY), 0);
    ASSERT_EQ(bpf_map_update_elem(fd_of(&prog_cpumap::rr_count), &zero, &one, BPF_ANY), 0);
    // The user side as the kernel's below, but for where the second program's fd comes from.
    const int second = xmaps::bpf_program_fd(prog_cpumap::cpumap_count_drop, "count-drop");
    ASSERT_GT(second, 0);
    bpf_cpumap_val entry{};
    entry.qsize = kQsize;
    entry.bpf_prog.fd = second;
    const int cpus = fd_of(&prog_cpumap::rr_cpu_map);
    ASSERT_EQ(bpf_map_update_elem(cpus, &remote, &entry, BPF_ANY), 0);
    ASSERT_EQ(close(second), 0);  // the entry keeps its program
    xmaps::CpuMap* engine = xmaps::bpf_map_object(&prog_cpumap::rr_cpu_map)->cpu_map();
    ASSERT_NE(engine, nullptr);
    const xmaps::XdpProgram first = xmaps::xdp_program(prog_cpumap::cpumap_rr_redirect, "rr");
    xmaps::FramePool pool(kFrames);
    {
      xmaps::RedirectContext ctx;
      for (std::uint32_t done = 0; done < kFrames; done += kBatch) {
        for (std::uint32_t i = 0; i < kBatch; ++i) {
          xmaps::Frame* f = pool.alloc();
          ASSERT_NE(f, nullptr);
          f->len = 64;
          ASSERT_EQ(ctx.run(first, f), xmaps::XdpAction::redirect);
        }
        ctx.flush();
      }
    }
    ASSERT_EQ(bpf_map_delete_elem(cpus, &remote), 0);  // drains the entry first
    std::uint64_t delivered = 0;
    ASSERT_EQ(bpf_map_lookup_elem(fd_of(&prog_cpumap::rr_delivered), &zero, &delivered), 0);
    EXPECT_EQ(engine->totals().enqueue_drops, 0U);
    EXPECT_EQ(delivered, kFrames);
  }

  LOAD_OR_SKIP(k, "cpumap_rr");
  k->update("rr_targets", &zero, &remote, BPF_ANY);
  k->update("rr_count", &zero, &one, BPF_ANY);
  bpf_cpumap_val val{};
  val.qsize = kQsize;
  val.bpf_prog.fd = k->prog_fd("cpumap_count_drop");
  k->update("rr_cpu_map", &remote, &val, BPF_ANY);
  k->test_run_live("cpumap_rr_redirect", kFrames, kBatch);
  // The kernel's CPU 1 kthread counts asynchronously: wait for it (bounded).
  std::uint64_t delivered = 0;
  for (int i = 0; i < 200 && delivered < kFrames; ++i) {
    k->lookup("rr_delivered", &zero, &delivered);
    if (delivered < kFrames)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(delivered, kFrames);
}

// Program descriptors name a CPUMAP entry's second program in the byte-level value, as
// program fds do in the kernel; anything else there fails as a bad fd does (ENOMEM).
TEST(BpfProgramFd, NamesASecondProgramAndOnlyWhileOpen) {
  if (xmaps::possible_cpus() < 2)
    GTEST_SKIP() << "needs 2 CPUs";
  const int map = bpf_map_create(BPF_MAP_TYPE_CPUMAP, "cpus", sizeof(__u32), sizeof(bpf_cpumap_val),
                                 2, nullptr);
  ASSERT_GE(map, 0);
  auto prog = std::make_shared<const xmaps::XdpProgram>(
      [](xmaps::Frame&) { return xmaps::XdpAction::drop; }, "drop");
  const int pfd = xmaps::bpf_program_fd(prog);
  ASSERT_GT(pfd, 0);
  const __u32 key = 1;
  bpf_cpumap_val v{};
  v.qsize = 64;
  v.bpf_prog.fd = pfd;
  ASSERT_EQ(bpf_map_update_elem(map, &key, &v, BPF_ANY), 0);
  bpf_cpumap_val out{};
  ASSERT_EQ(bpf_map_lookup_elem(map, &key, &out), 0);
  EXPECT_EQ(out.qsize, 64U);
  EXPECT_EQ(out.bpf_prog.id, prog->id());
  EXPECT_EQ(bpf_map_lookup_elem(pfd, &key, &out), -EBADF);  // a program's fd is not a map's
  v.bpf_prog.fd = map;                                      // a map's fd is not a program's
  EXPECT_EQ(bpf_map_update_elem(map, &key, &v, BPF_ANY), -ENOMEM);
  ASSERT_EQ(close(pfd), 0);
  v.bpf_prog.fd = pfd;
  EXPECT_EQ(bpf_map_update_elem(map, &key, &v, BPF_ANY), -ENOMEM);
  ASSERT_EQ(bpf_map_lookup_elem(map, &key, &out), 0);  // the failed updates left the entry
  EXPECT_EQ(out.bpf_prog.id, prog->id());
  v.bpf_prog.fd = 0;  // no program
  ASSERT_EQ(bpf_map_update_elem(map, &key, &v, BPF_ANY), 0);
  ASSERT_EQ(bpf_map_lookup_elem(map, &key, &out), 0);
  EXPECT_EQ(out.bpf_prog.id, 0U);
  EXPECT_EQ(xmaps::bpf_program_fd(std::shared_ptr<const xmaps::XdpProgram>{}), -EINVAL);
  EXPECT_EQ(xmaps::bpf_program_fd(nullptr), -EINVAL);  // the BPF-C function overload
  EXPECT_EQ(errno, EINVAL);
  ASSERT_EQ(close(map), 0);
}

}  // namespace
