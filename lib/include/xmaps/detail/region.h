// SPDX-License-Identifier: MIT
//
// Region: an anonymous memory mapping, zero-filled. A preallocated map asks for its memory to be
// committed at construction, so no page fault or allocation happens on the hot path; a
// NO_PREALLOC map reserves address space only (MAP_NORESERVE) and pages are committed by first
// touch, so memory grows with use as in the kernel's on-demand allocation.
//
// Regions of 2 MiB or more ask for transparent huge pages (MADV_HUGEPAGE; a no-op where THP is
// off): random lookups in a large map otherwise pay a TLB miss and page walk on top of the
// cache miss. (Not yet a benchmark case of its own: bench/ measures only with the advice on.)
#pragma once

#include <cstddef>
#include <new>
#include <sys/mman.h>
#include <utility>

namespace xmaps::detail {

class Region {
 public:
  Region() = default;
  // Throws std::bad_alloc if the mapping cannot be made.
  Region(std::size_t bytes, bool commit) : size_(bytes == 0 ? 1 : bytes) {
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (commit ? 0 : MAP_NORESERVE);
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
      throw std::bad_alloc();
    data_ = static_cast<unsigned char*>(p);
    if (size_ >= kHugePage)
      ::madvise(data_, size_, MADV_HUGEPAGE);  // advice: failure is harmless
    if (commit) {
      // Commit now (after the advice, so the pages come huge where possible).
#ifdef MADV_POPULATE_WRITE
      const int populated = ::madvise(data_, size_, MADV_POPULATE_WRITE);  // Linux 5.14+
#else
      const int populated = -1;
#endif
      if (populated != 0) {
        for (std::size_t off = 0; off < size_; off += 4096)
          data_[off] = 0;
      }
    }
  }
  ~Region() {
    if (data_ != nullptr)
      ::munmap(data_, size_);
  }
  Region(Region&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Region& operator=(Region&& other) noexcept {
    if (this != &other) {
      if (data_ != nullptr)
        ::munmap(data_, size_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  static constexpr std::size_t kHugePage = 2U << 20;

  [[nodiscard]] unsigned char* data() const noexcept {
    return data_;
  }
  [[nodiscard]] std::size_t size() const noexcept {
    return size_;
  }

 private:
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace xmaps::detail
