// SPDX-License-Identifier: MIT
//
// The built-in XDP programs (xmaps/sim/programs.h).
#include "xmaps/sim/programs.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "xmaps/detail/jhash.h"
#include "xmaps/frame_pool.h"
#include "xmaps/redirect.h"
#include "xmaps/sim/packet.h"

namespace xmaps::sim {

namespace {

using Ctr = FirstProgramCounters::Counter;

constexpr std::uint32_t kFlowHashSeed = 0x5eed1e55;  // any constant: spreading, not security

// Per-ingress-CPU round-robin positions, each on its own cache line.
class RoundRobinState {
 public:
  RoundRobinState()
      : next_(std::make_unique<xmaps::detail::CacheAligned<std::atomic<std::uint64_t>>[]>(
            static_cast<std::size_t>(xmaps::possible_cpus()))) {}
  std::uint64_t take() noexcept {
    // Relaxed: only the sequence of values matters, it publishes nothing; an RMW because
    // threads may share a CPU id (then they share one cycle, still even).
    return next_[static_cast<std::size_t>(xmaps::current_cpu())].value.fetch_add(
        1, std::memory_order_relaxed);
  }

 private:
  std::unique_ptr<xmaps::detail::CacheAligned<std::atomic<std::uint64_t>>[]> next_;
};

// Parses the frame for flow_hash / l4_port: false (and the reason counted) if it must drop.
bool parse_for_choice(const Frame& f, ParsedPacket& p, FirstProgramCounters& c) noexcept {
  switch (parse_packet(f.data, f.len, p)) {
    case ParseStatus::ok: return true;
    case ParseStatus::fragment:
    case ParseStatus::unsupported_l4:
      c.add(Ctr::no_ports);
      p.flow.src_port = 0;
      p.flow.dst_port = 0;
      return true;
    case ParseStatus::truncated: c.add(Ctr::truncated); return false;
    case ParseStatus::not_ip: c.add(Ctr::not_ip); return false;
    case ParseStatus::bad_ip_header: c.add(Ctr::bad_ip_header); return false;
  }
  c.add(Ctr::bad_ip_header);  // not reached: every status is handled above
  return false;
}

std::uint32_t flow_hash(const FlowTuple& t) noexcept {
  const FlowKey k = FlowKey::of(t);
  return xmaps::detail::jhash_words<sizeof(FlowKey) / 4>(&k, sizeof(FlowKey) / 4, kFlowHashSeed);
}

XdpAction redirect_to(const CpuMap& map, std::uint32_t target, FirstProgramCounters& c) noexcept {
  const XdpAction act = xmaps::redirect_map(map, target, 0);
  c.add(act == XdpAction::redirect ? Ctr::redirected : Ctr::redirect_failed);
  return act;
}

}  // namespace

std::string_view to_string(FirstProgram p) noexcept {
  switch (p) {
    case FirstProgram::round_robin: return "round-robin";
    case FirstProgram::flow_hash: return "hash";
    case FirstProgram::l4_port: return "port";
    case FirstProgram::drop_all: return "drop";
  }
  return "?";
}

std::optional<FirstProgram> try_parse_first_program(std::string_view text) noexcept {
  for (const FirstProgram p : {FirstProgram::round_robin, FirstProgram::flow_hash,
                               FirstProgram::l4_port, FirstProgram::drop_all}) {
    if (text == to_string(p))
      return p;
  }
  return std::nullopt;
}

FirstProgram parse_first_program(std::string_view text) {
  if (const auto p = try_parse_first_program(text))
    return *p;
  throw std::invalid_argument("xmaps-sim: unknown first program '" + std::string(text) +
                              "' (choose round-robin, hash, port or drop)");
}

FirstProgramStats FirstProgramCounters::snapshot() const noexcept {
  const auto s = counters_.sum();
  FirstProgramStats out;
  out.redirected = s[redirected];
  out.redirect_failed = s[redirect_failed];
  out.dropped = s[dropped];
  out.truncated = s[truncated];
  out.not_ip = s[not_ip];
  out.bad_ip_header = s[bad_ip_header];
  out.no_ports = s[no_ports];
  // Every frame counted once, in its outcome (no_ports is not one: those frames go on).
  out.frames = out.redirected + out.redirect_failed + out.dropped + out.parse_failures();
  return out;
}

std::shared_ptr<XdpProgram> make_first_program(FirstProgram kind, CpuMap& map,
                                               std::vector<std::uint32_t> targets,
                                               std::shared_ptr<FirstProgramCounters> counters) {
  if (targets.empty())
    throw std::invalid_argument("xmaps-sim: a first program needs at least one CPUMAP target");
  for (const std::uint32_t t : targets) {
    if (t >= map.max_entries())
      throw std::invalid_argument("xmaps-sim: CPUMAP target " + std::to_string(t) +
                                  " is beyond the map's " + std::to_string(map.max_entries()) +
                                  " entries");
  }
  if (!counters)
    counters = std::make_shared<FirstProgramCounters>();
  const CpuMap* const m = &map;
  const auto n = static_cast<std::uint32_t>(targets.size());
  std::string name = "xmaps-sim:" + std::string(to_string(kind));
  switch (kind) {
    case FirstProgram::round_robin: {
      auto rr = std::make_shared<RoundRobinState>();
      return std::make_shared<XdpProgram>(
          [m, t = std::move(targets), n, c = std::move(counters), rr](Frame&) noexcept {
            return redirect_to(*m, t[static_cast<std::size_t>(rr->take() % n)], *c);
          },
          std::move(name));
    }
    case FirstProgram::flow_hash:
      return std::make_shared<XdpProgram>(
          [m, t = std::move(targets), n, c = std::move(counters)](Frame& f) noexcept {
            ParsedPacket p;
            if (!parse_for_choice(f, p, *c))
              return XdpAction::drop;
            return redirect_to(*m, t[flow_hash(p.flow) % n], *c);
          },
          std::move(name));
    case FirstProgram::l4_port:
      return std::make_shared<XdpProgram>(
          [m, t = std::move(targets), n, c = std::move(counters)](Frame& f) noexcept {
            ParsedPacket p;
            if (!parse_for_choice(f, p, *c))
              return XdpAction::drop;
            // No ports (fragments, other protocols): by addresses, as flow_hash.
            const std::uint32_t pick = p.l4_offset == 0 ? flow_hash(p.flow) : p.flow.dst_port;
            return redirect_to(*m, t[pick % n], *c);
          },
          std::move(name));
    case FirstProgram::drop_all:
      return std::make_shared<XdpProgram>(
          [c = std::move(counters)](Frame&) noexcept {
            c->add(Ctr::dropped);
            return XdpAction::drop;
          },
          std::move(name));
  }
  throw std::invalid_argument("xmaps-sim: unknown first program kind");
}

// --- flow accounting ---------------------------------------------------------------------------

namespace {
// Each frame counts once, in its outcome: frames and lookups are sums (stats_from()), so a
// frame costs one counter RMW besides the flow's own two.
enum AcctCounter : std::uint8_t {
  acct_parse_failures,
  acct_hits,
  acct_inserts,
  acct_races,
  acct_lost,
  acct_count
};

void add_to(FlowCounters& v, std::uint32_t len) noexcept {
  // Relaxed (both): statistics (__sync_fetch_and_add in a BPF program); the map's own
  // seqlock words make the value safe to touch while it is being recycled.
  std::atomic_ref<std::uint64_t>(v.packets).fetch_add(1, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(v.bytes).fetch_add(len, std::memory_order_relaxed);
}
}  // namespace

struct FlowAccounting::State {
  State(std::uint32_t max_entries, std::uint32_t flags) : table(max_entries, flags) {}
  Table table;
  detail::PerCpuCounters<acct_count> counters;
};

FlowAccounting::FlowAccounting(std::uint32_t max_entries, std::uint32_t map_flags)
    : state_(std::make_shared<State>(max_entries, map_flags)) {
  // The program owns the state too, so it may outlive this object (a CPUMAP entry holds it).
  program_ = std::make_shared<XdpProgram>(
      [s = state_](Frame& f) noexcept {
        FlowAccounting::run(*s, f);
        return XdpAction::pass;
      },
      "xmaps-sim:flow-accounting");
}

XdpAction FlowAccounting::account(const Frame& frame) noexcept {
  run(*state_, frame);
  return XdpAction::pass;
}

void FlowAccounting::run(State& s, const Frame& f) noexcept {
  ParsedPacket p;
  const ParseStatus st = parse_packet(f.data, f.len, p);
  if (st != ParseStatus::ok && st != ParseStatus::fragment && st != ParseStatus::unsupported_l4) {
    s.counters.add(acct_parse_failures);
    return;
  }
  if (st != ParseStatus::ok) {
    p.flow.src_port = 0;
    p.flow.dst_port = 0;
  }
  const FlowKey key = FlowKey::of(p.flow);
  // 1. The datapath lookup (bpf_map_lookup_elem): sets the reference bit.
  if (FlowCounters* v = s.table.lookup(key)) {
    s.counters.add(acct_hits);
    add_to(*v, f.len);
    return;
  }
  // 2. A new flow: insert it counted once.
  const FlowCounters first{1, f.len};
  const Errc e = s.table.update(key, first, UpdateFlag::no_exist);
  if (e == Errc::ok) {
    s.counters.add(acct_inserts);
    return;
  }
  // 3. Another worker inserted it first (EEXIST): add to its entry, if it is still there.
  if (e == Errc::exists) {
    if (FlowCounters* v = s.table.lookup(key)) {
      s.counters.add(acct_races);
      add_to(*v, f.len);
      return;
    }
  }
  s.counters.add(acct_lost);
}

namespace {

// The counters' part of FlowAccountingStats, from a sum or one CPU's slot.
template <class Counters>
FlowAccountingStats stats_from(const Counters& c) noexcept {
  FlowAccountingStats out;
  out.parse_failures = c[acct_parse_failures];
  out.hits = c[acct_hits];
  out.inserts = c[acct_inserts];
  out.insert_races = c[acct_races];
  out.lost = c[acct_lost];
  // Every parsed frame takes one first lookup and ends in exactly one of these.
  out.lookups = out.hits + out.inserts + out.insert_races + out.lost;
  out.frames = out.parse_failures + out.lookups;
  return out;
}

}  // namespace

FlowAccountingStats FlowAccounting::stats() const noexcept {
  FlowAccountingStats out = stats_from(state_->counters.sum());
  out.evictions = state_->table.stats().evictions;
  return out;
}

FlowAccountingStats FlowAccounting::stats(int cpu) const noexcept {
  FlowAccountingStats out = stats_from(state_->counters.of(cpu));
  if (cpu >= 0 && cpu < xmaps::possible_cpus())
    out.evictions = state_->table.stats(cpu).evictions;
  return out;
}

double FlowAccounting::hit_ratio() const noexcept {
  const FlowAccountingStats s = stats();
  return s.lookups == 0 ? 0.0 : static_cast<double>(s.hits) / static_cast<double>(s.lookups);
}

std::optional<FlowCounters> FlowAccounting::flow(const FlowTuple& t) const noexcept {
  return state_->table.lookup_user(FlowKey::of(t));
}

FlowAccounting::Table& FlowAccounting::table() noexcept {
  return state_->table;
}

const FlowAccounting::Table& FlowAccounting::table() const noexcept {
  return state_->table;
}

}  // namespace xmaps::sim
