// SPDX-License-Identifier: MIT
//
// Frames and the preallocated pool they come from: what the redirect engine (xmaps/cpumap.h)
// carries between CPUs, the user-space xdp_frame.
//
// A FramePool owns `count` buffers of `buffer_size` bytes, made at construction; alloc() hands
// one out (data = buffer + headroom, len 0) and free() takes it back. Nothing is allocated per
// frame. The pool's free list is the lock-free queue ring (detail/mpmc_ring.h), so any thread
// may allocate and any thread may free (a CPUMAP worker recycles frames an ingress CPU took).
//
//   xmaps::FramePool pool(4096);                  // 4096 frames of 2048 bytes, 256 headroom
//   xmaps::Frame* f = pool.alloc();               // nullptr when every frame is out
//   std::memcpy(f->data, packet, n); f->len = n;
//   ...                                           // hand it on; whoever ends it calls
//   f->recycle();                                 // (or pool.free(f))
//
// Ownership: a frame has one owner at a time (the thread that allocated it, then whoever it
// was handed to). free() of a frame that is not out (a double free, or a frame already handed
// to the redirect engine) or of a frame from another pool is refused (returns false, counted
// in bad_frees()) instead of corrupting the pool; in_use() tells how many frames are out or
// in the engine. Frames travel through the engine's rings as (pool id, index) words, so the
// CPU that recycles a frame need not read it; a pool has an id (at most 4096 pools at once).
//
// Layout: buffers sit buffer_stride() bytes apart, buffer_size rounded up to an odd number of
// cache lines (2048 -> 2112), so the packet starts of consecutive frames fall in different
// cache sets. At a power-of-two stride they share a few sets (every 2048-byte buffer's
// data line in 2 of L1's 64 sets and 32 of a 1024-set L2's): a pool of thousands of frames in
// flight would then miss on every frame however small its working set (DPDK's mempool spreads
// its objects over cache lines and channels for the same reason).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>

#include "xmaps/detail/mpmc_ring.h"
#include "xmaps/detail/region.h"

namespace xmaps {

class FramePool;

struct Frame {
  unsigned char* data = nullptr;  // first byte of the packet, inside the buffer
  std::uint32_t len = 0;          // packet bytes from data
  std::uint32_t rx_queue = 0;     // RX queue the frame arrived on (xdp_md.rx_queue_index)
  std::uint32_t ifindex = 0;      // ingress interface (xdp_md.ingress_ifindex)
  int ingress_cpu = -1;           // CPU whose program first saw it
  std::uint64_t stamp_ns = 0;     // the user's (the simulator: generation time, for latency)
  std::uint64_t user = 0;         // the user's

  // The buffer: data - buffer() is the headroom, buffer() + buffer_size() the end.
  [[nodiscard]] unsigned char* buffer() const noexcept { return buf_; }
  [[nodiscard]] std::uint32_t buffer_size() const noexcept { return buf_size_; }
  [[nodiscard]] std::uint32_t headroom() const noexcept {
    return static_cast<std::uint32_t>(data - buf_);
  }
  [[nodiscard]] std::uint32_t tailroom() const noexcept { return buf_size_ - headroom() - len; }
  [[nodiscard]] unsigned char* data_end() const noexcept { return data + len; }
  [[nodiscard]] FramePool* pool() const noexcept { return pool_; }
  // Position in the pool, 0 .. count - 1 (for per-frame side tables).
  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  // Returns the frame to its pool (FramePool::free).
  bool recycle() noexcept;

 private:
  friend class FramePool;
  unsigned char* buf_ = nullptr;
  std::uint32_t buf_size_ = 0;
  std::uint32_t index_ = 0;
  FramePool* pool_ = nullptr;
};

namespace detail {
// Every live FramePool by id, so a frame can travel through a ring as (pool id, index) and be
// recycled without its metadata being read (on the CPU that did not write it last).
inline constexpr std::uint32_t kMaxFramePools = 4096;
inline std::atomic<FramePool*>* frame_pools() noexcept {
  static std::atomic<FramePool*> pools[kMaxFramePools];  // constant-initialised to nullptr
  return pools;
}
}  // namespace detail

class FramePool {
 public:
  static constexpr std::uint32_t kDefaultBufferSize = 2048;
  static constexpr std::uint32_t kDefaultHeadroom = 256;  // XDP_PACKET_HEADROOM

  // Throws std::invalid_argument (count 0, headroom >= buffer_size, sizes that overflow),
  // std::bad_alloc.
  explicit FramePool(std::uint32_t count, std::uint32_t buffer_size = kDefaultBufferSize,
                     std::uint32_t headroom = kDefaultHeadroom)
      : count_(count),
        buffer_size_(buffer_size),
        headroom_(headroom),
        stride_(stride_of(buffer_size)),
        free_(8, check(count, buffer_size, headroom)) {
    buffers_ = detail::Region(static_cast<std::size_t>(count) * stride_, /*commit=*/true);
    frames_ = std::make_unique<Frame[]>(count);
    out_ = std::make_unique<std::atomic<std::uint8_t>[]>(count);  // value-initialised: 0
    for (std::uint32_t i = 0; i < count; ++i) {
      Frame& f = frames_[i];
      f.buf_ = buffers_.data() + static_cast<std::size_t>(i) * stride_;
      f.buf_size_ = buffer_size;
      f.index_ = i;
      f.pool_ = this;
      const std::uint64_t word = i;
      (void)free_.push<8>(&word, 0);  // cannot fail: the ring holds count values
    }
    id_ = register_pool(this);
  }
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;
  FramePool(FramePool&&) = delete;
  FramePool& operator=(FramePool&&) = delete;
  ~FramePool() {
    // Release: pairs with register_pool()'s acquire CAS by a later pool taking the id.
    detail::frame_pools()[id_].store(nullptr, std::memory_order_release);
  }

  // The pool's id (0 .. kMaxFramePools - 1, unique among live pools) and the pool of an id.
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  [[nodiscard]] static FramePool* from_id(std::uint32_t id) noexcept {
    // Acquire: pairs with the registering CAS: the pool is constructed.
    return id < detail::kMaxFramePools ? detail::frame_pools()[id].load(std::memory_order_acquire)
                                       : nullptr;
  }
  // Frame `index` (nullptr out of range); whether it is out is not checked.
  [[nodiscard]] Frame* frame_at(std::uint32_t index) const noexcept {
    return index < count_ ? &frames_[index] : nullptr;
  }

  // A frame with data = buffer + headroom, len 0, the metadata zeroed; nullptr if every frame
  // is out. Lock-free.
  [[nodiscard]] Frame* alloc() noexcept {
    std::uint64_t word = 0;
    if (free_.pop<8>(&word) != Errc::ok)
      return nullptr;
    return take(word);
  }

  // Up to n frames into out[]; returns how many.
  std::size_t alloc_bulk(Frame** out, std::size_t n) noexcept {
    std::uint64_t words[kBulk];
    std::size_t done = 0;
    while (done < n) {
      const std::size_t want = n - done < kBulk ? n - done : kBulk;
      const std::size_t got = free_.pop_bulk<8>(words, want);
      // Recycled frames were last written by the thread that freed them: overlap the misses.
      for (std::size_t i = 0; i < got; ++i)
        __builtin_prefetch(&frames_[static_cast<std::size_t>(words[i])], 1);
      for (std::size_t i = 0; i < got; ++i)
        out[done + i] = take(words[i]);
      done += got;
      if (got < want)
        break;
    }
    return done;
  }

  // Takes a frame back. False (and nothing changes but bad_frees()) for nullptr, a frame of
  // another pool, or a frame that is not out.
  bool free(Frame* f) noexcept {
    if (f == nullptr || f->pool_ != this || !give_back(f->index_)) {
      // Relaxed: a statistic.
      bad_frees_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const std::uint64_t word = f->index_;
    (void)free_.push<8>(&word, 0);  // cannot fail: at most count indices exist
    return true;
  }

  // free() of frames by index (the frames themselves are not read); returns how many were
  // taken back (an index out of range or of a frame that is not out is refused and counted).
  std::size_t free_indices(const std::uint32_t* indices, std::size_t n) noexcept {
    std::uint64_t words[kBulk];
    std::size_t taken = 0;
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!give_back(indices[i])) {
        // Relaxed: a statistic.
        bad_frees_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      words[k++] = indices[i];
      if (k == kBulk) {
        taken += free_.push_bulk<8>(words, k, 0);  // all fit: at most count indices exist
        k = 0;
      }
    }
    if (k != 0)
      taken += free_.push_bulk<8>(words, k, 0);
    return taken;
  }

  // free() of n frames with one claim on the free list per kBulk; returns how many were taken
  // back (the refused ones are counted in bad_frees(), as free()).
  std::size_t free_bulk(Frame* const* frames, std::size_t n) noexcept {
    std::uint32_t indices[kBulk];
    std::size_t taken = 0;
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      Frame* const f = frames[i];
      if (f == nullptr || f->pool_ != this) {
        // Relaxed: a statistic.
        bad_frees_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      indices[k++] = f->index_;
      if (k == kBulk) {
        taken += free_indices(indices, k);
        k = 0;
      }
    }
    if (k != 0)
      taken += free_indices(indices, k);
    return taken;
  }

  // For the redirect engine (xmaps/redirect.h). A frame handed to the engine stops being "out"
  // (free() of it is refused from then on) and the engine gives it back by index, unread and
  // unchecked: the ownership flag is then only ever written by the thread that allocated the
  // frame and handed it over, never by the worker that recycles it.
  // False (nothing changes) if frame `index` is not out: handed over already, or free.
  [[nodiscard]] bool hand_to_engine(std::uint32_t index) noexcept { return give_back(index); }
  // Frames the engine took with hand_to_engine(), back into the free list.
  void take_back_from_engine(const std::uint32_t* indices, std::size_t n) noexcept {
    std::uint64_t words[kBulk];
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      words[k++] = indices[i];
      if (k == kBulk) {
        (void)free_.push_bulk<8>(words, k, 0);  // all fit: at most count indices exist
        k = 0;
      }
    }
    if (k != 0)
      (void)free_.push_bulk<8>(words, k, 0);
  }

  [[nodiscard]] std::uint32_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint32_t buffer_size() const noexcept { return buffer_size_; }
  // Bytes from one frame's buffer to the next one's (>= buffer_size(); see "Layout").
  [[nodiscard]] std::size_t buffer_stride() const noexcept { return stride_; }
  [[nodiscard]] std::uint32_t headroom() const noexcept { return headroom_; }
  // Frames out now (a snapshot while other threads allocate and free).
  [[nodiscard]] std::uint32_t in_use() const noexcept { return count_ - free_.size(); }
  [[nodiscard]] std::uint64_t bad_frees() const noexcept {
    // Relaxed: a statistic.
    return bad_frees_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t kBulk = 32;

  static std::uint32_t check(std::uint32_t count, std::uint32_t buffer_size,
                             std::uint32_t headroom) {
    if (count == 0)
      throw std::invalid_argument("xmaps: FramePool count must be > 0");
    if (headroom >= buffer_size)
      throw std::invalid_argument("xmaps: FramePool headroom must be smaller than buffer_size");
    if (static_cast<std::uint64_t>(count) * stride_of(buffer_size) >
        std::numeric_limits<std::size_t>::max() / 2)
      throw std::invalid_argument("xmaps: FramePool count * buffer_size is too large");
    return count;
  }
  // buffer_size rounded up to an odd number of cache lines (see "Layout" above).
  static constexpr std::size_t stride_of(std::uint32_t buffer_size) noexcept {
    constexpr std::size_t kLine = 64;
    const std::size_t lines = (std::size_t{buffer_size} + kLine - 1) / kLine;
    return (lines | 1U) * kLine;
  }

  Frame* take(std::uint64_t word) noexcept {
    Frame& f = frames_[static_cast<std::size_t>(word)];
    f.data = f.buf_ + headroom_;
    f.len = 0;
    f.rx_queue = 0;
    f.ifindex = 0;
    f.ingress_cpu = -1;
    f.stamp_ns = 0;
    f.user = 0;
    // Relaxed: the flag belongs to the frame's owner (this thread now); ownership itself
    // moves with the free list's and the rings' release/acquire.
    out_[static_cast<std::size_t>(word)].store(1, std::memory_order_relaxed);
    return &f;
  }

  // Marks frame `index` free; false if it is out of range or not out.
  bool give_back(std::uint32_t index) noexcept {
    if (index >= count_)
      return false;
    // Relaxed (both): as in take().
    if (out_[index].load(std::memory_order_relaxed) == 0)
      return false;
    out_[index].store(0, std::memory_order_relaxed);
    return true;
  }

  static std::uint32_t register_pool(FramePool* pool) {
    for (std::uint32_t i = 0; i < detail::kMaxFramePools; ++i) {
      FramePool* expected = nullptr;
      // Acq_rel: release publishes the constructed pool to from_id(); acquire orders us after
      // the previous holder's release of the id.
      if (detail::frame_pools()[i].compare_exchange_strong(
              expected, pool, std::memory_order_acq_rel, std::memory_order_relaxed))
        return i;
    }
    throw std::length_error("xmaps: more than 4096 FramePools alive at once");
  }

  const std::uint32_t count_;
  const std::uint32_t buffer_size_;
  const std::uint32_t headroom_;
  const std::size_t stride_;  // bytes from one buffer to the next
  detail::MpmcRing free_;
  detail::Region buffers_;
  std::unique_ptr<Frame[]> frames_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> out_;  // [count]: 1 while the frame is out
  std::uint32_t id_ = 0;
  std::atomic<std::uint64_t> bad_frees_{0};
};

inline bool Frame::recycle() noexcept {
  return pool_ != nullptr && pool_->free(this);
}

namespace detail {
// A frame as a ring carries it: (pool id << 32) | index for a pool's frame, so the receiver
// can recycle it without reading it; the address with bit 63 set for a frame of no pool.
inline constexpr std::uint64_t kRawFrameBit = 1ULL << 63;
inline std::uint64_t frame_word(const Frame* f) noexcept {
  if (const FramePool* pool = f->pool())
    return static_cast<std::uint64_t>(pool->id()) << 32 | f->index();
  return kRawFrameBit | reinterpret_cast<std::uintptr_t>(f);
}
inline Frame* word_frame(std::uint64_t w) noexcept {
  if ((w & kRawFrameBit) != 0)
    return reinterpret_cast<Frame*>(static_cast<std::uintptr_t>(w & ~kRawFrameBit));
  return FramePool::from_id(static_cast<std::uint32_t>(w >> 32))
      ->frame_at(static_cast<std::uint32_t>(w));
}
// Recycles frames the engine holds, given as words (each run from one pool in one
// take_back_from_engine()); frames of no pool are left to their owner.
inline void recycle_words(const std::uint64_t* words, std::size_t n) noexcept {
  std::uint32_t indices[64];
  std::size_t i = 0;
  while (i < n) {
    if ((words[i] & kRawFrameBit) != 0) {
      ++i;  // no pool to go back to
      continue;
    }
    const std::uint64_t pool_id = words[i] >> 32;
    std::size_t k = 0;
    while (i < n && k < 64 && (words[i] & kRawFrameBit) == 0 && words[i] >> 32 == pool_id)
      indices[k++] = static_cast<std::uint32_t>(words[i++]);
    FramePool::from_id(static_cast<std::uint32_t>(pool_id))->take_back_from_engine(indices, k);
  }
}
}  // namespace detail

// Frames back to their pools, each run of frames from one pool in one free_bulk(). Frames not
// from a pool are skipped.
inline void recycle_frames(Frame* const* frames, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    FramePool* const pool = frames[i]->pool();
    std::size_t j = i + 1;
    while (j < n && frames[j]->pool() == pool)
      ++j;
    if (pool != nullptr)
      (void)pool->free_bulk(frames + i, j - i);
    i = j;
  }
}

}  // namespace xmaps
