# SPDX-License-Identifier: MIT
# sim/tools/plot.py on a real run (ctest -P script): a short xmaps-sim run writes --json and
# --csv into DIR, plot.py draws the JSON (one PNG, and --separate: three), and the CSV; every
# PNG must exist, be non-empty and start with the PNG signature.
#   -D EXE=path/to/xmaps-sim
#   -D PYTHON=path/to/python3   (with matplotlib)
#   -D PLOT=path/to/plot.py
#   -D DIR=work directory (emptied first)
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
execute_process(COMMAND "${EXE}" --duration 0.5 --interval 50 --no-progress
                        --json "${DIR}/run.json" --csv "${DIR}/run.csv"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "xmaps-sim: exit status ${rc}\n${out}${err}")
endif()

# plot.py INPUT -o OUT [more arguments]
function(plot input output)
  execute_process(COMMAND "${PYTHON}" "${PLOT}" "${DIR}/${input}" -o "${DIR}/${output}" ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "plot.py ${input} -o ${output} ${ARGN}: exit status ${rc}\n${out}${err}")
  endif()
endfunction()
plot(run.json json.png)
plot(run.json separate.png --separate)
plot(run.csv csv.png)

foreach(png json.png separate-throughput.png separate-cpu.png separate-latency.png csv.png)
  set(f "${DIR}/${png}")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "plot.py did not write ${f}")
  endif()
  file(SIZE "${f}" size)
  file(READ "${f}" signature LIMIT 8 HEX)
  if(size EQUAL 0 OR NOT signature STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "${f}: not a PNG (${size} bytes, starts with ${signature})")
  endif()
  message(STATUS "${png}: PNG, ${size} bytes")
endforeach()
