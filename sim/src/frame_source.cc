// SPDX-License-Identifier: MIT
#include "frame_source.h"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "xmaps/sim/packet.h"

namespace xmaps::sim::detail {

namespace {

// Bad input unless the user asked for it (Scenario::pcap_truncated_ok): frames too short for
// the headers they announce. Throws std::invalid_argument naming the first of them.
void refuse_truncated_frames(const std::string& path, const std::vector<PcapPacket>& packets) {
  std::size_t count = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    ParsedPacket p;
    const std::vector<unsigned char>& d = packets[i].data;
    if (parse_packet(d.data(), static_cast<std::uint32_t>(d.size()), p) != ParseStatus::truncated)
      continue;
    if (count++ == 0)
      first = i;
  }
  if (count == 0)
    return;
  throw std::invalid_argument(
      "pcap-in: " + path + ": " + std::to_string(count) + " of " + std::to_string(packets.size()) +
      " frames are truncated (too short for the headers they announce; the first is record " +
      std::to_string(first + 1) + ", " + std::to_string(packets[first].data.size()) +
      " bytes captured); --pcap-truncated-ok replays them as they are, counted unparsed");
}

}  // namespace

ScenarioSource make_frame_source(const Scenario& s) {
  ScenarioSource out;
  if (!s.pcap_in.empty()) {
    try {
      std::vector<PcapPacket> packets = read_pcap(s.pcap_in);
      if (!s.pcap_truncated_ok)
        refuse_truncated_frames(s.pcap_in, packets);
      auto rp = std::make_unique<PcapReplay>(std::move(packets), s.pcap_loop);
      out.replay = rp.get();
      out.description = "pcap " + s.pcap_in + " (" + std::to_string(rp->size()) + " packets" +
                        (s.pcap_loop ? ", looped)" : ")");
      out.source = std::move(rp);
    } catch (const PcapError& e) {
      throw std::invalid_argument(std::string("pcap-in: ") + e.what());
    }
    return out;
  }
  out.source = std::make_unique<TrafficGenerator>(s.traffic);
  out.description =
      "generator (" + get_knob(s, "mix") +
      (s.traffic.mix == FlowMix::syn_flood || s.traffic.mix == FlowMix::single_destination
           ? " to " + get_knob(s, "dst")
           : std::string()) +
      ", " +
      (s.traffic.mix == FlowMix::syn_flood ? std::string("random sources")
                                           : std::to_string(s.traffic.flows) + " flows") +
      // A SYN flood is TCP whatever --protocol says (TrafficConfig::protocol).
      ", " + (s.traffic.mix == FlowMix::syn_flood ? std::string("tcp") : get_knob(s, "protocol")) +
      ", size " + get_knob(s, "size") + ")";
  return out;
}

}  // namespace xmaps::sim::detail
