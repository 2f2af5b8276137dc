// SPDX-License-Identifier: MIT
//
// The RX queue a NIC picks for a raw frame (internal to sim/), as the live source, the
// model's source and calibrate() all do: parse, Toeplitz over the flow, the RETA; a
// fragment hashes its IPs only; a frame that does not parse gets no hash, so the queue of
// RETA entry 0.
#pragma once

#include <cstdint>

#include "xmaps/sim/packet.h"
#include "xmaps/sim/rss.h"

namespace xmaps::sim::detail {

// Sets `unparsed` when the frame did not parse (and leaves it alone otherwise).
inline std::uint32_t nic_rx_queue(const Rss& rss, const unsigned char* data, std::uint32_t len,
                                  bool& unparsed) noexcept {
  ParsedPacket p;
  const ParseStatus st = parse_packet(data, len, p);
  if (st == ParseStatus::ok || st == ParseStatus::unsupported_l4)
    return rss.queue_of(p.flow);
  if (st == ParseStatus::fragment)
    return rss.queue_of_hash(rss.hash(p.flow, false));
  unparsed = true;
  return rss.queue_of_hash(0);
}

}  // namespace xmaps::sim::detail
