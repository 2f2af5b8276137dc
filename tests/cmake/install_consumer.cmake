# SPDX-License-Identifier: MIT
# ctest driver (cmake -P): install the xmaps build tree into a scratch prefix, then configure,
# build and run tests/cmake/consumer against it with find_package(xmaps CONFIG REQUIRED).
# Inputs (-D): BUILD_DIR CONFIG WORK_DIR CONSUMER_SOURCE_DIR GENERATOR CXX_COMPILER SANITIZE.
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR WORK_DIR CONSUMER_SOURCE_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "install_consumer.cmake: -D ${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message(STATUS "[${step}] ${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: step '${step}' failed (${rc})")
  endif()
endfunction()

set(config_args)
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
run(install ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} ${config_args})

# The installed static libraries carry the build's sanitizer instrumentation, so the consumer
# must compile and link with the same -fsanitize flags.
set(flags "")
if(SANITIZE)
  set(flags "-fsanitize=${SANITIZE} -fno-omit-frame-pointer")
endif()
set(build_type ${CONFIG})
if(NOT build_type)
  set(build_type Debug)
endif()
run(configure ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${consumer_build} -G ${GENERATOR}
    -D CMAKE_CXX_COMPILER=${CXX_COMPILER} -D CMAKE_BUILD_TYPE=${build_type}
    -D CMAKE_PREFIX_PATH=${prefix} -D "CMAKE_CXX_FLAGS=${flags}"
    -D "CMAKE_EXE_LINKER_FLAGS=${flags}")
run(build ${CMAKE_COMMAND} --build ${consumer_build} --parallel 2)
run(run ${consumer_build}/xmaps_consumer)
