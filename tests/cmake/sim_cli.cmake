# SPDX-License-Identifier: MIT
# Runs xmaps-sim with arguments and checks its exit status and output (ctest -P script).
#   -D EXE=path/to/xmaps-sim
#   -D ARGS=a|b|c            arguments, separated by '|'
#   -D EXPECT=zero|nonzero   the exit status expected
#   -D REGEX=...             must match stdout + stderr
#   -D GARBAGE=file          optional: write garbage bytes to this file first (a malformed pcap)
#   -D FILES=a|b             optional: files that must exist afterwards (removed first)
#   -D CUT_PCAP=file         optional: write a 10-frame capture there first (with EXE), then cut
#                            7 bytes off its end, inside the last record (coreutils truncate)
if(DEFINED GARBAGE)
  file(WRITE "${GARBAGE}" "\xd4\xc3\xb2\xa1 this is not a capture, just bytes that start like one")
endif()
if(DEFINED CUT_PCAP)
  execute_process(COMMAND "${EXE}" --packets 10 --no-progress --pcap-out "${CUT_PCAP}"
                          --pcap-out-packets 10
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "xmaps-sim could not write ${CUT_PCAP}: exit status ${rc}\n${err}")
  endif()
  file(SIZE "${CUT_PCAP}" size)
  math(EXPR size "${size} - 7")
  execute_process(COMMAND truncate "--size=${size}" "${CUT_PCAP}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "truncate ${CUT_PCAP}: exit status ${rc}")
  endif()
endif()
string(REPLACE "|" ";" argv "${ARGS}")
if(DEFINED FILES)
  string(REPLACE "|" ";" files "${FILES}")
  file(REMOVE ${files})
endif()
execute_process(COMMAND "${EXE}" ${argv} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 120)
set(all "${out}${err}")
if(EXPECT STREQUAL "zero" AND NOT rc EQUAL 0)
  message(FATAL_ERROR "xmaps-sim ${argv}: exit status ${rc}, expected 0\n${all}")
endif()
if(EXPECT STREQUAL "nonzero" AND (rc EQUAL 0 OR NOT rc MATCHES "^[0-9]+$"))
  message(FATAL_ERROR "xmaps-sim ${argv}: exit status '${rc}', expected a non-zero exit (not a crash)\n${all}")
endif()
if(NOT all MATCHES "${REGEX}")
  message(FATAL_ERROR "xmaps-sim ${argv}: output does not match '${REGEX}'\n${all}")
endif()
foreach(f IN LISTS files)
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "xmaps-sim ${argv}: did not write ${f}\n${all}")
  endif()
endforeach()
message(STATUS "xmaps-sim ${argv}: exit ${rc}, output matches '${REGEX}'")
