// SPDX-License-Identifier: MIT
//
// The bridge between BPF-C map definitions (xmaps/bpf_helpers.h) and libbpf's user-side API
// (xmaps/bpf.h): `struct bpf_map` is the registry entry of one definition (one global
// `struct { __uint(type, ...); ... } name SEC(".maps");`), keyed by its address. The map is
// created at first use, from the declaration (and a max_entries set before that). Not a
// public API.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

#include "xmaps/errc.h"
#include "xmaps/map.h"

struct bpf_map {
  const void* def = nullptr;
  xmaps::MapSpec spec;                     // as declared; max_entries as last set
  std::atomic<xmaps::Map*> live{nullptr};  // set once, when the map exists
  std::mutex mu;                           // creation and max_entries changes
  std::shared_ptr<xmaps::Map> map;
  xmaps::Errc error = xmaps::Errc::ok;  // why creation failed (then live stays null)
  int fd = -1;                          // made by bpf_map__fd()
};

namespace xmaps::bpf_detail {

// The entry of the definition at `def` (made on the first call, from `declared`).
::bpf_map* define(const void* def, const MapSpec& declared) noexcept;
// Creates the map if it does not exist yet; nullptr if it cannot be (the reason, the
// creation's errno, is in m->error and in *error if given, and is printed once on stderr: a
// program cannot report it otherwise).
Map* create(::bpf_map* m, Errc* error = nullptr) noexcept;

inline Map* live(::bpf_map* m, Errc* error = nullptr) noexcept {
  // Acquire: pairs with create()'s release: the map is constructed.
  Map* const map = m->live.load(std::memory_order_acquire);
  return map != nullptr ? map : create(m, error);
}

}  // namespace xmaps::bpf_detail
