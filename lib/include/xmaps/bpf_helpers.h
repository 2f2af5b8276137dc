// SPDX-License-Identifier: MIT
//
// Program side of BPF-C compatibility: an XDP program written against libbpf's bpf_helpers.h
// compiles unchanged as C++ against xmaps (only the include lines differ: this header replaces
// <linux/bpf.h> and <bpf/bpf_helpers.h>) and runs natively on xmaps maps.
//
//   struct {
//     __uint(type, BPF_MAP_TYPE_LRU_HASH);
//     __uint(max_entries, 32);
//     __type(key, struct key);
//     __type(value, struct value);
//   } packet_stats SEC(".maps");
//
//   struct value *v = bpf_map_lookup_elem(&packet_stats, &key);   // a datapath lookup
//
// A map definition is an ordinary global; its type, key and value sizes, max_entries and
// map_flags come from its members' types (as libbpf reads them from BTF), and the map is made
// the first time a helper (or xmaps::bpf_map_of) touches it. Declarations the kernel would
// reject fail at compile time where the types show it (no type; no value; a key on a QUEUE /
// STACK; bpf_redirect_map() into a map that is not a CPUMAP), otherwise at first use with the
// kernel's errno, the one the map's creation gave: helpers then return NULL / -errno and the
// reason is printed once on stderr.
//
// Helpers, with the kernel's meaning and return values (negative errno as a long):
//   bpf_map_lookup_elem, bpf_map_update_elem, bpf_map_delete_elem, bpf_map_lookup_percpu_elem,
//   bpf_map_push_elem, bpf_map_pop_elem, bpf_map_peek_elem, bpf_redirect_map (CPUMAP; the
//   thread needs a RedirectContext, xmaps/redirect.h), bpf_get_smp_processor_id (the thread's
//   current_cpu()), bpf_num_possible_cpus, bpf_loop; __sync_fetch_and_add works on values as in
//   BPF.
// `struct xdp_md` has the kernel's field names, with data / data_end / data_meta wide enough
// for native pointers (so `(void *)(long)ctx->data` works); xmaps::xdp_program(fn) turns
// `int fn(struct xdp_md *)` into an XdpProgram the redirect engine and the simulator run.
//
// Differences: BPF_F_LOCK / bpf_spin_lock, tail calls and BTF-only map types are not offered;
// the verifier's checks (bounds against data_end) are the program's own business natively.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "xmaps/cpu.h"
#include "xmaps/cpumap.h"
#include "xmaps/detail/bpf_definition.h"
#include "xmaps/detail/linux_bpf.h"  // the constants, and struct xdp_md
#include "xmaps/frame_pool.h"
#include "xmaps/map.h"
#include "xmaps/redirect.h"
#include "xmaps/xdp.h"

// ---- libbpf's map-definition macros ----------------------------------------------------------
#ifndef __uint
#define __uint(name, val) int(*name)[val]
#endif
#ifndef __type
#define __type(name, val) val* name
#endif
#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

// A program's return value is its XdpAction (xdp_program() casts one to the other).
static_assert(static_cast<std::uint32_t>(xmaps::XdpAction::aborted) == XDP_ABORTED &&
                  static_cast<std::uint32_t>(xmaps::XdpAction::drop) == XDP_DROP &&
                  static_cast<std::uint32_t>(xmaps::XdpAction::pass) == XDP_PASS &&
                  static_cast<std::uint32_t>(xmaps::XdpAction::tx) == XDP_TX &&
                  static_cast<std::uint32_t>(xmaps::XdpAction::redirect) == XDP_REDIRECT,
              "xmaps: XdpAction's values must be the kernel's XDP_* actions");

namespace xmaps {
namespace bpf_detail {

// N of `int (*)[N]`, the type __uint(name, N) gives a member.
template <class T>
struct UintOf;
template <std::size_t N>
struct UintOf<int (*)[N]> {
  static constexpr std::uint64_t value = N;
};
// __uint(name, 0) gives `int (*)[0]`, a GNU zero-length array (as in BPF-C), which does not
// deduce N = 0 above: e.g. __uint(max_entries, 0), which then fails at first use with the
// kernel's EINVAL. (Such a declaration draws -Wpedantic's zero-size-array warning.)
template <class T>
concept ZeroLengthArrayPointer = std::is_pointer_v<T> && sizeof(std::remove_pointer_t<T>) == 0;
template <ZeroLengthArrayPointer T>
struct UintOf<T> {
  static constexpr std::uint64_t value = 0;
};

template <class Def>
concept HasType = requires(Def d) {
  d.type;
};
template <class Def>
concept HasKey = requires(Def d) {
  *d.key;
};
template <class Def>
concept HasValue = requires(Def d) {
  *d.value;
};
template <class Def>
concept HasKeySize = requires(Def d) {
  d.key_size;
};
template <class Def>
concept HasValueSize = requires(Def d) {
  d.value_size;
};
template <class Def>
concept HasMaxEntries = requires(Def d) {
  d.max_entries;
};
template <class Def>
concept HasMapFlags = requires(Def d) {
  d.map_flags;
};

template <class Def>
constexpr std::uint64_t map_type() {
  static_assert(HasType<Def>, "xmaps: a BPF map definition needs __uint(type, BPF_MAP_TYPE_...)");
  return UintOf<decltype(Def::type)>::value;
}

template <class Def>
constexpr std::uint32_t key_size() {
  if constexpr (HasKey<Def>) {
    return sizeof(std::remove_pointer_t<decltype(Def::key)>);
  } else if constexpr (HasKeySize<Def>) {
    return static_cast<std::uint32_t>(UintOf<decltype(Def::key_size)>::value);
  } else {
    return 0;
  }
}

template <class Def>
constexpr std::uint32_t value_size() {
  if constexpr (HasValue<Def>) {
    return sizeof(std::remove_pointer_t<decltype(Def::value)>);
  } else if constexpr (HasValueSize<Def>) {
    return static_cast<std::uint32_t>(UintOf<decltype(Def::value_size)>::value);
  } else {
    return 0;
  }
}

template <class Def>
MapSpec spec_of() {
  constexpr std::uint64_t type = map_type<Def>();
  static_assert(type != BPF_MAP_TYPE_UNSPEC, "xmaps: BPF_MAP_TYPE_UNSPEC is not a map type");
  if constexpr (type == BPF_MAP_TYPE_QUEUE || type == BPF_MAP_TYPE_STACK) {
    static_assert(!HasKey<Def> && key_size<Def>() == 0,
                  "xmaps: QUEUE and STACK maps have no key: drop the __type(key, ...) line");
  }
  static_assert(HasValue<Def> || HasValueSize<Def>,
                "xmaps: a BPF map definition needs __type(value, ...) or __uint(value_size, ...)");
  MapSpec s;
  s.type = static_cast<MapType>(type);
  s.key_size = key_size<Def>();
  s.value_size = value_size<Def>();
  if constexpr (HasMaxEntries<Def>)
    s.max_entries = static_cast<std::uint32_t>(UintOf<decltype(Def::max_entries)>::value);
  if constexpr (HasMapFlags<Def>)
    s.flags = static_cast<std::uint32_t>(UintOf<decltype(Def::map_flags)>::value);
  return s;
}

// The definition's live map, nullptr if it cannot be made; then *error (if given) is why: the
// errno of the map's creation (e.g. EINVAL for max_entries 0, ENOTSUPP for an LRU_HASH with
// BPF_F_NO_PREALLOC), or ENOMEM if the registry entry cannot be made. One cached handle per
// definition type (a definition's struct type is unnamed, so nearly always one variable per
// type).
template <class Def>
Map* map_of(Def* def, Errc* error = nullptr) noexcept {
  static std::atomic<::bpf_map*> cached{nullptr};
  // Acquire: pairs with the release below: the handle is complete.
  ::bpf_map* m = cached.load(std::memory_order_acquire);
  if (m == nullptr || m->def != def) [[unlikely]] {
    m = define(def, spec_of<Def>());
    if (m == nullptr) {
      if (error != nullptr)
        *error = Errc::no_memory;
      return nullptr;
    }
    // Release: publishes the handle (define() made it under the registry's lock).
    cached.store(m, std::memory_order_release);
  }
  return live(m, error);
}

// What a lookup returns: converts to any object pointer, as void * does in C.
struct ElemPointer {
  void* p;
  template <class T>
  operator T*() const noexcept {  // NOLINT(google-explicit-constructor): C's void * rules
    return static_cast<T*>(p);
  }
  explicit operator bool() const noexcept { return p != nullptr; }
};

inline long to_long(Errc e) noexcept {
  return -static_cast<long>(e);
}

}  // namespace bpf_detail

// libbpf's `struct bpf_map *` for a program file's map (for bpf_map__set_max_entries and
// bpf_map__fd); the map itself is made at first use.
template <class Def>
struct ::bpf_map* bpf_map_of(Def* def) noexcept {
  return bpf_detail::define(def, bpf_detail::spec_of<Def>());
}

// The xmaps::Map behind a program file's map (made now if it was not yet; nullptr if it cannot
// be), for what libbpf's API has no call for: e.g. bpf_map_object(&cpu_map)->cpu_map() to give
// a CPUMAP entry a second program that is a native function (xdp_program()).
template <class Def>
Map* bpf_map_object(Def* def) noexcept {
  return bpf_detail::map_of(def);
}

// `int fn(struct xdp_md *)` as an XdpProgram: the context is made from the frame (data, len,
// ingress ifindex, RX queue), the return value is the action.
inline XdpProgram xdp_program(int (*fn)(struct xdp_md*), std::string name = {}) {
  return XdpProgram(
      [fn](Frame& f) {
        xdp_md ctx{reinterpret_cast<std::uintptr_t>(f.data),
                   reinterpret_cast<std::uintptr_t>(f.data + f.len),
                   reinterpret_cast<std::uintptr_t>(f.data),
                   f.ifindex,
                   f.rx_queue,
                   0};
        return static_cast<XdpAction>(fn(&ctx));
      },
      std::move(name));
}

// A descriptor for a native program (xmaps/bpf.h), e.g. for a CPUMAP value's bpf_prog.fd.
int bpf_program_fd(std::shared_ptr<const XdpProgram> program);
// The same for `int fn(struct xdp_md *)`: bpf_program_fd(xdp_program(fn, name)); -EINVAL for
// nullptr.
inline int bpf_program_fd(int (*fn)(struct xdp_md*), std::string name = {}) {
  if (fn == nullptr) {
    errno = EINVAL;
    return -EINVAL;
  }
  return bpf_program_fd(std::make_shared<const XdpProgram>(xdp_program(fn, std::move(name))));
}

}  // namespace xmaps

// ---- the helpers
// ---------------------------------------------------------------------------------

template <class Def>
xmaps::bpf_detail::ElemPointer bpf_map_lookup_elem(Def* map, const void* key) noexcept {
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map);
  return {m != nullptr ? m->lookup_elem(key) : nullptr};
}

template <class Def>
long bpf_map_update_elem(Def* map, const void* key, const void* value, __u64 flags) noexcept {
  xmaps::Errc err = xmaps::Errc::ok;
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map, &err);
  return xmaps::bpf_detail::to_long(m != nullptr ? m->update_elem(key, value, flags) : err);
}

template <class Def>
long bpf_map_delete_elem(Def* map, const void* key) noexcept {
  xmaps::Errc err = xmaps::Errc::ok;
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map, &err);
  return xmaps::bpf_detail::to_long(m != nullptr ? m->delete_elem(key) : err);
}

template <class Def>
xmaps::bpf_detail::ElemPointer bpf_map_lookup_percpu_elem(Def* map, const void* key,
                                                          __u32 cpu) noexcept {
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map);
  return {m != nullptr ? m->lookup_percpu_elem(key, cpu) : nullptr};
}

template <class Def>
long bpf_map_push_elem(Def* map, const void* value, __u64 flags) noexcept {
  xmaps::Errc err = xmaps::Errc::ok;
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map, &err);
  return xmaps::bpf_detail::to_long(m != nullptr ? m->push_elem(value, flags) : err);
}

template <class Def>
long bpf_map_pop_elem(Def* map, void* value) noexcept {
  xmaps::Errc err = xmaps::Errc::ok;
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map, &err);
  return xmaps::bpf_detail::to_long(m != nullptr ? m->pop_elem(value) : err);
}

template <class Def>
long bpf_map_peek_elem(Def* map, void* value) noexcept {
  xmaps::Errc err = xmaps::Errc::ok;
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map, &err);
  return xmaps::bpf_detail::to_long(m != nullptr ? m->peek_elem(value) : err);
}

// XDP_REDIRECT, or the action in flags' low two bits when the entry is missing (and
// XDP_ABORTED for a map that is not a CPUMAP, as the verifier would not load that).
template <class Def>
long bpf_redirect_map(Def* map, __u64 key, __u64 flags) noexcept {
  static_assert(xmaps::bpf_detail::map_type<Def>() == BPF_MAP_TYPE_CPUMAP,
                "xmaps: bpf_redirect_map() redirects into a BPF_MAP_TYPE_CPUMAP here");
  xmaps::Map* const m = xmaps::bpf_detail::map_of(map);
  xmaps::CpuMap* const cm = m != nullptr ? m->cpu_map() : nullptr;
  if (cm == nullptr)
    return XDP_ABORTED;
  // The kernel's cpumap lookup takes a u32 key: the index is truncated as there.
  return static_cast<long>(xmaps::redirect_map(*cm, static_cast<std::uint32_t>(key), flags));
}

inline __u32 bpf_get_smp_processor_id() noexcept {
  return static_cast<__u32>(xmaps::current_cpu());
}

inline __u32 bpf_num_possible_cpus() noexcept {
  return static_cast<__u32>(xmaps::possible_cpus());
}

// bpf_loop(): callback_fn(i, callback_ctx) for i = 0, 1, ... nr_loops - 1, stopping after a call
// that returns non-zero (the verifier allows 0 and 1); returns the number of calls made.
// -EINVAL for flags != 0 and -E2BIG for nr_loops > 1 << 23 (BPF_MAX_LOOPS), as the kernel.
// The callback is any `long (__u32, void *)` function, as BPF C passes it.
template <class Callback>
long bpf_loop(__u32 nr_loops, Callback* callback_fn, void* callback_ctx, __u64 flags) noexcept {
  static_assert(std::is_invocable_r_v<long, Callback&, __u32, void*>,
                "xmaps: bpf_loop()'s callback is `long callback(__u32 index, void *ctx)`");
  if (flags != 0)
    return -static_cast<long>(EINVAL);
  if (nr_loops > (__u32{1} << 23))
    return -static_cast<long>(E2BIG);
  for (__u32 i = 0; i < nr_loops; ++i) {
    if (callback_fn(i, callback_ctx) != 0)
      return static_cast<long>(i) + 1;
  }
  return static_cast<long>(nr_loops);
}
