// SPDX-License-Identifier: MIT
//
// Between the user-side API (bpf.cc, which hands out program descriptors with
// xmaps::bpf_program_fd) and the byte-level CPUMAP (map.cc, whose values name a second program
// by descriptor).
#pragma once

#include <memory>

#include "xmaps/xdp.h"

namespace xmaps::detail {

// The program behind a descriptor from bpf_program_fd(); nullptr for any other number, or one
// closed since.
std::shared_ptr<const XdpProgram> program_of_fd(int fd);

}  // namespace xmaps::detail
