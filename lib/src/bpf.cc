// SPDX-License-Identifier: MIT
//
// libbpf's low-level map API over xmaps maps (xmaps/bpf.h), and the registry of BPF-C map
// definitions (xmaps/detail/bpf_definition.h).
#include "xmaps/bpf.h"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#include "program_fds.h"
#include "xmaps/cpu.h"
#include "xmaps/detail/bpf_definition.h"
#include "xmaps/errc.h"
#include "xmaps/map.h"
#include "xmaps/xdp.h"

namespace {

using xmaps::Errc;
using xmaps::Map;

// A descriptor xmaps handed out: a map or a program, and the identity of the eventfd behind
// the number.
struct Handle {
  std::shared_ptr<Map> map;
  std::shared_ptr<const xmaps::XdpProgram> program;
  dev_t dev = 0;
  ino_t ino = 0;
};

class FdTable {
 public:
  // A new descriptor for `map` or `program`; negative errno if no descriptor can be made.
  int add(std::shared_ptr<Map> map, std::shared_ptr<const xmaps::XdpProgram> program = nullptr) {
    const int fd = ::eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
      return -errno;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      return -e;
    }
    std::lock_guard lock(mu_);
    handles_[fd] =
        Handle{std::move(map), std::move(program), st.st_dev, st.st_ino};  // replaces a closed one
    return fd;
  }

  // The map behind `fd`, or nullptr if xmaps did not make it, it is a program's, or it was
  // closed since.
  std::shared_ptr<Map> get(int fd) { return handle(fd).map; }
  // The same for a program's descriptor.
  std::shared_ptr<const xmaps::XdpProgram> program(int fd) { return handle(fd).program; }

 private:
  Handle handle(int fd) {
    struct stat st {};
    const bool open = fd >= 0 && ::fstat(fd, &st) == 0;
    std::lock_guard lock(mu_);
    const auto it = handles_.find(fd);
    if (it == handles_.end())
      return {};
    if (!open || st.st_dev != it->second.dev || st.st_ino != it->second.ino) {
      handles_.erase(it);  // closed (and maybe reused by something else): the handle is gone
      return {};
    }
    return it->second;
  }

  std::mutex mu_;
  std::unordered_map<int, Handle> handles_;
};

FdTable& fds() {
  static FdTable* table = new FdTable;  // never destroyed: programs may run during exit
  return *table;
}

struct Definitions {
  std::mutex mu;
  std::map<const void*, std::unique_ptr<bpf_map>> by_address;
};

Definitions& definitions() {
  static Definitions* d = new Definitions;  // never destroyed, as fds()
  return *d;
}

int fail(int err) {
  errno = err;
  return -err;
}
int result(Errc e) {
  return e == Errc::ok ? 0 : fail(static_cast<int>(e));
}

// libbpf's OPTS_VALID(): `sz` at least covers itself, and whatever the caller's struct has
// beyond the one xmaps knows (fields of a newer libbpf) is zero.
template <class Opts>
bool opts_valid(const Opts* opts) {
  if (opts == nullptr)
    return true;
  if (opts->sz < sizeof(std::size_t))
    return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(opts);
  for (std::size_t i = sizeof(Opts); i < opts->sz; ++i) {
    if (bytes[i] != 0)
      return false;
  }
  return true;
}

// libbpf's OPTS_GET(): a field that the caller's struct (its first `sz` bytes) does not reach
// reads as 0, so an older caller's smaller struct works.
template <class Opts, class T>
T opts_get(const Opts* opts, T Opts::*field) {
  if (opts == nullptr)
    return T{};
  const T& value = opts->*field;
  const auto end = static_cast<std::size_t>(reinterpret_cast<const unsigned char*>(&value) -
                                            reinterpret_cast<const unsigned char*>(opts)) +
                   sizeof(T);
  return end <= opts->sz ? value : T{};
}

// bpf_obj_name_cpy(): libbpf passes the first 15 bytes of the name (BPF_OBJ_NAME_LEN - 1); the
// kernel accepts ASCII letters, digits, '_' and '.' only.
bool valid_map_name(const char* name) {
  if (name == nullptr)
    return true;
  for (std::size_t i = 0; i < 15 && name[i] != '\0'; ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.';
    if (!ok)
      return false;
  }
  return true;
}

}  // namespace

// The checks in the order libbpf and the kernel's map_create() make them (what xmaps cannot
// do, BTF and offload, fails where the kernel would look at it).
int bpf_map_create(enum bpf_map_type map_type, const char* map_name, __u32 key_size,
                   __u32 value_size, __u32 max_entries, const struct bpf_map_create_opts* opts) {
  if (!opts_valid(opts))
    return fail(EINVAL);
  const __u32 btf_fd = opts_get(opts, &bpf_map_create_opts::btf_fd);
  const __u32 btf_key_type_id = opts_get(opts, &bpf_map_create_opts::btf_key_type_id);
  const __u32 btf_value_type_id = opts_get(opts, &bpf_map_create_opts::btf_value_type_id);
  // STRUCT_OPS only (not in xmaps); a key type needs a value type.
  if (opts_get(opts, &bpf_map_create_opts::btf_vmlinux_value_type_id) != 0 ||
      (btf_key_type_id != 0 && btf_value_type_id == 0))
    return fail(EINVAL);
  if (opts_get(opts, &bpf_map_create_opts::map_extra) != 0)
    return fail(EINVAL);  // BLOOM_FILTER (and ARENA) only, not in xmaps
  if (opts_get(opts, &bpf_map_create_opts::map_ifindex) != 0)
    return fail(EINVAL);  // offload: no xmaps map is on a device (the kernel: EINVAL/EOPNOTSUPP)
  xmaps::MapSpec spec;
  spec.type = static_cast<xmaps::MapType>(map_type);
  spec.key_size = key_size;
  spec.value_size = value_size;
  spec.max_entries = max_entries;
  spec.flags = opts_get(opts, &bpf_map_create_opts::map_flags);
  if ((spec.flags & BPF_F_NUMA_NODE) != 0)
    spec.numa_node = static_cast<int>(opts_get(opts, &bpf_map_create_opts::numa_node));
  // inner_map_fd is read by the map-in-map types only, which xmaps does not have (EINVAL here).
  Errc err = Errc::ok;
  std::shared_ptr<Map> map = xmaps::create_map(spec, &err);
  if (map == nullptr)
    return fail(static_cast<int>(err));
  if (!valid_map_name(map_name))
    return fail(EINVAL);
  if (btf_key_type_id != 0 || btf_value_type_id != 0) {
    // btf_get_by_fd(): EBADF for a descriptor that is not open; xmaps knows no BTF object, so
    // any open one is refused as one that is not BTF (EINVAL).
    return fail(::fcntl(static_cast<int>(btf_fd), F_GETFD) < 0 ? EBADF : EINVAL);
  }
  const int fd = fds().add(std::move(map));
  return fd >= 0 ? fd : fail(-fd);
}

int bpf_map_update_elem(int fd, const void* key, const void* value, __u64 flags) {
  const auto m = fds().get(fd);
  return m ? result(m->update(key, value, flags)) : fail(EBADF);
}

int bpf_map_lookup_elem(int fd, const void* key, void* value) {
  return bpf_map_lookup_elem_flags(fd, key, value, 0);
}

int bpf_map_lookup_elem_flags(int fd, const void* key, void* value, __u64 flags) {
  const auto m = fds().get(fd);
  return m ? result(m->lookup(key, value, flags)) : fail(EBADF);
}

int bpf_map_lookup_and_delete_elem(int fd, const void* key, void* value) {
  return bpf_map_lookup_and_delete_elem_flags(fd, key, value, 0);
}

int bpf_map_lookup_and_delete_elem_flags(int fd, const void* key, void* value, __u64 flags) {
  const auto m = fds().get(fd);
  return m ? result(m->lookup_and_erase(key, value, flags)) : fail(EBADF);
}

int bpf_map_delete_elem(int fd, const void* key) {
  const auto m = fds().get(fd);
  return m ? result(m->erase(key)) : fail(EBADF);
}

int bpf_map_get_next_key(int fd, const void* key, void* next_key) {
  const auto m = fds().get(fd);
  return m ? result(m->get_next_key(key, next_key)) : fail(EBADF);
}

namespace {

template <class Op>
int batch(int fd, void* in_batch, void* out_batch, const void* keys, const void* values,
          __u32* count, const bpf_map_batch_opts* opts, Op op) {
  if (!opts_valid(opts))
    return fail(EINVAL);  // libbpf, before the syscall
  const auto m = fds().get(fd);
  if (!m)
    return fail(EBADF);
  if (count == nullptr)
    return fail(EFAULT);  // libbpf itself would dereference it; the kernel faults on it
  xmaps::BatchArgs a;
  a.in_batch = in_batch;
  a.out_batch = out_batch;
  a.keys = const_cast<void*>(keys);
  a.values = const_cast<void*>(values);
  a.count = *count;
  a.elem_flags = opts_get(opts, &bpf_map_batch_opts::elem_flags);
  a.flags = opts_get(opts, &bpf_map_batch_opts::flags);
  const Errc e = op(*m, a);
  *count = a.count;
  return result(e);
}

}  // namespace

int bpf_map_lookup_batch(int fd, void* in_batch, void* out_batch, void* keys, void* values,
                         __u32* count, const struct bpf_map_batch_opts* opts) {
  return batch(fd, in_batch, out_batch, keys, values, count, opts,
               [](Map& m, xmaps::BatchArgs& a) { return m.lookup_batch(a); });
}

int bpf_map_lookup_and_delete_batch(int fd, void* in_batch, void* out_batch, void* keys,
                                    void* values, __u32* count,
                                    const struct bpf_map_batch_opts* opts) {
  return batch(fd, in_batch, out_batch, keys, values, count, opts,
               [](Map& m, xmaps::BatchArgs& a) { return m.lookup_and_erase_batch(a); });
}

int bpf_map_update_batch(int fd, const void* keys, const void* values, __u32* count,
                         const struct bpf_map_batch_opts* opts) {
  return batch(fd, nullptr, nullptr, keys, values, count, opts,
               [](Map& m, xmaps::BatchArgs& a) { return m.update_batch(a); });
}

int bpf_map_delete_batch(int fd, const void* keys, __u32* count,
                         const struct bpf_map_batch_opts* opts) {
  return batch(fd, nullptr, nullptr, keys, nullptr, count, opts,
               [](Map& m, xmaps::BatchArgs& a) { return m.erase_batch(a); });
}

int libbpf_num_possible_cpus(void) {
  return xmaps::possible_cpus();
}

int bpf_map__set_max_entries(struct bpf_map* map, __u32 max_entries) {
  if (map == nullptr)
    return fail(EINVAL);
  std::lock_guard lock(map->mu);
  if (map->map != nullptr || map->error != Errc::ok)
    return fail(EBUSY);  // libbpf: only before the object's load, failed or not
  map->spec.max_entries = max_entries;
  return 0;
}

__u32 bpf_map__max_entries(const struct bpf_map* map) {
  if (map == nullptr)
    return 0;
  auto* m = const_cast<struct bpf_map*>(map);
  std::lock_guard lock(m->mu);
  return m->map != nullptr ? m->map->max_entries() : m->spec.max_entries;
}

int bpf_map__fd(const struct bpf_map* map) {
  if (map == nullptr)
    return fail(EINVAL);
  auto* m = const_cast<struct bpf_map*>(map);
  Errc err = Errc::ok;
  if (xmaps::bpf_detail::create(m, &err) == nullptr)
    return fail(static_cast<int>(err));
  std::lock_guard lock(m->mu);
  if (m->fd < 0) {
    const int fd = fds().add(m->map);
    if (fd < 0)
      return fail(-fd);
    m->fd = fd;
  }
  return m->fd;
}

namespace xmaps {

int bpf_program_fd(std::shared_ptr<const XdpProgram> program) {
  if (program == nullptr)
    return fail(EINVAL);
  const int fd = fds().add(nullptr, std::move(program));
  return fd >= 0 ? fd : fail(-fd);
}

namespace detail {
std::shared_ptr<const XdpProgram> program_of_fd(int fd) {
  return fds().program(fd);
}
}  // namespace detail

}  // namespace xmaps

namespace xmaps::bpf_detail {

::bpf_map* define(const void* def, const MapSpec& declared) noexcept {
  Definitions& d = definitions();
  std::lock_guard lock(d.mu);
  auto& slot = d.by_address[def];
  if (slot == nullptr) {
    try {
      slot = std::make_unique<::bpf_map>();
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
    slot->def = def;
    slot->spec = declared;
  }
  return slot.get();
}

Map* create(::bpf_map* m, Errc* error) noexcept {
  std::lock_guard lock(m->mu);
  if (m->map != nullptr)
    return m->map.get();
  if (m->error != Errc::ok) {
    if (error != nullptr)
      *error = m->error;
    return nullptr;
  }
  Errc err = Errc::ok;
  std::shared_ptr<Map> map = xmaps::create_map(m->spec, &err);
  if (map == nullptr) {
    m->error = err == Errc::ok ? Errc::no_memory : err;
    if (error != nullptr)
      *error = m->error;
    std::fprintf(stderr,
                 "xmaps: the BPF map defined at %p (type %u, key %u, value %u, max_entries %u, "
                 "flags 0x%x) cannot be created: %s\n",
                 m->def, static_cast<unsigned>(m->spec.type), m->spec.key_size, m->spec.value_size,
                 m->spec.max_entries, m->spec.flags,
                 std::string(xmaps::to_string(m->error)).c_str());
    return nullptr;
  }
  m->map = std::move(map);
  // Release: pairs with live()'s acquire: the map is constructed.
  m->live.store(m->map.get(), std::memory_order_release);
  return m->map.get();
}

}  // namespace xmaps::bpf_detail
