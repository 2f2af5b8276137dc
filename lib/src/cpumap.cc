// SPDX-License-Identifier: MIT
//
// CpuMap's control plane and its workers (see xmaps/cpumap.h for the rules).
#include "xmaps/cpumap.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <pthread.h>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "xmaps/cpu.h"
#include "xmaps/detail/spinlock.h"
#include "xmaps/rcu.h"
#include "xmaps/redirect.h"

namespace xmaps {

CpuMapStats& CpuMapStats::operator+=(const CpuMapStats& o) noexcept {
  enqueued += o.enqueued;
  enqueue_drops += o.enqueue_drops;
  processed += o.processed;
  passed += o.passed;
  dropped += o.dropped;
  redirected += o.redirected;
  redirect_errors += o.redirect_errors;
  aborted += o.aborted;
  sleeps += o.sleeps;
  return *this;
}

namespace {

bool pin_to(int cpu) noexcept {
  if (cpu < 0 || cpu >= static_cast<int>(CpuMap::kMaxEntries))
    return false;
  const std::size_t size = CPU_ALLOC_SIZE(static_cast<std::size_t>(cpu) + 1);
  cpu_set_t* set = CPU_ALLOC(static_cast<std::size_t>(cpu) + 1);
  if (set == nullptr)
    return false;
  CPU_ZERO_S(size, set);
  CPU_SET_S(static_cast<std::size_t>(cpu), size, set);
  const bool ok = ::pthread_setaffinity_np(::pthread_self(), size, set) == 0;
  CPU_FREE(set);
  return ok;
}

// One batch of the worker (the body of cpu_map_kthread_run()'s loop): runs the second program
// on the n frames in `words` (taken out of e's ring), carries out the verdicts and counts
// them. The calling thread is bound to CPU e.key and owns `ctx` (an engine-owned context).
void run_batch(detail::CpuMapEntry& e, const CpuMap::Sink& sink, RedirectContext& ctx,
               const std::uint64_t* words, std::size_t n) {
  detail::WorkerCounters& wc = e.worker_counters.value;
  const XdpProgram* const prog = e.program.get();
  // No second program and no sink: the frames are recycled by (pool, index), unread, so
  // their metadata stays in the ingress CPU's cache for its next alloc.
  if (prog == nullptr && !sink) {
    detail::recycle_words(words, n);
    detail::bump(wc.processed, n);
    detail::bump(wc.passed, n);
    return;
  }
  Frame* frames[CpuMap::kMaxBatch];
  Frame* passed[CpuMap::kMaxBatch];
  std::uint64_t done[CpuMap::kMaxBatch];  // words of the frames to recycle
  for (std::size_t i = 0; i < n; ++i) {
    frames[i] = detail::word_frame(words[i]);
    // The metadata was last written on the ingress CPU: start every miss of the batch at
    // once, as the kernel prefetches its pages. With intent to write, though this side only
    // reads: the ingress CPU rewrites the line at its next alloc, and taking a line back
    // from this core costs it less than invalidating a shared copy (cpumap_bench, drop
    // mode: 25-30 vs 8-10 Mpps delivered on the 2-vCPU host).
    __builtin_prefetch(frames[i], 1);
  }
  // Then the packets' first lines, which the second program reads first (the kernel's
  // prefetch of the page brings its xdp_frame and the packet start in one go; here the
  // metadata says where the data is, so these loads wait for the lines just asked for, all
  // of them at once).
  if (prog != nullptr) {
    for (std::size_t i = 0; i < n; ++i)
      __builtin_prefetch(frames[i]->data);
  }
  std::size_t npass = 0;
  std::size_t ndone = 0;
  std::uint64_t dropped = 0;
  std::uint64_t redirected = 0;
  std::uint64_t errors = 0;
  std::uint64_t aborted = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Frame* const f = frames[i];
    const XdpAction act = prog != nullptr ? prog->run(*f) : XdpAction::pass;
    switch (act) {
      case XdpAction::pass:
        passed[npass++] = f;
        done[ndone++] = words[i];
        break;
      case XdpAction::drop:
        ++dropped;
        done[ndone++] = words[i];
        break;
      case XdpAction::redirect:
        if (ctx.redirect(f)) {
          ++redirected;
        } else {
          ++errors;  // redirect() recycled it
        }
        break;
      default:  // XDP_ABORTED, XDP_TX, anything else: warned about and dropped by the kernel
        ++aborted;
        done[ndone++] = words[i];
        break;
    }
  }
  if (npass != 0 && sink)
    sink(std::span<Frame* const>(passed, npass), static_cast<int>(e.key));
  detail::recycle_words(done, ndone);  // after the sink: it may read the passed frames
  ctx.flush();  // this batch's redirects (the kernel flushes after the batch too)
  detail::bump(wc.processed, n);
  detail::bump(wc.passed, npass);
  detail::bump(wc.dropped, dropped);
  detail::bump(wc.redirected, redirected);
  detail::bump(wc.redirect_errors, errors);
  detail::bump(wc.aborted, aborted);
}

// Manual mode: up to max_frames frames of e's ring, on the calling thread acting as CPU e.key.
std::size_t run_manual(detail::CpuMapEntry& e, const CpuMap::Sink& sink, std::uint32_t batch,
                       std::size_t max_frames) {
  const CpuBinding bind(static_cast<int>(e.key));
  RedirectContext ctx{RedirectContext::EngineOwned{}};
  std::uint64_t words[CpuMap::kMaxBatch];
  std::size_t total = 0;
  while (total < max_frames) {
    const std::size_t want = std::min<std::size_t>(batch, max_frames - total);
    const std::size_t n = e.ring->pop_bulk<8>(words, want);
    if (n == 0)
      break;
    run_batch(e, sink, ctx, words, n);
    total += n;
  }
  return total;
}

// The worker of one entry: xmaps' cpu_map_kthread_run().
void worker_loop(detail::CpuMapEntry& e, const CpuMap::Sink& sink, std::uint32_t batch) {
  const CpuBinding bind(static_cast<int>(e.key));
  RedirectContext ctx{RedirectContext::EngineOwned{}};
  detail::MpmcRing& ring = *e.ring;
  detail::WorkerCounters& wc = e.worker_counters.value;
  std::uint64_t words[CpuMap::kMaxBatch];
  constexpr unsigned kIdlePolls = 64;
  constexpr unsigned kPausesPerPoll = 64;
  unsigned idle_polls = 0;
  for (;;) {
    const std::size_t n = ring.pop_bulk<8>(words, batch);
    if (n == 0) {
      // Seq_cst: the stop request is read after the ring was seen empty; stop is set only
      // once no producer can reach this ring any more (after a grace period).
      if (e.stop.load(std::memory_order_seq_cst)) {
        if (ring.size() == 0)
          break;
        continue;  // a push claimed before the stop is still being written
      }
      // Under load the next bulk is usually a few microseconds away: poll for it a bounded
      // while before paying a futex sleep and the producer's wake-up syscall. Between looks,
      // kPausesPerPoll pauses: a consumer re-reading an empty ring's counters and slots
      // takes those cache lines from the producer that is about to write them. About
      // kIdlePolls * kPausesPerPoll = 4096 pauses (~125 us on the 2-vCPU host) idle, the
      // worker sleeps.
      if (idle_polls < kIdlePolls) {
        ++idle_polls;
        for (unsigned i = 0; i < kPausesPerPoll; ++i)
          detail::spin_pause();
        continue;
      }
      idle_polls = 0;
      // Seq_cst: the store of the Dekker pair (cpumap_entry.h): then the ring is re-read.
      e.sleeping.value.store(1, std::memory_order_seq_cst);
      // Seq_cst (stop): as above, read after the sleeping flag is up.
      if (ring.size() == 0 && !e.stop.load(std::memory_order_seq_cst)) {
        detail::bump(wc.sleeps);
        // Seq_cst: waits until a producer (or the stopper) cleared the flag.
        e.sleeping.value.wait(1, std::memory_order_seq_cst);
      }
      // Relaxed: only this thread sets the flag; a producer's exchange may have cleared it.
      e.sleeping.value.store(0, std::memory_order_relaxed);
      continue;
    }
    idle_polls = 0;
    run_batch(e, sink, ctx, words, n);
  }
}

}  // namespace

CpuMap::CpuMap(std::uint32_t max_entries) : CpuMap(max_entries, Options{}) {}

CpuMap::CpuMap(std::uint32_t max_entries, Options options)
    : max_entries_(max_entries), options_(std::move(options)), ingress_cpus_(possible_cpus()) {
  if (max_entries == 0 || max_entries > kMaxEntries)
    throw std::invalid_argument("xmaps: CpuMap max_entries must be 1.." +
                                std::to_string(kMaxEntries));
  if (options_.bulk_size == 0 || options_.bulk_size > kMaxBulk)
    throw std::invalid_argument("xmaps: CpuMap bulk_size must be 1.." + std::to_string(kMaxBulk));
  if (options_.batch_size == 0 || options_.batch_size > kMaxBatch)
    throw std::invalid_argument("xmaps: CpuMap batch_size must be 1.." + std::to_string(kMaxBatch));
  slots_ = std::make_unique<std::atomic<detail::CpuMapEntry*>[]>(max_entries);
  for (std::uint32_t i = 0; i < max_entries; ++i) {
    // Relaxed: construction is single-threaded; publishing the map orders it.
    slots_[i].store(nullptr, std::memory_order_relaxed);
  }
  retired_.resize(max_entries);
  retired_ingress_.resize(static_cast<std::size_t>(ingress_cpus_));
}

CpuMap::~CpuMap() {
  if (detail::rcu_in_read_section()) {
    std::fputs(
        "xmaps: a CpuMap destroyed inside a poll batch (before RedirectContext::flush())"
        " would wait for itself\n",
        stderr);
    std::abort();
  }
  std::vector<detail::CpuMapEntry*> old;
  for (std::uint32_t i = 0; i < max_entries_; ++i) {
    // Acq_rel: acquire the entry (its worker is ours to stop); release our nullptr.
    if (detail::CpuMapEntry* e = slots_[i].exchange(nullptr, std::memory_order_acq_rel))
      old.push_back(e);
  }
  retire(std::move(old));
}

Errc CpuMap::update(std::uint32_t key, std::uint32_t qsize,
                    std::shared_ptr<const XdpProgram> program, std::uint64_t flags) {
  if (flags > static_cast<std::uint64_t>(UpdateFlag::exist))
    return Errc::invalid;
  if (key >= max_entries_)
    return Errc::too_big;
  if (flags == static_cast<std::uint64_t>(UpdateFlag::no_exist))
    return Errc::exists;
  if (qsize > kMaxQsize)
    return Errc::overflow;
  if (key >= static_cast<std::uint32_t>(possible_cpus()))
    return Errc::no_device;
  if (detail::rcu_in_read_section())
    return Errc::busy;
  if (qsize == 0)
    return replace(key, nullptr);

  auto e = std::make_unique<detail::CpuMapEntry>();
  e->key = key;
  e->qsize = qsize;
  e->bulk = options_.bulk_size;
  e->program = std::move(program);
  e->ingress_cpus = ingress_cpus_;
  try {
    e->ingress = std::make_unique<detail::CacheAligned<detail::IngressCounters>[]>(
        static_cast<std::size_t>(ingress_cpus_));
  } catch (const std::bad_alloc&) {
    return Errc::no_memory;
  }
  if (options_.manual_workers) {
    // No thread: the ring is made here, and run_worker() empties it.
    e->manual = true;
    try {
      e->ring = std::make_unique<detail::MpmcRing>(8, qsize);
    } catch (const std::exception&) {
      return Errc::no_memory;
    }
    return replace(key, std::move(e));
  }
  // The worker places itself, then makes its ring (first touch on its node), then reports
  // through raw->ready (a member: it outlives this call's wait).
  detail::CpuMapEntry* const raw = e.get();
  try {
    e->worker = std::thread([this, raw] {
      if (options_.pin_workers)
        raw->pinned = pin_to(static_cast<int>(raw->key));
      if (options_.worker_init)
        options_.worker_init(static_cast<int>(raw->key));
      int state = 1;
      try {
        raw->ring = std::make_unique<detail::MpmcRing>(8, raw->qsize);
      } catch (const std::exception&) {
        state = 2;
      }
      // Release: the ring and `pinned` before the report.
      raw->ready.store(state, std::memory_order_release);
      raw->ready.notify_one();
      if (state == 1)
        worker_loop(*raw, options_.sink, options_.batch_size);
    });
  } catch (const std::system_error&) {
    return Errc::no_memory;
  }
  // Acquire: pairs with the worker's release: its ring is made.
  e->ready.wait(0, std::memory_order_acquire);
  // Acquire: as above (wait returned because the value changed).
  if (e->ready.load(std::memory_order_acquire) != 1) {
    e->worker.join();
    return Errc::no_memory;
  }
  return replace(key, std::move(e));
}

Errc CpuMap::erase(std::uint32_t key) {
  if (key >= max_entries_)
    return Errc::invalid;
  if (detail::rcu_in_read_section())
    return Errc::busy;
  return replace(key, nullptr);
}

Errc CpuMap::replace(std::uint32_t key, std::unique_ptr<detail::CpuMapEntry> fresh) {
  // Acq_rel: release publishes the new entry to redirect_map()'s acquire; acquire takes the
  // old one (its worker) over.
  detail::CpuMapEntry* const old = slots_[key].exchange(fresh.release(), std::memory_order_acq_rel);
  if (old != nullptr)
    retire({old});
  return Errc::ok;
}

void CpuMap::retire(std::vector<detail::CpuMapEntry*> old) {
  if (old.empty())
    return;
  if (options_.manual_workers) {
    // One thread drives a manual map, and it is not inside a batch (update/erase checked):
    // nobody else can push. Drain on this thread, then fold the counters in.
    for (detail::CpuMapEntry* e : old)
      (void)run_manual(*e, options_.sink, options_.batch_size, static_cast<std::size_t>(-1));
    std::lock_guard lock(control_);
    for (detail::CpuMapEntry* e : old)
      fold_and_free(e);
    return;
  }
  // Every ingress thread that could have read these entries leaves its read section at its
  // flush, after its frames are in the ring: after this, nobody pushes into them.
  detail::rcu_flush();
  for (detail::CpuMapEntry* e : old) {
    // Seq_cst: the stopper's half of the Dekker pair (cpumap_entry.h), then the wake-up.
    e->stop.store(true, std::memory_order_seq_cst);
    // Seq_cst: as wake_if_sleeping().
    e->sleeping.value.exchange(0, std::memory_order_seq_cst);
    e->sleeping.value.notify_one();
  }
  std::lock_guard lock(control_);
  for (detail::CpuMapEntry* e : old) {
    e->worker.join();  // it drained its ring first
    fold_and_free(e);
  }
}

void CpuMap::fold_and_free(detail::CpuMapEntry* e) {
  retired_[e->key] += read(*e);
  for (int c = 0; c < e->ingress_cpus; ++c) {
    CpuMapStats s;
    // Relaxed (both): the worker has been joined (or ran on this thread) and every producer
    // is gone.
    s.enqueued =
        e->ingress[static_cast<std::size_t>(c)].value.enqueued.load(std::memory_order_relaxed);
    s.enqueue_drops =
        e->ingress[static_cast<std::size_t>(c)].value.enqueue_drops.load(std::memory_order_relaxed);
    retired_ingress_[static_cast<std::size_t>(c)] += s;
  }
  delete e;
}

std::size_t CpuMap::run_worker(std::uint32_t key, std::size_t max_frames) {
  if (!options_.manual_workers || key >= max_entries_)
    return 0;
  // Acquire: as entry_for_redirect() (the same thread made it, in manual use).
  detail::CpuMapEntry* const e = slots_[key].load(std::memory_order_acquire);
  if (e == nullptr)
    return 0;
  return run_manual(*e, options_.sink, options_.batch_size, max_frames);
}

std::size_t CpuMap::ring_count_locked(std::uint32_t key) const noexcept {
  if (key >= max_entries_)
    return 0;
  std::lock_guard lock(control_);  // the entry cannot be freed while we read it
  // Acquire: as lookup().
  const detail::CpuMapEntry* const e = slots_[key].load(std::memory_order_acquire);
  return e == nullptr ? 0 : e->ring->size();
}

CpuMapStats CpuMap::read(const detail::CpuMapEntry& e) {
  CpuMapStats s;
  for (int c = 0; c < e.ingress_cpus; ++c) {
    const detail::IngressCounters& ic = e.ingress[static_cast<std::size_t>(c)].value;
    // Relaxed (all loads here): statistics, a snapshot.
    s.enqueued += ic.enqueued.load(std::memory_order_relaxed);
    s.enqueue_drops += ic.enqueue_drops.load(std::memory_order_relaxed);
  }
  const detail::WorkerCounters& w = e.worker_counters.value;
  s.processed = w.processed.load(std::memory_order_relaxed);
  s.passed = w.passed.load(std::memory_order_relaxed);
  s.dropped = w.dropped.load(std::memory_order_relaxed);
  s.redirected = w.redirected.load(std::memory_order_relaxed);
  s.redirect_errors = w.redirect_errors.load(std::memory_order_relaxed);
  s.aborted = w.aborted.load(std::memory_order_relaxed);
  s.sleeps = w.sleeps.load(std::memory_order_relaxed);
  return s;
}

Errc CpuMap::lookup(std::uint32_t key, CpuMapValue& out) const {
  if (key >= max_entries_)
    return Errc::not_found;
  std::lock_guard lock(control_);  // the entry cannot be freed while we read it
  // Acquire: the entry's fields, as redirect_map().
  const detail::CpuMapEntry* const e = slots_[key].load(std::memory_order_acquire);
  if (e == nullptr)
    return Errc::not_found;
  out.qsize = e->qsize;
  out.prog_id = e->program ? e->program->id() : 0;
  return Errc::ok;
}

Errc CpuMap::get_next_key(const std::uint32_t* key, std::uint32_t& next) const noexcept {
  if (key == nullptr || *key >= max_entries_) {
    next = 0;
    return Errc::ok;
  }
  if (*key == max_entries_ - 1)
    return Errc::not_found;
  next = *key + 1;
  return Errc::ok;
}

CpuMapStats CpuMap::stats(std::uint32_t key) const {
  if (key >= max_entries_)
    return {};
  std::lock_guard lock(control_);
  CpuMapStats s = retired_[key];
  // Acquire: as lookup().
  if (const detail::CpuMapEntry* e = slots_[key].load(std::memory_order_acquire))
    s += read(*e);
  return s;
}

CpuMapStats CpuMap::ingress_stats(int cpu) const {
  if (cpu < 0 || cpu >= ingress_cpus_)
    return {};
  std::lock_guard lock(control_);
  CpuMapStats s = retired_ingress_[static_cast<std::size_t>(cpu)];
  for (std::uint32_t k = 0; k < max_entries_; ++k) {
    // Acquire: as lookup().
    if (const detail::CpuMapEntry* e = slots_[k].load(std::memory_order_acquire)) {
      const detail::IngressCounters& ic = e->ingress[static_cast<std::size_t>(cpu)].value;
      // Relaxed (both): statistics.
      s.enqueued += ic.enqueued.load(std::memory_order_relaxed);
      s.enqueue_drops += ic.enqueue_drops.load(std::memory_order_relaxed);
    }
  }
  return s;
}

CpuMapStats CpuMap::totals() const {
  CpuMapStats s;
  for (std::uint32_t k = 0; k < max_entries_; ++k)
    s += stats(k);
  return s;
}

bool CpuMap::worker_pinned(std::uint32_t key) const {
  if (key >= max_entries_)
    return false;
  std::lock_guard lock(control_);
  // Acquire: as lookup(); `pinned` was published with the ring.
  const detail::CpuMapEntry* const e = slots_[key].load(std::memory_order_acquire);
  return e != nullptr && e->pinned;
}

}  // namespace xmaps
