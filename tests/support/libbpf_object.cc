// SPDX-License-Identifier: MIT
#include "support/libbpf_object.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#ifdef XMAPS_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace xmaps::testing {

#ifdef XMAPS_HAVE_LIBBPF

namespace {

// libbpf's messages of the current call (warnings and the verifier's log), for exceptions.
std::mutex log_mu;
std::string* log_sink = nullptr;

int print_to_sink(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || log_sink == nullptr)
    return 0;
  static thread_local char line[1 << 16];
  const int n = std::vsnprintf(line, sizeof(line), format, args);
  log_sink->append(line, n > 0 ? static_cast<std::size_t>(std::min<int>(n, sizeof(line) - 1)) : 0);
  return n;
}

[[noreturn]] void fail(const std::string& what, int err, const std::string& log = {}) {
  throw std::runtime_error("kernel: " + what + " failed: " + std::strerror(err) +
                           (log.empty() ? "" : "\n" + log));
}

constexpr unsigned char kFrame[64] = {
    0x02, 0,    0,    0,    0, 2,  0x02, 0, 0,  0,  0, 1, 0x08, 0x00,  // Ethernet, IPv4
    0x45, 0,    0,    50,   0, 0,  0,    0, 64, 17, 0, 0, 10,   0,
    0,    1,    192,  168,  0, 1,            // IPv4, UDP
    0x30, 0x39, 0x00, 0x09, 0, 30, 0,    0,  // UDP 12345 -> 9
};

}  // namespace

bool libbpf_available(std::string& why_not) {
  why_not.clear();
  return true;
}

struct KernelObject::Impl {
  bpf_object* obj = nullptr;
  std::string path;
};

KernelObject::KernelObject(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  std::string log;
  const std::lock_guard lock(log_mu);
  log_sink = &log;
  libbpf_set_print(print_to_sink);
  impl_->obj = bpf_object__open_file(path.c_str(), nullptr);
  if (impl_->obj == nullptr) {
    const int err = errno;
    log_sink = nullptr;
    fail("bpf_object__open_file(" + path + ")", err, log);
  }
  if (const int rc = bpf_object__load(impl_->obj); rc != 0) {
    log_sink = nullptr;
    bpf_object__close(impl_->obj);
    impl_->obj = nullptr;
    fail("bpf_object__load(" + path + ")", -rc, log);
  }
  log_sink = nullptr;
}

KernelObject::~KernelObject() {
  if (impl_->obj != nullptr)
    bpf_object__close(impl_->obj);
}

int KernelObject::map_fd(const char* map) const {
  bpf_map* m = bpf_object__find_map_by_name(impl_->obj, map);
  if (m == nullptr)
    fail(std::string("bpf_object__find_map_by_name(") + map + ") in " + impl_->path, ENOENT);
  return bpf_map__fd(m);
}

int KernelObject::prog_fd(const char* prog) const {
  bpf_program* p = bpf_object__find_program_by_name(impl_->obj, prog);
  if (p == nullptr)
    fail(std::string("bpf_object__find_program_by_name(") + prog + ") in " + impl_->path, ENOENT);
  return bpf_program__fd(p);
}

void KernelObject::update(const char* map, const void* key, const void* value,
                          std::uint64_t flags) const {
  if (bpf_map_update_elem(map_fd(map), key, value, flags) != 0)
    fail(std::string("bpf_map_update_elem(") + map + ")", errno);
}

void KernelObject::lookup(const char* map, const void* key, void* value) const {
  if (bpf_map_lookup_elem(map_fd(map), key, value) != 0)
    fail(std::string("bpf_map_lookup_elem(") + map + ")", errno);
}

bool KernelObject::try_lookup(const char* map, const void* key, void* value) const {
  if (bpf_map_lookup_elem(map_fd(map), key, value) == 0)
    return true;
  if (errno != ENOENT)
    fail(std::string("bpf_map_lookup_elem(") + map + ")", errno);
  return false;
}

bool KernelObject::try_pop(const char* map, void* value) const {
  if (bpf_map_lookup_and_delete_elem(map_fd(map), nullptr, value) == 0)
    return true;
  if (errno != ENOENT)
    fail(std::string("bpf_map_lookup_and_delete_elem(") + map + ")", errno);
  return false;
}

KernelRun KernelObject::test_run(const char* prog, std::uint32_t repeat) const {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = kFrame, .data_size_in = sizeof(kFrame),
              .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(prog_fd(prog), &opts) != 0)
    fail(std::string("BPF_PROG_TEST_RUN (") + prog + ")", errno);
  return {opts.retval, opts.duration};
}

void KernelObject::test_run_live(const char* prog, std::uint32_t repeat,
                                 std::uint32_t batch) const {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = kFrame, .data_size_in = sizeof(kFrame),
              .repeat = static_cast<int>(repeat), .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
              .batch_size = batch);
  if (bpf_prog_test_run_opts(prog_fd(prog), &opts) != 0)
    fail(std::string("BPF_PROG_TEST_RUN live frames (") + prog + ")", errno);
}

#else  // no libbpf at build time

bool libbpf_available(std::string& why_not) {
  why_not = "built without libbpf-dev or clang's BPF target (see CMake's configure output)";
  return false;
}

struct KernelObject::Impl {};

KernelObject::KernelObject(const std::string& path) {
  std::string why;
  (void)libbpf_available(why);
  throw std::runtime_error("kernel: cannot load " + path + ": " + why);
}
KernelObject::~KernelObject() = default;
int KernelObject::map_fd(const char*) const {
  return -1;
}
int KernelObject::prog_fd(const char*) const {
  return -1;
}
void KernelObject::update(const char*, const void*, const void*, std::uint64_t) const {}
void KernelObject::lookup(const char*, const void*, void*) const {}
bool KernelObject::try_lookup(const char*, const void*, void*) const {
  return false;
}
bool KernelObject::try_pop(const char*, void*) const {
  return false;
}
KernelRun KernelObject::test_run(const char*, std::uint32_t) const {
  return {};
}
void KernelObject::test_run_live(const char*, std::uint32_t, std::uint32_t) const {}

#endif

}  // namespace xmaps::testing
