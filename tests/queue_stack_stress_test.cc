// SPDX-License-Identifier: MIT
//
// Queue<T> and Stack<T> under concurrency, with more threads than cores and random yields:
//   ExactlyOnce          producers push distinct values (ANY, retrying while full), consumers
//                        pop until every value is out: each value is delivered exactly once,
//                        and (queue) each consumer sees each producer's values in push order.
//   OverwriteAccounting  the same with EXIST pushes mixed in: every value is delivered at most
//                        once, and delivered + dropped() == pushed.
//   Linearizable         many short recorded histories (4 threads x 4 ops on a 1- or 2-entry ring,
//                        push ANY/EXIST, pop, peek, bulk push/pop) are each checked against the
//                        kernel's sequential rules by a Wing & Gong style search: some order of
//                        the operations that respects real time must give every recorded
//                        result.
// Fixed seeds (a history's is its round number); XMAPS_STRESS_SECONDS scales counts and time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/stress.h"
#include "xmaps/errc.h"
#include "xmaps/queue_map.h"
#include "xmaps/stack_map.h"

namespace {

using xmaps::Errc;
using xmaps::UpdateFlag;
using Clock = std::chrono::steady_clock;

// Op counts and time bounds scale with XMAPS_STRESS_SECONDS (1 s = the defaults below).
double stress_scale() {
  return xmaps::testing::stress_seconds(1.0);
}

template <class Ring>
constexpr bool kFifo = false;
template <class T>
constexpr bool kFifo<xmaps::Queue<T>> = true;

template <class Ring>
class RingStress : public ::testing::Test {};
using RingTypes = ::testing::Types<xmaps::Queue<std::uint64_t>, xmaps::Stack<std::uint64_t>>;
TYPED_TEST_SUITE(RingStress, RingTypes);

void maybe_yield(std::mt19937_64& rng) {
  if (rng() % 8 == 0)
    std::this_thread::yield();
}

constexpr std::uint64_t value_of(std::uint64_t producer, std::uint64_t seq) {
  return producer << 40 | seq;
}

TYPED_TEST(RingStress, ExactlyOnce) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  const auto per_producer = static_cast<std::uint64_t>(20000 * stress_scale());
  TypeParam ring(16);
  std::atomic<std::uint64_t> consumed{0};
  const std::uint64_t total = per_producer * kProducers;
  std::vector<std::vector<std::uint64_t>> got(kConsumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937_64 rng(0x9e37 + static_cast<std::uint64_t>(p));
      for (std::uint64_t s = 0; s < per_producer; ++s) {
        while (ring.push(value_of(static_cast<std::uint64_t>(p), s)) == Errc::too_big)
          std::this_thread::yield();
        maybe_yield(rng);
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(0x7f4a + static_cast<std::uint64_t>(c));
      std::uint64_t v = 0;
      // Relaxed: a loop bound; the pops themselves are what is checked.
      while (consumed.load(std::memory_order_relaxed) < total) {
        if (ring.pop(v) == Errc::ok) {
          got[static_cast<std::size_t>(c)].push_back(v);
          consumed.fetch_add(1, std::memory_order_relaxed);
        } else {
          std::this_thread::yield();
        }
        maybe_yield(rng);
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  std::vector<std::uint64_t> all;
  for (const auto& g : got) {
    all.insert(all.end(), g.begin(), g.end());
    if (kFifo<TypeParam>) {
      std::vector<std::uint64_t> last(kProducers, 0);
      std::vector<bool> seen(kProducers, false);
      for (const std::uint64_t v : g) {
        const auto p = static_cast<std::size_t>(v >> 40);
        const std::uint64_t s = v & ((1ULL << 40) - 1);
        ASSERT_TRUE(!seen[p] || s > last[p]) << "a consumer saw producer " << p << " out of order";
        seen[p] = true;
        last[p] = s;
      }
    }
  }
  ASSERT_EQ(all.size(), total);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a value came out twice";
  std::uint64_t i = 0;
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint64_t s = 0; s < per_producer; ++s, ++i)
      ASSERT_EQ(all[i], value_of(static_cast<std::uint64_t>(p), s));
  }
  EXPECT_EQ(ring.size(), 0U);
  EXPECT_EQ(ring.dropped(), 0U);
}

TYPED_TEST(RingStress, OverwriteAccounting) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 2;
  const auto per_producer = static_cast<std::uint64_t>(20000 * stress_scale());
  TypeParam ring(8);
  std::atomic<int> producers_left{kProducers};
  std::vector<std::vector<std::uint64_t>> got(kConsumers + 1);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937_64 rng(0x51 + static_cast<std::uint64_t>(p));
      for (std::uint64_t s = 0; s < per_producer; ++s) {
        const std::uint64_t v = value_of(static_cast<std::uint64_t>(p), s);
        if (rng() % 2 == 0) {
          ASSERT_EQ(ring.push(v, UpdateFlag::exist), Errc::ok);
        } else {
          while (ring.push(v) == Errc::too_big)
            std::this_thread::yield();
        }
        maybe_yield(rng);
      }
      // Release: the consumers' acquire load below sees every push of this producer.
      producers_left.fetch_sub(1, std::memory_order_release);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(0x33 + static_cast<std::uint64_t>(c));
      std::uint64_t v = 0;
      // Acquire: pairs with the producers' release; after 0, a failed pop means drained.
      while (producers_left.load(std::memory_order_acquire) > 0) {
        if (ring.pop(v) == Errc::ok)
          got[static_cast<std::size_t>(c)].push_back(v);
        maybe_yield(rng);
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  std::uint64_t v = 0;
  while (ring.pop(v) == Errc::ok)
    got[kConsumers].push_back(v);
  std::vector<std::uint64_t> all;
  for (const auto& g : got)
    all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a value came out twice";
  for (const std::uint64_t x : all) {
    ASSERT_LT(x >> 40, static_cast<std::uint64_t>(kProducers));
    ASSERT_LT(x & ((1ULL << 40) - 1), per_producer) << "a value nobody pushed";
  }
  EXPECT_EQ(all.size() + ring.dropped(), per_producer * kProducers)
      << "delivered + dropped must be every push";
  EXPECT_GT(ring.dropped(), 0U) << "the test never overwrote: it proved little";
}

// ---- linearizability ----------------------------------------------------------------------

enum class OpKind : std::uint8_t { push_any, push_exist, pop, peek, push_bulk2, pop_bulk2 };

struct Event {
  OpKind kind;
  std::uint64_t arg = 0;      // value pushed (bulk: arg, arg + 1)
  std::uint64_t inv = 0;      // logical time of the call
  std::uint64_t res = 0;      // logical time of the return
  Errc rc = Errc::ok;         // single ops
  std::uint64_t out[2] = {};  // values returned
  std::size_t n = 0;          // bulk: how many
  int after = -1;             // sub-operation of a bulk call: the index of the one before it
};

// The kernel's sequential rules over a deque: back = newest.
struct Model {
  std::deque<std::uint64_t> d;
  std::size_t cap = 0;
  bool fifo = true;

  bool push(std::uint64_t v, bool exist) {
    if (d.size() == cap) {
      if (!exist)
        return false;
      d.pop_front();  // the oldest: the queue's front, the stack's bottom
    }
    d.push_back(v);
    return true;
  }
  bool take(std::uint64_t& out, bool remove) {
    if (d.empty())
      return false;
    if (fifo) {
      out = d.front();
      if (remove)
        d.pop_front();
    } else {
      out = d.back();
      if (remove)
        d.pop_back();
    }
    return true;
  }
  // Applies e; true if the result is the recorded one.
  bool apply(const Event& e) {
    switch (e.kind) {
      case OpKind::push_any: return push(e.arg, false) == (e.rc == Errc::ok);
      case OpKind::push_exist: return push(e.arg, true) && e.rc == Errc::ok;
      case OpKind::pop:
      case OpKind::peek: {
        std::uint64_t v = 0;
        const bool ok = take(v, e.kind == OpKind::pop);
        return ok ? (e.rc == Errc::ok && e.out[0] == v) : e.rc == Errc::not_found;
      }
      case OpKind::push_bulk2:
      case OpKind::pop_bulk2:
        return false;  // bulk calls are split into single ones first (split_bulk)
    }
    return false;
  }
};

// Wing & Gong: is there a sequential order of `h`, respecting real time (a before b if a
// returned before b was called), in which the model gives every recorded result?
bool linearizable(const std::vector<Event>& h, const Model& start) {
  const std::size_t n = h.size();
  std::set<std::pair<std::uint32_t, std::deque<std::uint64_t>>> dead;  // explored, failed
  std::vector<int> order;
  auto search = [&](auto&& self, std::uint32_t done, const Model& m) -> bool {
    if (done == (1U << n) - 1)
      return true;
    if (dead.count({done, m.d}) != 0)
      return false;
    std::uint64_t first_res = UINT64_MAX;  // no op may go after a pending op that had returned
    for (std::size_t i = 0; i < n; ++i) {
      if ((done & (1U << i)) == 0)
        first_res = std::min(first_res, h[i].res);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if ((done & (1U << i)) != 0 || h[i].inv > first_res)
        continue;
      if (h[i].after >= 0 && (done & (1U << static_cast<unsigned>(h[i].after))) == 0)
        continue;
      Model next = m;
      if (next.apply(h[i]) && self(self, done | (1U << i), next))
        return true;
    }
    dead.insert({done, m.d});
    return false;
  };
  return search(search, 0, start);
}

// A bulk call behaves as single calls in order, stopping at the first that fails (they may
// interleave with other threads' calls): each becomes its sub-operations, ordered by `after`.
std::vector<Event> split_bulk(const std::vector<std::vector<Event>>& per) {
  std::vector<Event> h;
  for (const auto& p : per) {
    for (const Event& e : p) {
      if (e.kind != OpKind::push_bulk2 && e.kind != OpKind::pop_bulk2) {
        h.push_back(e);
        continue;
      }
      const bool push = e.kind == OpKind::push_bulk2;
      for (std::size_t k = 0; k <= std::min<std::size_t>(e.n, 1); ++k) {
        Event sub = e;
        sub.kind = push ? OpKind::push_any : OpKind::pop;
        sub.arg = e.arg + k;
        sub.rc = e.n > k ? Errc::ok : (push ? Errc::too_big : Errc::not_found);
        sub.out[0] = e.n > k ? e.out[k] : 0;
        sub.n = 0;
        sub.after = k == 0 ? -1 : static_cast<int>(h.size()) - 1;
        h.push_back(sub);
      }
    }
  }
  return h;
}

std::string render(const std::vector<Event>& h) {
  static const char* const kNames[] = {"push", "push_exist", "pop",
                                       "peek", "push_bulk2", "pop_bulk2"};
  std::ostringstream s;
  for (const Event& e : h) {
    s << "  [" << e.inv << "," << e.res << "] " << kNames[static_cast<int>(e.kind)] << " " << e.arg
      << " -> rc " << static_cast<int>(e.rc) << " out " << e.out[0]
      << (e.after >= 0 ? " (after #" + std::to_string(e.after) + ")" : "") << "\n";
  }
  return s.str();
}

TYPED_TEST(RingStress, Linearizable) {
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 4;
  const auto histories = static_cast<int>(600 * stress_scale());
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long>(8000 * stress_scale()));
  int checked = 0;
  for (int round = 0; round < histories && Clock::now() < deadline; ++round) {
    // Capacity 1 and 2 in turn (1 is the corner where a slot's laps follow each other most
    // closely).
    const std::uint32_t cap = 1 + static_cast<std::uint32_t>(round % 2);
    TypeParam ring(cap);
    Model start;
    start.cap = cap;
    start.fifo = kFifo<TypeParam>;
    // Start some histories full, so overwrites and E2BIG happen inside the recorded window.
    const int prefill = static_cast<int>(static_cast<std::uint32_t>(round / 2) % (cap + 1));
    for (int i = 0; i < prefill; ++i) {
      ASSERT_EQ(ring.push(900 + static_cast<std::uint64_t>(i)), Errc::ok);
      start.push(900 + static_cast<std::uint64_t>(i), false);
    }
    std::atomic<std::uint64_t> clock{0};
    std::atomic<int> ready{0};
    std::vector<std::vector<Event>> per(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<std::uint64_t>(round) * 131 +
                            static_cast<std::uint64_t>(t));
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        for (int k = 0; k < kOpsPerThread; ++k) {
          Event e;
          e.kind = static_cast<OpKind>(rng() % 6);
          e.arg = static_cast<std::uint64_t>(t) * 100 + static_cast<std::uint64_t>(k) * 10;
          // Seq_cst: the logical clock is the real-time order the checker relies on.
          e.inv = clock.fetch_add(1);
          switch (e.kind) {
            case OpKind::push_any: e.rc = ring.push(e.arg); break;
            case OpKind::push_exist: e.rc = ring.push(e.arg, UpdateFlag::exist); break;
            case OpKind::pop: e.rc = ring.pop(e.out[0]); break;
            case OpKind::peek: e.rc = ring.peek(e.out[0]); break;
            case OpKind::push_bulk2: {
              const std::uint64_t in[2] = {e.arg, e.arg + 1};
              e.n = ring.push_bulk(in);
              break;
            }
            case OpKind::pop_bulk2: e.n = ring.pop_bulk(e.out); break;
          }
          e.res = clock.fetch_add(1);
          per[static_cast<std::size_t>(t)].push_back(e);
          if (rng() % 3 == 0)
            std::this_thread::yield();
        }
      });
    }
    for (std::thread& th : threads)
      th.join();
    const std::vector<Event> h = split_bulk(per);
    ASSERT_TRUE(linearizable(h, start)) << "round " << round << ", not linearizable:\n"
                                        << render(h);
    ++checked;
  }
  EXPECT_GT(checked, 100);
  std::cout << "  " << checked << " histories of " << kThreads * kOpsPerThread << " ops checked\n";
}

// The checker itself must reject what is not linearizable.
TEST(LinearizabilityChecker, RejectsAnImpossibleHistory) {
  Model m;
  m.cap = 2;
  m.fifo = true;
  // push 1 then push 2 (sequential), then a pop that returns 2: not FIFO.
  std::vector<Event> h(3);
  h[0] = {OpKind::push_any, 1, 0, 1};
  h[1] = {OpKind::push_any, 2, 2, 3};
  h[2] = {OpKind::pop, 0, 4, 5};
  h[2].out[0] = 2;
  EXPECT_FALSE(linearizable(h, m));
  h[2].out[0] = 1;
  EXPECT_TRUE(linearizable(h, m));
  // Overlapping pushes may go either way.
  h[1].inv = 0;
  h[2].out[0] = 2;
  EXPECT_TRUE(linearizable(h, m));
  // A pop that finds nothing after a completed push: impossible.
  std::vector<Event> g(2);
  g[0] = {OpKind::push_exist, 7, 0, 1};
  g[1] = {OpKind::pop, 0, 2, 3};
  g[1].rc = Errc::not_found;
  EXPECT_FALSE(linearizable(g, m));
}

}  // namespace
