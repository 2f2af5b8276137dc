// SPDX-License-Identifier: MIT
//
// TypedRing<T, Engine>: the typed face shared by Queue<T> and Stack<T> (xmaps/queue_map.h,
// xmaps/stack_map.h) over a byte-level ring engine with the kernel's push/pop/peek rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "xmaps/concepts.h"
#include "xmaps/errc.h"

namespace xmaps::detail {

template <MapValue T, class Engine>
class TypedRing {
 public:
  TypedRing(const TypedRing&) = delete;
  TypedRing& operator=(const TypedRing&) = delete;
  TypedRing(TypedRing&&) = delete;
  TypedRing& operator=(TypedRing&&) = delete;

  // push (bpf_map_push_elem): UpdateFlag::any fails with Errc::too_big when full;
  // UpdateFlag::exist drops the oldest element to make room (counted in dropped());
  // UpdateFlag::no_exist is Errc::invalid, as the kernel.
  [[nodiscard]] Errc push(const T& value, UpdateFlag flags = UpdateFlag::any) noexcept {
    return engine_.template push<sizeof(T)>(&value, static_cast<std::uint64_t>(flags));
  }
  // pop / peek (bpf_map_pop_elem / bpf_map_peek_elem): Errc::not_found when empty, and `out`
  // is then zeroed, as the kernel's helpers do.
  [[nodiscard]] Errc pop(T& out) noexcept { return engine_.template pop<sizeof(T)>(&out); }
  [[nodiscard]] Errc peek(T& out) const noexcept { return engine_.template peek<sizeof(T)>(&out); }
  [[nodiscard]] std::optional<T> pop() noexcept {
    T out{};
    return pop(out) == Errc::ok ? std::optional<T>(out) : std::nullopt;
  }
  [[nodiscard]] std::optional<T> peek() const noexcept {
    T out{};
    return peek(out) == Errc::ok ? std::optional<T>(out) : std::nullopt;
  }

  // Pushes values in order; returns how many went in. UpdateFlag::any stops at the first that
  // finds the map full (the rest were not pushed: E2BIG); UpdateFlag::exist pushes them all,
  // dropping the oldest as needed. UpdateFlag::no_exist pushes none.
  std::size_t push_bulk(std::span<const T> values, UpdateFlag flags = UpdateFlag::any) noexcept {
    return engine_.template push_bulk<sizeof(T)>(values.data(), values.size(),
                                                 static_cast<std::uint64_t>(flags));
  }
  // Pops up to out.size() values, in pop order; returns how many.
  std::size_t pop_bulk(std::span<T> out) noexcept {
    return engine_.template pop_bulk<sizeof(T)>(out.data(), out.size());
  }

  // max_entries.
  [[nodiscard]] std::uint32_t capacity() const noexcept { return engine_.capacity(); }
  // Elements now (a snapshot when other threads push or pop).
  [[nodiscard]] std::uint32_t size() const noexcept { return engine_.size(); }
  // Elements dropped by UpdateFlag::exist pushes on a full map, since construction. Queue:
  // O(capacity) (it sums per-slot counters); Stack: one load.
  [[nodiscard]] std::uint64_t dropped() const noexcept { return engine_.dropped(); }

 protected:
  template <class... Args>
  explicit TypedRing(Args&&... args) : engine_(static_cast<Args&&>(args)...) {}
  ~TypedRing() = default;

  Engine engine_;
};

}  // namespace xmaps::detail
