# SPDX-License-Identifier: MIT
# xmaps-sim's progress line (ctest -P script). It is printed only when stderr is a terminal, so
# the run goes through util-linux `script`, which gives it a pseudo-terminal:
#   on a terminal                    the line "  0.3 s / 1.0 s  generated N  delivered N (R)
#                                    dropped N" appears, and the summary after it
#   on a terminal with --no-progress no such line
#   on a pipe                        no such line
#   -D EXE=path/to/xmaps-sim
#   -D SCRIPT=path/to/script
string(ASCII 27 esc)  # the line ends with ESC [K (erase to the end of the line)
set(line "[0-9]+\\.[0-9] s / [0-9.]+ s  generated [0-9,]+  delivered [0-9,]+ \\([^)]+\\)  dropped [0-9,]+")

# run(<output var> <command>...): runs the command, which must exit 0.
function(run var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit status ${rc}\n${out}${err}")
  endif()
  set(${var} "${out}${err}" PARENT_SCOPE)
endfunction()

run(tty "${SCRIPT}" -qec "'${EXE}' --duration 1 --interval 100" /dev/null)
if(NOT tty MATCHES "\r  ${line}${esc}\\[K")
  message(FATAL_ERROR "on a terminal: no progress line matching '${line}'\n${tty}")
endif()
if(NOT tty MATCHES "${line}.*conservation: generated [0-9]+ = .*  OK")
  message(FATAL_ERROR "on a terminal: no summary after the progress line\n${tty}")
endif()
run(quiet "${SCRIPT}" -qec "'${EXE}' --duration 0.5 --interval 100 --no-progress" /dev/null)
run(piped "${EXE}" --duration 0.5 --interval 100)
foreach(out quiet piped)
  if(${out} MATCHES "${line}")
    message(FATAL_ERROR "${out}: a progress line where none belongs\n${${out}}")
  endif()
  if(NOT ${out} MATCHES "conservation: generated [0-9]+ = .*  OK")
    message(FATAL_ERROR "${out}: no summary\n${${out}}")
  endif()
endforeach()
string(REGEX MATCH "${line}" first "${tty}")
message(STATUS "progress line on a terminal: '${first}'; none with --no-progress or on a pipe")
