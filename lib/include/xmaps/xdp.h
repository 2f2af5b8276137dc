// SPDX-License-Identifier: MIT
//
// XDP programs as xmaps runs them: a program is an ordinary callable that looks at one Frame
// (xmaps/frame_pool.h) and returns an action with the kernel's numbering (enum xdp_action):
//
//   XdpAction::aborted   0  a program error: the frame is dropped and counted as aborted
//   XdpAction::drop      1  the frame is recycled
//   XdpAction::pass      2  the frame goes on (to the CPUMAP entry's sink, on a worker)
//   XdpAction::tx        3  (no TX here) counted and dropped, as a CPUMAP worker does
//   XdpAction::redirect  4  after redirect_map() chose a target (xmaps/redirect.h)
//
// XdpProgram wraps a callable and gives it a process-wide id (never 0, never reused), which a
// CPUMAP lookup reports as the entry's program id, as bpf_cpumap_val.bpf_prog.id does.
//
//   auto prog = std::make_shared<xmaps::XdpProgram>(
//       [](xmaps::Frame& f) { return f.len < 64 ? xmaps::XdpAction::drop
//                                               : xmaps::XdpAction::pass; }, "min-size");
//
// Thread safety: an XdpProgram is immutable; run() may be called from any number of threads
// at once (the callable must allow that).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace xmaps {

struct Frame;

enum class XdpAction : std::uint32_t {
  aborted = 0,   // XDP_ABORTED
  drop = 1,      // XDP_DROP
  pass = 2,      // XDP_PASS
  tx = 3,        // XDP_TX
  redirect = 4,  // XDP_REDIRECT
};

class XdpProgram {
 public:
  using Fn = std::function<XdpAction(Frame&)>;

  // Throws std::invalid_argument for an empty callable.
  explicit XdpProgram(Fn fn, std::string name = {}) : fn_(std::move(fn)), name_(std::move(name)) {
    if (!fn_)
      throw std::invalid_argument("xmaps: XdpProgram needs a callable");
  }

  [[nodiscard]] XdpAction run(Frame& frame) const { return fn_(frame); }
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  static std::uint32_t next_id() noexcept {
    static std::atomic<std::uint32_t> last{0};
    // Relaxed: only uniqueness is needed; the id orders nothing.
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  Fn fn_;
  std::string name_;
  std::uint32_t id_ = next_id();
};

}  // namespace xmaps
