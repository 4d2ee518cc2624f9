# test_api_install: `cmake --install` of the build into a temporary prefix,
# then a tiny project (tests/api/consumer) finds it with find_package(fedsim),
# builds against fedsim::fedsim and runs; the installed fedsim command runs.
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DC_COMPILER=... [-DC_FLAGS=...] -P install_test.cmake
string(RANDOM LENGTH 8 tag)
set(tmp "${BUILD_DIR}/install-test-${tag}")
set(prefix "${tmp}/prefix")

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    file(REMOVE_RECURSE "${tmp}")
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

step("cmake --install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/fedsim.h bin/fedsim)
  if(NOT EXISTS "${prefix}/${f}")
    file(REMOVE_RECURSE "${tmp}")
    message(FATAL_ERROR "the install lacks ${f}")
  endif()
endforeach()
step("the installed fedsim --version" "${prefix}/bin/fedsim" --version)
step("configuring the consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/api/consumer"
     -B "${tmp}/consumer" -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
     "-DCMAKE_C_FLAGS=${C_FLAGS}")
step("building the consumer" ${CMAKE_COMMAND} --build "${tmp}/consumer")
step("running the consumer" "${tmp}/consumer/consumer")
if(NOT step_output MATCHES "fedsim [0-9]+\\.[0-9]+")
  file(REMOVE_RECURSE "${tmp}")
  message(FATAL_ERROR "the consumer printed: ${step_output}")
endif()
file(REMOVE_RECURSE "${tmp}")
message(STATUS "installed, found with find_package(fedsim), built and ran: ${step_output}")
