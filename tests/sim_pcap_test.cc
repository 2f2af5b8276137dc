// SPDX-License-Identifier: MIT
// xmaps/sim/pcap_io.h: generated frames survive a write/read round trip byte for byte with
// their nanosecond timestamps; snapped packets; errors name the file (missing, not a pcap,
// truncated, not Ethernet); PcapReplay with and without looping; and, where tshark is
// installed, tshark decodes a written capture as the frames that went in.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "xmaps/frame_pool.h"
#include "xmaps/sim/generator.h"
#include "xmaps/sim/packet.h"
#include "xmaps/sim/pcap_io.h"

namespace {

namespace fs = std::filesystem;
using xmaps::Frame;
using xmaps::FramePool;
using xmaps::sim::PcapError;
using xmaps::sim::PcapPacket;
using xmaps::sim::PcapReplay;
using xmaps::sim::PcapWriter;
using xmaps::sim::read_pcap;
using xmaps::sim::TrafficConfig;
using xmaps::sim::TrafficGenerator;

// A per-test file in the temporary directory, removed afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(
            (fs::temp_directory_path() / ("xmaps_pcap_" + std::to_string(::getpid()) + "_" + name))
                .string()) {}
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::vector<unsigned char>> generate(const TrafficConfig& cfg, std::size_t count) {
  TrafficGenerator gen(cfg);
  FramePool pool(64);
  std::vector<std::vector<unsigned char>> out;
  Frame* frames[64];
  while (out.size() < count) {
    const std::size_t want = std::min<std::size_t>(64, count - out.size());
    EXPECT_EQ(pool.alloc_bulk(frames, want), want);
    EXPECT_EQ(gen.fill(frames, want), want);
    for (std::size_t i = 0; i < want; ++i)
      out.emplace_back(frames[i]->data, frames[i]->data + frames[i]->len);
    pool.free_bulk(frames, want);
  }
  return out;
}

void write_all(const std::string& path, const std::vector<std::vector<unsigned char>>& frames,
               std::uint32_t snaplen = 65535) {
  PcapWriter w(path, snaplen);
  std::uint64_t ts = 1'700'000'000'123'456'789ULL;
  for (const auto& f : frames) {
    w.write(f.data(), static_cast<std::uint32_t>(f.size()), ts);
    ts += 1'001;  // not a whole microsecond: only nanosecond timestamps keep it
  }
  EXPECT_EQ(w.written(), frames.size());
  w.close();
  w.close();  // idempotent
}

std::string error_of(const std::string& path) {
  try {
    (void)read_pcap(path);
  } catch (const PcapError& e) {
    return e.what();
  }
  return "";
}

TEST(SimPcap, RoundTripKeepsBytesAndNanosecondTimestamps) {
  TrafficConfig c;
  c.sizes = xmaps::sim::SizeMix::imix;
  c.ipv6_share = 0.5;
  c.protocol = 6;
  c.vlan = true;
  const auto frames = generate(c, 1000);
  TempFile file("roundtrip.pcap");
  write_all(file.path(), frames);
  const std::vector<PcapPacket> back = read_pcap(file.path());
  ASSERT_EQ(back.size(), frames.size());
  std::uint64_t ts = 1'700'000'000'123'456'789ULL;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(back[i].data, frames[i]) << i;
    EXPECT_EQ(back[i].orig_len, frames[i].size());
    EXPECT_EQ(back[i].ts_ns, ts);
    ts += 1'001;
  }
  EXPECT_THROW((void)read_pcap(file.path(), 999), PcapError);
  EXPECT_EQ(read_pcap(file.path(), 1000).size(), 1000U);
}

TEST(SimPcap, SnaplenCutsPacketsAndReplayCountsThem) {
  TrafficConfig c;
  c.frame_len = 300;
  const auto frames = generate(c, 10);
  TempFile file("snap.pcap");
  write_all(file.path(), frames, 100);
  const std::vector<PcapPacket> back = read_pcap(file.path());
  ASSERT_EQ(back.size(), 10U);
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].data.size(), 100U);
    EXPECT_EQ(back[i].orig_len, 300U);
    EXPECT_TRUE(std::equal(back[i].data.begin(), back[i].data.end(), frames[i].begin()));
  }
  PcapReplay replay(back, false);
  FramePool pool(16);
  Frame* f[16];
  ASSERT_EQ(pool.alloc_bulk(f, 16), 16U);
  EXPECT_EQ(replay.fill(f, 16), 10U);
  EXPECT_EQ(replay.truncated(), 10U);
  EXPECT_EQ(f[3]->len, 100U);
  pool.free_bulk(f, 16);
}

TEST(SimPcap, ErrorsNameTheFile) {
  const std::string missing = (fs::temp_directory_path() / "xmaps_no_such_file.pcap").string();
  std::string e = error_of(missing);
  EXPECT_NE(e.find(missing), std::string::npos) << e;

  TempFile text("text.pcap");
  {
    std::ofstream out(text.path());
    out << "this is not a capture file, just some text that is long enough\n";
  }
  e = error_of(text.path());
  EXPECT_NE(e.find(text.path()), std::string::npos) << e;
  EXPECT_NE(e.find("format"), std::string::npos) << e;  // libpcap: "unknown file format"

  TempFile empty("empty.pcap");
  { std::ofstream out(empty.path()); }
  e = error_of(empty.path());
  EXPECT_NE(e.find(empty.path()), std::string::npos) << e;

  // A record cut short.
  TempFile cut("cut.pcap");
  write_all(cut.path(), generate(TrafficConfig{}, 20));
  fs::resize_file(cut.path(), fs::file_size(cut.path()) - 7);
  e = error_of(cut.path());
  EXPECT_NE(e.find(cut.path()), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("record 20"), std::string::npos) << e;

  // A file header cut short.
  fs::resize_file(cut.path(), 10);
  e = error_of(cut.path());
  EXPECT_NE(e.find(cut.path()), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;

  // Link type 101 (raw IP): a valid capture, but not Ethernet. The header is written by hand
  // (pcap file format: magic, version 2.4, zone, sigfigs, snaplen, link type; little endian).
  TempFile raw("raw.pcap");
  {
    const unsigned char hdr[24] = {0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0,   0, 0, 0,
                                   0,    0,    0,    0,    0, 0, 1, 0, 101, 0, 0, 0};
    std::ofstream out(raw.path(), std::ios::binary);
    out.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
  }
  e = error_of(raw.path());
  EXPECT_NE(e.find(raw.path()), std::string::npos) << e;
  EXPECT_NE(e.find("not Ethernet"), std::string::npos) << e;
}

TEST(SimPcap, WriterErrors) {
  EXPECT_THROW(PcapWriter("/nonexistent-dir-xmaps/x.pcap"), PcapError);
  try {
    PcapWriter w("/nonexistent-dir-xmaps/x.pcap");
  } catch (const PcapError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-xmaps/x.pcap"), std::string::npos);
  }
  TempFile file("w.pcap");
  EXPECT_THROW(PcapWriter(file.path(), 0), PcapError);
  PcapWriter w(file.path());
  w.close();
  const unsigned char b[1] = {0};
  EXPECT_THROW(w.write(b, 1, 0), PcapError);
  EXPECT_EQ(read_pcap(file.path()).size(), 0U);  // an empty capture is a valid file
}

TEST(SimPcap, ReplayLoopsOrStops) {
  const auto frames = generate(TrafficConfig{}, 5);
  std::vector<PcapPacket> pkts;
  for (const auto& f : frames)
    pkts.push_back({f, static_cast<std::uint32_t>(f.size()), 0});
  EXPECT_THROW(PcapReplay({}, true), PcapError);

  FramePool pool(16);
  Frame* f[16];
  ASSERT_EQ(pool.alloc_bulk(f, 16), 16U);
  PcapReplay once(pkts, false);
  EXPECT_EQ(once.size(), 5U);
  EXPECT_EQ(once.fill(f, 3), 3U);
  EXPECT_EQ(once.fill(f, 16), 2U);
  EXPECT_EQ(once.fill(f, 16), 0U);
  EXPECT_EQ(once.generated(), 5U);

  PcapReplay loop(pkts, true);
  EXPECT_EQ(loop.fill(f, 16), 16U);
  for (std::size_t i = 0; i < 16; ++i)
    EXPECT_EQ(std::vector<unsigned char>(f[i]->data, f[i]->data + f[i]->len), frames[i % 5]);
  EXPECT_EQ(loop.generated(), 16U);
  EXPECT_EQ(loop.truncated(), 0U);
  // A capture names no flows: fill_with_flows() fills as fill() does, every frame kNoFlow.
  EXPECT_EQ(loop.flow_count(), 0U);
  std::uint32_t flows[16];
  std::fill(std::begin(flows), std::end(flows), 7U);
  EXPECT_EQ(loop.fill_with_flows(f, 4, flows), 4U);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(flows[i], xmaps::sim::FrameSource::kNoFlow);
    EXPECT_EQ(std::vector<unsigned char>(f[i]->data, f[i]->data + f[i]->len), frames[(16 + i) % 5]);
  }
  EXPECT_EQ(flows[4], 7U);  // nothing past the frames written
  EXPECT_EQ(loop.generated(), 20U);
  pool.free_bulk(f, 16);

  // A packet larger than the frame buffer stops the fill and is counted.
  std::vector<PcapPacket> big{{std::vector<unsigned char>(3000, 0xAB), 3000, 0}};
  PcapReplay replay(big, true);
  Frame* g = pool.alloc();
  EXPECT_EQ(replay.fill(&g, 1), 0U);
  EXPECT_EQ(replay.oversize(), 1U);
  pool.free(g);
}

// Runs a command, returning its standard output.
std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
      out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

TEST(SimPcap, TsharkDecodesAWrittenCapture) {
  if (std::system("command -v tshark >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "tshark is not installed (apt-get install tshark): skipping the decode check";
  TrafficConfig c;
  c.flows = 8;
  c.ipv6_share = 0.5;
  const auto udp = generate(c, 40);
  c.protocol = 6;
  c.seed = 2;
  c.vlan = true;
  const auto tcp = generate(c, 30);
  std::vector<std::vector<unsigned char>> all = udp;
  all.insert(all.end(), tcp.begin(), tcp.end());
  TempFile file("tshark.pcap");
  write_all(file.path(), all);

  // One line per packet: protocol of the L4 header, IPv4 or IPv6 source, checksum status.
  const std::string out =
      run("tshark -n -r '" + file.path() +
          "' -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE"
          " -T fields -E separator=, -e udp.srcport -e tcp.srcport -e ip.src -e ipv6.src"
          " -e vlan.id -e _ws.expert.severity 2>/dev/null");
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t nl = out.find('\n', start);
    lines.push_back(out.substr(start, nl - start));
    start = nl == std::string::npos ? out.size() : nl + 1;
  }
  ASSERT_EQ(lines.size(), all.size()) << out;
  for (std::size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    xmaps::sim::ParsedPacket p;
    ASSERT_EQ(xmaps::sim::parse_packet(all[i].data(), static_cast<std::uint32_t>(all[i].size()), p),
              xmaps::sim::ParseStatus::ok);
    std::string ip;
    if (p.flow.ip_version == 4) {
      for (int b = 0; b < 4; ++b)
        ip += (b ? "." : "") + std::to_string(p.flow.src_ip[static_cast<std::size_t>(b)]);
    }
    const std::string port = std::to_string(p.flow.src_port);
    const bool is_udp = i < udp.size();
    const std::string want_prefix = is_udp ? port + ",," : "," + port + ",";
    EXPECT_EQ(lines[i].rfind(want_prefix, 0), 0U);
    if (!ip.empty()) {
      EXPECT_NE(lines[i].find("," + ip + ","), std::string::npos);
    } else {
      EXPECT_NE(lines[i].find(",fd00::1:"), std::string::npos);
    }
    if (!is_udp) {
      EXPECT_NE(lines[i].find(",100"), std::string::npos);
    }
    // No expert info: no bad checksum, no malformed packet (errors would show a severity).
    EXPECT_EQ(lines[i].find("error"), std::string::npos);
    EXPECT_EQ(lines[i].find("8388608"), std::string::npos);  // PI_ERROR as a number
  }
}

}  // namespace
