// SPDX-License-Identifier: MIT
#include "frame_source.h"

#include <stdexcept>

namespace xmaps::sim::detail {

ScenarioSource make_frame_source(const Scenario& s) {
  ScenarioSource out;
  if (!s.pcap_in.empty()) {
    try {
      auto rp = std::make_unique<PcapReplay>(read_pcap(s.pcap_in), s.pcap_loop);
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
