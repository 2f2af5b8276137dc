# SPDX-License-Identifier: MIT
# BPF objects of BPF-C sources (clang -target bpf), for the kernel side of the programs that
# xmaps also compiles natively (bench/bpf_c/). Defines, once:
#   XMAPS_BPF_C_AVAILABLE  TRUE if clang can target BPF and libbpf-dev is present
#   xmaps_bpf_objects(<target> <obj_dir> <sources...>)
#       compiles each <name>.bpf.c into <obj_dir>/<name>.bpf.o before <target> builds, and
#       gives <target> XMAPS_HAVE_LIBBPF=1, libbpf, and XMAPS_BPF_OBJ_DIR="<obj_dir>"
#       (only XMAPS_BPF_OBJ_DIR when XMAPS_BPF_C_AVAILABLE is false: the kernel side then says
#       why it is skipped).
include_guard(GLOBAL)
find_package(PkgConfig REQUIRED)
find_program(XMAPS_CLANG NAMES clang clang-16 clang-15 clang-14)
pkg_check_modules(XMAPS_LIBBPF QUIET IMPORTED_TARGET GLOBAL libbpf)
set(XMAPS_BPF_C_AVAILABLE FALSE)
if(XMAPS_CLANG AND XMAPS_LIBBPF_FOUND)
  execute_process(COMMAND ${XMAPS_CLANG} -print-targets OUTPUT_VARIABLE xmaps_clang_targets
                  ERROR_QUIET)
  if(xmaps_clang_targets MATCHES "bpf")
    set(XMAPS_BPF_C_AVAILABLE TRUE)
  endif()
endif()
if(XMAPS_BPF_C_AVAILABLE)
  message(STATUS "BPF-C kernel side: ${XMAPS_CLANG} -target bpf, libbpf ${XMAPS_LIBBPF_VERSION}")
else()
  message(STATUS "BPF-C kernel side: no clang BPF target or no libbpf-dev: kernel runs are skipped")
endif()

function(xmaps_bpf_objects target obj_dir)
  target_compile_definitions(${target} PRIVATE XMAPS_BPF_OBJ_DIR="${obj_dir}")
  if(NOT XMAPS_BPF_C_AVAILABLE)
    return()
  endif()
  set(objects)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)  # hash_lookup.bpf.c -> hash_lookup
    get_filename_component(dir ${src} DIRECTORY)
    set(obj ${obj_dir}/${name}.bpf.o)
    file(GLOB headers ${dir}/*.h)
    add_custom_command(OUTPUT ${obj}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${obj_dir}
      COMMAND ${XMAPS_CLANG} -O2 -g -target bpf -Wall -Werror
              -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE} -c ${src} -o ${obj}
      DEPENDS ${src} ${headers}
      COMMENT "clang -target bpf ${name}.bpf.c"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  add_custom_target(${target}_bpf_objects DEPENDS ${objects})
  add_dependencies(${target} ${target}_bpf_objects)
  target_compile_definitions(${target} PRIVATE XMAPS_HAVE_LIBBPF=1)
  target_link_libraries(${target} PRIVATE PkgConfig::XMAPS_LIBBPF)
endfunction()
