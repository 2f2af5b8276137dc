// SPDX-License-Identifier: MIT
//
// The program-side helpers of xmaps/bpf_helpers.h as a BPF-C program file uses them
// (tests/bpf_c/helpers_program.inc, run through xmaps::xdp_program()), and what they do with a
// definition the kernel would refuse to load.
//
// - xdp_helpers: ctx->data / data_end / ingress_ifindex / rx_queue_index of a frame,
//   bpf_get_smp_processor_id() under a CpuBinding, bpf_map_update_elem / lookup (a pointer
//   into this CPU's slot) / delete on a PERCPU_HASH, bpf_map_lookup_percpu_elem for another
//   CPU and for one that does not exist (NULL). Runs on 4 modelled CPUs (set_possible_cpus).
// - xdp_count_flow: the LRU reference bit. bpf_map_lookup_elem is a datapath lookup, so in a
//   2-entry LRU_HASH the flow it hit survives the third flow's insert and the other one is
//   evicted; without that hit, the oldest is. The same sequence runs on the kernel (syscall
//   updates and a program's lookups on CPU 0, tests/support/kernel_prog.h) where bpf() is
//   permitted.
// - A definition that cannot be made fails at first use, every helper returning NULL or the
//   negative errno of the map's creation (the kernel's BPF_MAP_CREATE errno, compared with the
//   running kernel), and bpf_map__fd() returning that errno too.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <xmaps/bpf.h>
#include <xmaps/bpf_helpers.h>
#include <xmaps/cpu.h>
#include <xmaps/frame_pool.h>

#include <gtest/gtest.h>

#include "support/kernel_map.h"
#include "support/kernel_prog.h"
#include "support/pin.h"

// NOLINTBEGIN: a BPF-C program file, as written for the kernel
#include "bpf_c/helpers_program.inc"
// NOLINTEND

// NOLINTBEGIN: BPF-C map definitions, as a program file writes them
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"  // __uint(max_entries, 0) is a zero-length array
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 0);
  __type(key, __u32);
  __type(value, __u64);
} no_entries SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 0);
  __type(value, __u32);
} no_entries_queue SEC(".maps");
#pragma GCC diagnostic pop

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, __u64);
} lru_no_prealloc SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, __u32);
  __uint(value_size, 1 << 23);
} huge_values SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} resized_to_zero SEC(".maps");
// NOLINTEND

namespace {

constexpr long kEnotsupp = 524;  // ENOTSUPP: kernel-internal, not in <errno.h>
constexpr int kCpus = 4;

// 4 possible CPUs whatever the machine has, fixed before any map exists.
class PossibleCpus : public ::testing::Environment {
 public:
  void SetUp() override { xmaps::set_possible_cpus(kCpus); }
};
[[maybe_unused]] ::testing::Environment* const g_possible_cpus =
    ::testing::AddGlobalTestEnvironment(new PossibleCpus);

// Runs `prog` on one frame holding `bytes`, as if it arrived on ifindex / rx_queue.
xmaps::XdpAction run(const xmaps::XdpProgram& prog, std::initializer_list<unsigned char> bytes,
                     __u32 ifindex, __u32 rx_queue) {
  static xmaps::FramePool pool(4);
  xmaps::Frame* f = pool.alloc();
  if (f == nullptr)
    throw std::runtime_error("no frame");
  std::size_t n = 0;
  for (const unsigned char b : bytes)
    f->data[n++] = b;
  f->len = static_cast<std::uint32_t>(n);
  f->ifindex = ifindex;
  f->rx_queue = rx_queue;
  const xmaps::XdpAction action = prog.run(*f);
  f->recycle();
  return action;
}

// What xdp_helpers wrote about its last frame, read from user space.
struct observation last_observation() {
  const int fd = bpf_map__fd(xmaps::bpf_map_of(&observations));
  const __u32 zero = 0;
  struct observation obs = {};
  if (fd < 0 || bpf_map_lookup_elem(fd, &zero, &obs) != 0)
    throw std::runtime_error("observations cannot be read");
  return obs;
}

// counters[key] for every CPU, as the syscall gives a per-CPU value (8 bytes a CPU); empty if
// the key is missing.
std::vector<__u64> counts_of(__u32 key) {
  const int fd = bpf_map__fd(xmaps::bpf_map_of(&counters));
  std::vector<__u64> values(kCpus);
  if (fd < 0 || bpf_map_lookup_elem(fd, &key, values.data()) != 0)
    return {};
  return values;
}

TEST(BpfCProgram, ReadsTheContextOfTheFrame) {
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_helpers, "helpers");
  const xmaps::CpuBinding cpu(2);
  // Too short for a command: the bounds check against data_end drops it.
  EXPECT_EQ(run(prog, {OP_COUNT, 5}, 7, 3), xmaps::XdpAction::drop);
  struct observation obs = last_observation();
  EXPECT_EQ(obs.len, 2U);
  EXPECT_EQ(obs.ingress_ifindex, 7U);
  EXPECT_EQ(obs.rx_queue_index, 3U);
  EXPECT_EQ(obs.cpu, 2U);
  EXPECT_EQ(obs.op, 0U);

  EXPECT_EQ(run(prog, {OP_COUNT, 5, 0, 0xee, 0xee, 0xee, 0xee, 0xee}, 12, 1),
            xmaps::XdpAction::pass);
  obs = last_observation();
  EXPECT_EQ(obs.len, 8U);
  EXPECT_EQ(obs.ingress_ifindex, 12U);
  EXPECT_EQ(obs.rx_queue_index, 1U);
  EXPECT_EQ(obs.cpu, 2U);
  EXPECT_EQ(obs.op, static_cast<__u32>(OP_COUNT));
  EXPECT_EQ(obs.result, 0);  // the update that made key 5
}

TEST(BpfCProgram, BpfGetSmpProcessorIdIsTheBoundCpu) {
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_helpers, "helpers");
  for (const int c : {0, 3, 1}) {
    const xmaps::CpuBinding cpu(c);
    EXPECT_EQ(bpf_get_smp_processor_id(), static_cast<__u32>(c));
    EXPECT_EQ(run(prog, {0}, 1, 0), xmaps::XdpAction::drop);
    EXPECT_EQ(last_observation().cpu, static_cast<__u32>(c));
  }
  EXPECT_EQ(bpf_num_possible_cpus(), static_cast<__u32>(kCpus));
}

TEST(BpfCProgram, PercpuHashCountsPerCpuReadsOtherCpusAndDeletes) {
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_helpers, "helpers");
  auto command = [&](unsigned char op, unsigned char key, unsigned char cpu = 0) {
    const xmaps::XdpAction action = run(prog, {op, key, cpu}, 1, 0);
    EXPECT_EQ(action, op == OP_READ_CPU ? xmaps::XdpAction::tx : xmaps::XdpAction::pass);
    return last_observation().result;
  };
  {
    const xmaps::CpuBinding cpu(0);
    EXPECT_EQ(command(OP_COUNT, 9), 0);  // made (update, BPF_NOEXIST: 0)
    EXPECT_EQ(command(OP_COUNT, 9), 2);  // then counted through the lookup's pointer
    EXPECT_EQ(command(OP_COUNT, 9), 3);
  }
  {
    const xmaps::CpuBinding cpu(3);
    EXPECT_EQ(command(OP_COUNT, 9), 1);  // CPU 3's slot of the same element: 0 until now
    // From CPU 3, the other CPUs' slots of key 9.
    EXPECT_EQ(command(OP_READ_CPU, 9, 0), 3);
    EXPECT_EQ(command(OP_READ_CPU, 9, 1), 0);
    EXPECT_EQ(command(OP_READ_CPU, 9, 3), 1);
    // A CPU that does not exist: NULL.
    EXPECT_EQ(command(OP_READ_CPU, 9, kCpus), -1);
    EXPECT_EQ(command(OP_READ_CPU, 9, 200), -1);
    // A key that does not exist: NULL.
    EXPECT_EQ(command(OP_READ_CPU, 10, 0), -1);
  }
  const __u32 key9 = 9;
  EXPECT_EQ(static_cast<void*>(bpf_map_lookup_percpu_elem(&counters, &key9, kCpus)), nullptr);
  EXPECT_EQ(counts_of(9), (std::vector<__u64>{3, 0, 0, 1}));

  const xmaps::CpuBinding cpu(1);
  EXPECT_EQ(command(OP_DELETE, 9), 0);
  EXPECT_EQ(counts_of(9), std::vector<__u64>{});
  EXPECT_EQ(command(OP_DELETE, 9), -ENOENT);
  EXPECT_EQ(command(OP_READ_CPU, 9, 0), -1);
  EXPECT_EQ(command(OP_COUNT, 9), 0);  // made again, on CPU 1 only
  EXPECT_EQ(counts_of(9), (std::vector<__u64>{0, 1, 0, 0}));
}

// The flows a 2-entry LRU_HASH keeps after frames of `frames` (RX queue = flow) went through
// `prog` on CPU 0, read from user space (which sets no reference bit), with their counts.
template <class Def>
std::vector<std::pair<__u32, __u64>> lru_after(const xmaps::XdpProgram& prog, Def* def,
                                               std::initializer_list<__u32> frames) {
  const xmaps::CpuBinding cpu(0);
  for (const __u32 flow : frames) {
    if (run(prog, {0}, 1, flow) != xmaps::XdpAction::pass)
      throw std::runtime_error("the flow program failed");
  }
  const int fd = bpf_map__fd(xmaps::bpf_map_of(def));
  std::vector<std::pair<__u32, __u64>> kept;
  for (const __u32 flow : {1U, 2U, 3U}) {
    __u64 packets = 0;
    if (bpf_map_lookup_elem(fd, &flow, &packets) == 0)
      kept.emplace_back(flow, packets);
  }
  return kept;
}

using Kept = std::vector<std::pair<__u32, __u64>>;

TEST(BpfCProgram, LruLookupThroughTheHelperProtectsTheFlowItHit) {
  // Flows 1 and 2 fill the map; a second frame of flow 1 hits it (reference bit set); flow 3's
  // insert evicts the untouched flow 2.
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_count_flow, "flows");
  EXPECT_EQ(lru_after(prog, &flows, {1, 2, 1, 3}), (Kept{{1, 2}, {3, 1}}));
}

TEST(BpfCProgram, LruWithoutAHitEvictsTheOldestFlow) {
  // The control: no flow is hit before flow 3 arrives, so the oldest, flow 1, goes.
  const xmaps::XdpProgram prog = xmaps::xdp_program(xdp_count_other_flow, "other flows");
  EXPECT_EQ(lru_after(prog, &other_flows, {1, 2, 3}), (Kept{{2, 1}, {3, 1}}));
}

// The same frames on the kernel: each frame is the program's lookup (BPF_PROG_TEST_RUN on CPU
// 0) and, on a miss, a BPF_NOEXIST update from CPU 0 (xdp_count_flow's hit adds 1 to the
// value, which a lookup program cannot, so the counts are left out).
std::vector<__u32> kernel_lru_after(std::initializer_list<__u32> frames, std::string* why) {
  using xmaps::testing::KernelLookupProg;
  using xmaps::testing::KernelMap;
  const xmaps::MapSpec s{.type = xmaps::MapType::lru_hash,
                         .key_size = sizeof(__u32),
                         .value_size = sizeof(__u64),
                         .max_entries = 2};
  int err = 0;
  const KernelMap map = KernelMap::create(s, &err);
  if (!map.valid())
    throw std::runtime_error("kernel LRU_HASH: " + xmaps::testing::errno_name(err));
  const KernelLookupProg prog(map);
  if (!prog.valid()) {
    *why = "the lookup program does not load: " + std::to_string(prog.error());
    return {};
  }
  // Pinned to CPU 0 (the kernel's LRU keeps per-CPU free lists, so the syscall updates should
  // all come from one CPU, as the selftest pins itself).
  const xmaps::testing::PinToCpu pinned(0);
  if (!pinned.pinned() || pinned.cpu() != 0) {
    *why = "cannot pin the thread to CPU 0";
    return {};
  }
  for (const __u32 flow : frames) {
    std::uint32_t retval = 0;
    if (prog.run(&flow, 0, &retval) != 0)
      throw std::runtime_error("BPF_PROG_TEST_RUN failed");
    const __u64 one = 1;
    if (retval == 0 && map.update(&flow, &one, BPF_NOEXIST) != 0)
      throw std::runtime_error("kernel update failed");
  }
  std::vector<__u32> kept;
  for (const __u32 flow : {1U, 2U, 3U}) {
    __u64 packets = 0;
    if (map.lookup(&flow, &packets, 0) == 0)
      kept.push_back(flow);
  }
  return kept;
}

TEST(BpfCProgram, TheKernelEvictsTheSameFlows) {
  std::string why;
  if (!xmaps::testing::bpf_available(&why))
    GTEST_SKIP() << why;
  const std::vector<__u32> hit = kernel_lru_after({1, 2, 1, 3}, &why);
  if (!why.empty())
    GTEST_SKIP() << why;
  EXPECT_EQ(hit, (std::vector<__u32>{1, 3}));
  EXPECT_EQ(kernel_lru_after({1, 2, 3}, &why), (std::vector<__u32>{2, 3}));
}

// BPF_MAP_CREATE's errno for `spec` on the running kernel, or -1 (and *why) if bpf() is not
// permitted here.
int kernel_create_errno(const xmaps::MapSpec& spec, std::string* why) {
  if (!xmaps::testing::bpf_available(why))
    return -1;
  int err = 0;
  const auto map = xmaps::testing::KernelMap::create(spec, &err);
  return err;
}

xmaps::MapSpec spec(xmaps::MapType type, std::uint32_t key_size, std::uint32_t value_size,
                    std::uint32_t max_entries, std::uint32_t flags = 0) {
  return xmaps::MapSpec{.type = type,
                        .key_size = key_size,
                        .value_size = value_size,
                        .max_entries = max_entries,
                        .flags = flags};
}

// Every helper on a definition that cannot be made gives NULL or -expected, every time, and
// bpf_map__fd() gives -expected with errno set.
template <class Def>
void expect_fails_with(Def* def, long expected) {
  const __u32 key = 0;
  std::vector<unsigned char> value(1 << 23);  // as large as any value here: nothing is read
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("call " + std::to_string(round + 1));
    EXPECT_EQ(static_cast<void*>(bpf_map_lookup_elem(def, &key)), nullptr);
    EXPECT_EQ(static_cast<void*>(bpf_map_lookup_percpu_elem(def, &key, 0)), nullptr);
    EXPECT_EQ(bpf_map_update_elem(def, &key, value.data(), BPF_ANY), -expected);
    EXPECT_EQ(bpf_map_delete_elem(def, &key), -expected);
    errno = 0;
    EXPECT_EQ(bpf_map__fd(xmaps::bpf_map_of(def)), -expected);
    EXPECT_EQ(errno, expected);
  }
}

TEST(BpfCFailedDefinition, ZeroMaxEntriesGivesNullAndEinval) {
  expect_fails_with(&no_entries, EINVAL);
  EXPECT_EQ(bpf_map__max_entries(xmaps::bpf_map_of(&no_entries)), 0U);
  std::string why;
  const int kernel = kernel_create_errno(spec(xmaps::MapType::hash, 4, 8, 0), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, EINVAL);
}

TEST(BpfCFailedDefinition, ZeroMaxEntriesQueuePushPopPeekGiveEinval) {
  __u32 v = 1;
  EXPECT_EQ(bpf_map_push_elem(&no_entries_queue, &v, BPF_ANY), -EINVAL);
  EXPECT_EQ(bpf_map_pop_elem(&no_entries_queue, &v), -EINVAL);
  EXPECT_EQ(bpf_map_peek_elem(&no_entries_queue, &v), -EINVAL);
  errno = 0;
  EXPECT_EQ(bpf_map__fd(xmaps::bpf_map_of(&no_entries_queue)), -EINVAL);
  EXPECT_EQ(errno, EINVAL);
  std::string why;
  const int kernel = kernel_create_errno(spec(xmaps::MapType::queue, 0, 4, 0), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, EINVAL);
}

// Not EINVAL for everything: the helpers pass the creation's own errno through.
TEST(BpfCFailedDefinition, LruWithoutPreallocationGivesEnotsupp) {
  expect_fails_with(&lru_no_prealloc, kEnotsupp);
  std::string why;
  const int kernel = kernel_create_errno(
      spec(xmaps::MapType::lru_hash, 4, 8, 8, xmaps::map_flag::kNoPrealloc), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, kEnotsupp);
}

TEST(BpfCFailedDefinition, ValueTooLargeGivesE2big) {
  expect_fails_with(&huge_values, E2BIG);
  std::string why;
  const int kernel = kernel_create_errno(spec(xmaps::MapType::hash, 4, 1U << 23, 4), &why);
  if (kernel < 0)
    GTEST_SKIP() << why;
  EXPECT_EQ(kernel, E2BIG);
}

// libbpf's way to a zero-entry map: bpf_map__set_max_entries(map, 0) before the load.
TEST(BpfCFailedDefinition, MaxEntriesSetToZeroBeforeFirstUseGivesEinval) {
  ASSERT_EQ(bpf_map__set_max_entries(xmaps::bpf_map_of(&resized_to_zero), 0), 0);
  expect_fails_with(&resized_to_zero, EINVAL);
  EXPECT_EQ(bpf_map__max_entries(xmaps::bpf_map_of(&resized_to_zero)), 0U);
  // As libbpf after a failed load (the object counts as loaded, successfully or not): no
  // second attempt.
  errno = 0;
  EXPECT_EQ(bpf_map__set_max_entries(xmaps::bpf_map_of(&resized_to_zero), 4), -EBUSY);
  EXPECT_EQ(errno, EBUSY);
  expect_fails_with(&resized_to_zero, EINVAL);
}

}  // namespace
