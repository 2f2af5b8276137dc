// SPDX-License-Identifier: MIT
#include "xmaps/sim/pcap_io.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <pcap/pcap.h>
#include <string>
#include <utility>

namespace xmaps::sim {

namespace {

constexpr std::uint64_t kNsPerSec = 1'000'000'000ULL;

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw PcapError("xmaps::sim: pcap file '" + path + "': " + why);
}

struct PcapCloser {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

}  // namespace

struct PcapWriter::Impl {
  std::string path;
  std::uint32_t snaplen = 0;
  PcapHandle dead;
  pcap_dumper_t* dumper = nullptr;  // owned; closed by close()
  std::uint64_t written = 0;
};

PcapWriter::PcapWriter(const std::string& path, std::uint32_t snaplen)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  if (snaplen == 0 || snaplen > 262144)  // libpcap's MAXIMUM_SNAPLEN
    fail(path, "snaplen must be in 1 .. 262144 (got " + std::to_string(snaplen) + ")");
  impl_->snaplen = snaplen;
  impl_->dead.reset(pcap_open_dead_with_tstamp_precision(DLT_EN10MB, static_cast<int>(snaplen),
                                                         PCAP_TSTAMP_PRECISION_NANO));
  if (!impl_->dead)
    fail(path, "pcap_open_dead failed");
  impl_->dumper = pcap_dump_open(impl_->dead.get(), path.c_str());
  if (impl_->dumper == nullptr)
    fail(path, std::string("cannot create: ") + pcap_geterr(impl_->dead.get()));
}

PcapWriter::~PcapWriter() {
  if (impl_ && impl_->dumper != nullptr)
    pcap_dump_close(impl_->dumper);  // errors cannot be reported from a destructor
}

void PcapWriter::write(const unsigned char* data, std::uint32_t len, std::uint64_t ts_ns) {
  if (impl_->dumper == nullptr)
    fail(impl_->path, "write() after close()");
  if (data == nullptr && len != 0)
    throw std::invalid_argument("xmaps::sim: PcapWriter::write: data is null");
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(ts_ns / kNsPerSec);
  // With nanosecond precision the "usec" field holds nanoseconds.
  hdr.ts.tv_usec = static_cast<suseconds_t>(ts_ns % kNsPerSec);
  hdr.caplen = std::min(len, impl_->snaplen);
  hdr.len = len;
  pcap_dump(reinterpret_cast<u_char*>(impl_->dumper), &hdr, data);
  ++impl_->written;
}

void PcapWriter::close() {
  if (impl_->dumper == nullptr)
    return;
  pcap_dumper_t* d = impl_->dumper;
  impl_->dumper = nullptr;
  // pcap_dump() reports nothing; a failed write shows in the stream's error flag.
  const bool ok = pcap_dump_flush(d) == 0 && std::ferror(pcap_dump_file(d)) == 0;
  pcap_dump_close(d);
  if (!ok)
    fail(impl_->path, "writing failed (disk full or I/O error?)");
}

std::uint64_t PcapWriter::written() const noexcept {
  return impl_->written;
}

std::vector<PcapPacket> read_pcap(const std::string& path, std::size_t max_packets) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapHandle p(
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
  if (!p)
    fail(path, errbuf);
  const int link = pcap_datalink(p.get());
  if (link != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(link);
    fail(path, "link type " + std::to_string(link) + " (" + (name != nullptr ? name : "unknown") +
                   ") is not Ethernet (DLT_EN10MB)");
  }
  std::vector<PcapPacket> out;
  for (;;) {
    pcap_pkthdr* hdr = nullptr;
    const unsigned char* data = nullptr;
    const int rc = pcap_next_ex(p.get(), &hdr, &data);
    if (rc == PCAP_ERROR_BREAK)  // end of file
      break;
    if (rc != 1)
      fail(path, "record " + std::to_string(out.size() + 1) + ": " + pcap_geterr(p.get()));
    if (out.size() == max_packets)
      fail(path, "more than " + std::to_string(max_packets) + " packets");
    PcapPacket& pkt = out.emplace_back();
    pkt.data.assign(data, data + hdr->caplen);
    pkt.orig_len = hdr->len;
    pkt.ts_ns = static_cast<std::uint64_t>(hdr->ts.tv_sec) * kNsPerSec +
                static_cast<std::uint64_t>(hdr->ts.tv_usec);
  }
  return out;
}

PcapReplay::PcapReplay(std::vector<PcapPacket> packets, bool loop)
    : packets_(std::move(packets)), loop_(loop) {
  if (packets_.empty())
    throw PcapError("xmaps::sim: PcapReplay: the capture holds no packets");
}

std::size_t PcapReplay::fill(Frame* const* frames, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (next_ == packets_.size()) {
      if (!loop_)
        return i;
      next_ = 0;
    }
    const PcapPacket& pkt = packets_[next_++];
    Frame* const f = frames[i];
    const std::size_t size = pkt.data.size();
    if (size > f->buffer_size() - f->headroom()) {
      ++oversize_;
      return i;
    }
    if (size != 0)
      std::memcpy(f->data, pkt.data.data(), size);
    f->len = static_cast<std::uint32_t>(size);
    if (size < pkt.orig_len)
      ++truncated_;
    ++generated_;
  }
  return n;
}

}  // namespace xmaps::sim
