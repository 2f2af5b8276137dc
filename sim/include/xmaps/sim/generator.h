// SPDX-License-Identifier: MIT
//
// Synthetic traffic: a flow table built from a seed and a mix, and a generator that writes the
// next packets into frames of an xmaps::FramePool (no allocation per frame). Same config and
// seed -> byte-identical frames in the same order.
//
//   xmaps::sim::TrafficConfig cfg;            // 1024 uniform UDP/IPv4 flows, 64-byte frames
//   xmaps::sim::TrafficGenerator gen(cfg);    // throws std::invalid_argument for bad config
//   std::size_t n = gen.fill(frames, count);  // frames[i]->data/len written
//
// FrameSource is what the pipeline pulls from: the generator and a pcap replay
// (xmaps/sim/pcap_io.h) implement it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xmaps/frame_pool.h"
#include "xmaps/sim/flow_tuple.h"

namespace xmaps::sim {

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Writes the next packets into frames[0 .. n) (data, len; other fields untouched, so the
  // caller sets rx_queue, stamp_ns, ...). Returns how many were written: fewer than n only if
  // the source is exhausted (a pcap replay without looping) or a frame's buffer is too small
  // for the packet (that frame and the rest are left unwritten, and oversize() counts it).
  virtual std::size_t fill(Frame* const* frames, std::size_t n) = 0;
  // As fill(), and flows[i] (flows: room for n) names frame i's flow: an index below
  // flow_count() whose frames all parse to the same flow tuple, whatever their size or
  // sequence number, or kNoFlow when the source cannot say (a pcap replay, a SYN flood's
  // random sources). It lets a caller work out a per-flow result, such as the NIC's RX queue,
  // once per flow. The default: fill(), every frame kNoFlow.
  static constexpr std::uint32_t kNoFlow = ~std::uint32_t{0};
  virtual std::size_t fill_with_flows(Frame* const* frames, std::size_t n, std::uint32_t* flows) {
    const std::size_t w = fill(frames, n);
    for (std::size_t i = 0; i < w; ++i)
      flows[i] = kNoFlow;
    return w;
  }
  // How many flows fill_with_flows() can name (0: none).
  [[nodiscard]] virtual std::uint32_t flow_count() const noexcept { return 0; }
  // Packets written so far, and packets that did not fit a frame buffer.
  [[nodiscard]] virtual std::uint64_t generated() const noexcept = 0;
  [[nodiscard]] virtual std::uint64_t oversize() const noexcept = 0;
};

enum class FlowMix : std::uint8_t {
  uniform,             // `flows` flows, each packet's flow uniform at random
  zipf,                // flow k (1-based rank) with probability ~ 1 / k^zipf_s
  elephants_mice,      // `elephants` flows carry elephant_share of packets, the rest uniform
  syn_flood,           // TCP SYNs from a random source ip:port each, to one destination
  single_destination,  // every flow to dst_ip:dst_port, random sources (RSS 2-tuple imbalance)
};
[[nodiscard]] std::string_view to_string(FlowMix m) noexcept;
// Parses "uniform", "zipf", "elephants", "syn-flood", "single-dst"; false if unknown.
[[nodiscard]] bool parse_flow_mix(std::string_view s, FlowMix& out) noexcept;

enum class SizeMix : std::uint8_t {
  fixed,  // every frame frame_len bytes
  imix,   // simple IMIX 7:4:1 of 60, 590, 1514 bytes (without FCS), in a seeded random order
};

struct TrafficConfig {
  std::uint64_t seed = 1;
  FlowMix mix = FlowMix::uniform;
  std::uint32_t flows = 1024;   // >= 1 (syn_flood: ignored, every packet a new source)
  double zipf_s = 1.1;          // zipf: > 0
  std::uint32_t elephants = 4;  // elephants_mice: 1 .. flows - 1
  double elephant_share = 0.9;  // elephants_mice: in (0, 1)
  std::uint8_t protocol = 17;   // 17 UDP or 6 TCP (syn_flood: always TCP)
  double ipv6_share = 0.0;      // fraction of flows that are IPv6, in [0, 1]
  bool vlan = false;
  std::uint16_t vlan_id = 100;
  SizeMix sizes = SizeMix::fixed;
  std::uint32_t frame_len = 60;  // fixed: kMinFrame .. kMaxFrame
  // single_destination and syn_flood's target.
  FlowTuple destination{4, 17, 0, 4791, {10, 0, 0, 1}, {192, 168, 0, 1}};
};

// Throws std::invalid_argument naming the field for any out-of-range value.
void validate(const TrafficConfig& cfg);

class TrafficGenerator final : public FrameSource {
 public:
  explicit TrafficGenerator(const TrafficConfig& cfg);
  std::size_t fill(Frame* const* frames, std::size_t n) override;
  // flows[i]: frame i's index in flows() (kNoFlow for syn_flood, whose every packet is a new
  // flow).
  std::size_t fill_with_flows(Frame* const* frames, std::size_t n, std::uint32_t* flows) override;
  [[nodiscard]] std::uint32_t flow_count() const noexcept override;
  [[nodiscard]] std::uint64_t generated() const noexcept override;
  [[nodiscard]] std::uint64_t oversize() const noexcept override;

  [[nodiscard]] const TrafficConfig& config() const noexcept;
  // The flow table (empty for syn_flood).
  [[nodiscard]] const std::vector<FlowTuple>& flows() const noexcept;
  ~TrafficGenerator() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Paces a producer to `pps` packets per second with bursts of up to `burst` packets: tokens
// accrue with time, at most `burst` saved. pps 0 means unlimited.
class Pacer {
 public:
  // Throws std::invalid_argument for pps < 0 or burst 0.
  Pacer(double pps, std::uint32_t burst);
  // How many packets may go now (0 .. burst); `now_ns` from a monotonic clock.
  [[nodiscard]] std::uint32_t allowance(std::uint64_t now_ns) noexcept;
  // Records that n of the allowance were sent.
  void consume(std::uint32_t n) noexcept;
  [[nodiscard]] bool unlimited() const noexcept { return pps_ == 0.0; }

 private:
  double pps_;
  std::uint32_t burst_;
  double tokens_ = 0.0;
  std::uint64_t last_ns_ = 0;
  bool started_ = false;
};

}  // namespace xmaps::sim
