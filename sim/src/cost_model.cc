// SPDX-License-Identifier: MIT
//
// The cost model's defaults and its JSON form (xmaps/sim/cost_model.h). Every scalar field is
// listed once in kScalars, which the writer and the reader both walk, so a field added to
// CostModel and to the table is saved, loaded and checked for unknown keys alike.
//
// The file is one JSON object:
//   { "origin": "...", "source_ns_per_frame": 45, ..., "first_program_ns": {"round-robin": 12,
//     ...}, "transfer_ns": {"same_cpu": 0, "smt_sibling": 5, ...}, "return_ns": {...},
//     "idle_push_ns": {...} }
// Every key is optional (missing ones keep default_cost_model()'s value, for the maps entry by
// entry); an unknown key, a value that is not a finite number >= 0, or a name that is not a
// first program or a distance class is an error naming the key.
#include "xmaps/sim/cost_model.h"

#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace xmaps::sim {

namespace {

using xmaps::topology::DistanceClass;
using Json = nlohmann::ordered_json;

struct Scalar {
  const char* name;
  double CostModel::*field;
};

constexpr std::array kScalars{
    Scalar{"source_ns_per_frame", &CostModel::source_ns_per_frame},
    Scalar{"source_ns_per_byte", &CostModel::source_ns_per_byte},
    Scalar{"ingress_poll_ns", &CostModel::ingress_poll_ns},
    Scalar{"rx_dequeue_ns_per_frame", &CostModel::rx_dequeue_ns_per_frame},
    Scalar{"flush_ns_per_bulk", &CostModel::flush_ns_per_bulk},
    Scalar{"worker_dequeue_ns_per_frame", &CostModel::worker_dequeue_ns_per_frame},
    Scalar{"worker_idle_poll_ns", &CostModel::worker_idle_poll_ns},
    Scalar{"flow_hit_ns", &CostModel::flow_hit_ns},
    Scalar{"flow_insert_ns", &CostModel::flow_insert_ns},
    Scalar{"flow_evict_ns", &CostModel::flow_evict_ns},
    Scalar{"lru_ns_per_log2_entries", &CostModel::lru_ns_per_log2_entries},
    Scalar{"sink_ns_per_frame", &CostModel::sink_ns_per_frame},
};

constexpr std::array kFirstPrograms{"round-robin", "hash", "port", "drop", "custom"};

constexpr std::array kDistanceClasses{
    DistanceClass::same_cpu,      DistanceClass::smt_sibling, DistanceClass::same_l2,
    DistanceClass::same_l3,       DistanceClass::same_numa,   DistanceClass::same_package,
    DistanceClass::cross_package,
};

[[noreturn]] void invalid(const std::string& what) {
  throw std::invalid_argument("cost model: " + what);
}

bool is_first_program(std::string_view name) {
  for (const char* p : kFirstPrograms) {
    if (name == p)
      return true;
  }
  return false;
}

bool parse_distance_class(std::string_view name, DistanceClass& out) {
  for (DistanceClass d : kDistanceClasses) {
    if (name == xmaps::topology::to_string(d)) {
      out = d;
      return true;
    }
  }
  return false;
}

// A cost read from the file: a finite number >= 0.
double cost_value(const Json& v, const std::string& key) {
  if (!v.is_number())
    invalid("'" + key + "' must be a number of nanoseconds, got " + v.dump());
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < 0)
    invalid("'" + key + "' must be a finite number >= 0, got " + v.dump());
  return x;
}

void check_written(double x, const std::string& key) {
  if (!std::isfinite(x) || x < 0)
    invalid("'" + key + "' is " + std::to_string(x) + ": costs must be finite and >= 0");
}

// A {distance class: ns} table as JSON, every class the model has, in the classes' order.
Json class_table_to_json(const std::map<DistanceClass, double>& table, const std::string& key) {
  Json out = Json::object();
  for (DistanceClass d : kDistanceClasses) {
    const auto it = table.find(d);
    if (it == table.end())
      continue;
    const std::string name = xmaps::topology::to_string(d);
    check_written(it->second, key + "." + name);
    out[name] = it->second;
  }
  return out;
}

// Reads a {distance class: ns} object into `table` (classes not named keep their values).
void class_table_from_json(const Json& value, const std::string& key,
                           std::map<DistanceClass, double>& table) {
  if (!value.is_object())
    invalid("'" + key + "' must be an object {distance class: ns}");
  for (const auto& [name, ns] : value.items()) {
    DistanceClass d{};
    if (!parse_distance_class(name, d))
      invalid(key + ": unknown distance class '" + name +
              "' (same_cpu, smt_sibling, same_l2, same_l3, same_numa, same_package, "
              "cross_package)");
    table[d] = cost_value(ns, key + "." + name);
  }
}

std::string all_keys() {
  std::string s = "origin";
  for (const Scalar& f : kScalars)
    s += std::string(", ") + f.name;
  s += ", first_program_ns, transfer_ns, return_ns, idle_push_ns";
  return s;
}

}  // namespace

CostModel default_cost_model() {
  // Where each figure comes from: docs/model.md, "The cost model". In short: the per-step
  // figures are release-build calibrate() runs on the 2-vCPU VM this project is developed on
  // (the median of three), rounded (calibrate() replaces them with this machine's); the
  // transfer figures are half the one-way core-to-core latency typical of current x86
  // servers for each distance class (a frame moves about two cache lines, and a bulk of 8
  // overlaps their misses).
  CostModel m;
  m.origin = "defaults";
  m.source_ns_per_frame = 42;
  m.source_ns_per_byte = 0.04;
  m.ingress_poll_ns = 1.5;
  m.rx_dequeue_ns_per_frame = 0.5;
  m.first_program_ns = {
      {"round-robin", 22}, {"hash", 57}, {"port", 32}, {"drop", 15}, {"custom", 57},
  };
  m.flush_ns_per_bulk = 30;
  m.worker_dequeue_ns_per_frame = 9;
  m.worker_idle_poll_ns = 19;
  m.flow_hit_ns = 57;
  m.flow_insert_ns = 123;
  m.flow_evict_ns = 200;
  m.lru_ns_per_log2_entries = 0;
  m.sink_ns_per_frame = 10;
  m.transfer_ns = {
      {DistanceClass::same_cpu, 0},       {DistanceClass::smt_sibling, 5},
      {DistanceClass::same_l2, 10},       {DistanceClass::same_l3, 20},
      {DistanceClass::same_numa, 40},     {DistanceClass::same_package, 55},
      {DistanceClass::cross_package, 90},
  };
  // The way back (the source reusing a frame another CPU recycled): half the forward figure
  // of each class; on this VM it measured 4-15 ns against 22-26 ns forward (same_l3).
  for (const auto& [d, ns] : m.transfer_ns)
    m.return_ns[d] = ns / 2;
  // A push into an idle worker's ring: twice the forward figure of each class (the slot line
  // and the ring's index line); on this VM three calibrations gave 34-45 ns per bulk against 17-32
  // ns forward (same_l3).
  for (const auto& [d, ns] : m.transfer_ns)
    m.idle_push_ns[d] = 2 * ns;
  return m;
}

std::string cost_model_to_json(const CostModel& m) {
  Json j = Json::object();
  j["origin"] = m.origin;
  for (const Scalar& f : kScalars) {
    check_written(m.*f.field, f.name);
    j[f.name] = m.*f.field;
  }
  Json programs = Json::object();
  for (const auto& [name, ns] : m.first_program_ns) {
    if (!is_first_program(name))
      invalid("first_program_ns: unknown program '" + name + "'");
    check_written(ns, "first_program_ns." + name);
    programs[name] = ns;
  }
  j["first_program_ns"] = programs;
  j["transfer_ns"] = class_table_to_json(m.transfer_ns, "transfer_ns");
  j["return_ns"] = class_table_to_json(m.return_ns, "return_ns");
  j["idle_push_ns"] = class_table_to_json(m.idle_push_ns, "idle_push_ns");
  return j.dump(2) + "\n";
}

CostModel cost_model_from_json(const std::string& text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    invalid(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object())
    invalid("the file must hold a JSON object, got " + std::string(j.type_name()));
  CostModel m = default_cost_model();
  for (const auto& [key, value] : j.items()) {
    if (key == "origin") {
      if (!value.is_string())
        invalid("'origin' must be a string");
      m.origin = value.get<std::string>();
      continue;
    }
    if (key == "first_program_ns") {
      if (!value.is_object())
        invalid("'first_program_ns' must be an object {program: ns}");
      for (const auto& [name, ns] : value.items()) {
        if (!is_first_program(name))
          invalid("first_program_ns: unknown program '" + name +
                  "' (round-robin, hash, port, drop, custom)");
        m.first_program_ns[name] = cost_value(ns, "first_program_ns." + name);
      }
      continue;
    }
    if (key == "transfer_ns" || key == "return_ns" || key == "idle_push_ns") {
      class_table_from_json(value, key,
                            key == "transfer_ns" ? m.transfer_ns
                            : key == "return_ns" ? m.return_ns
                                                 : m.idle_push_ns);
      continue;
    }
    bool known = false;
    for (const Scalar& f : kScalars) {
      if (key == f.name) {
        m.*f.field = cost_value(value, key);
        known = true;
        break;
      }
    }
    if (!known)
      invalid("unknown key '" + key + "' (keys: " + all_keys() + ")");
  }
  return m;
}

void save_cost_model(const CostModel& m, const std::string& path) {
  const std::string text = cost_model_to_json(m);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw std::invalid_argument(path + ": cannot open for writing");
  out << text;
  out.flush();
  if (!out)
    throw std::invalid_argument(path + ": write failed");
}

CostModel load_cost_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::invalid_argument(path + ": cannot open the cost model file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    throw std::invalid_argument(path + ": read failed");
  try {
    return cost_model_from_json(text.str());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace xmaps::sim
