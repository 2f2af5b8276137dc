// SPDX-License-Identifier: MIT
// Waiting (bounded) for something another thread does, in tests.
#pragma once

#include <chrono>
#include <thread>

namespace xmaps::testing {

// Polls pred() every 200 us until it holds or `limit` passes; returns whether it held.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end)
      return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace xmaps::testing
