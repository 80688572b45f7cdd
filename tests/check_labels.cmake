# Fails when a ctest test has no label: doctest_discover_tests drops the labels of a test case whose name
# holds a comma (or a semicolon), and then `ctest -L cpu` or `-L cuda` silently leaves it out.
#   cmake -DBUILD_DIR=<build> -P check_labels.cmake
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BUILD_DIR} -N -LE .
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctest -N failed in ${BUILD_DIR}")
endif()
string(REGEX MATCH "Total Tests: ([0-9]+)" total "${out}")
if(NOT CMAKE_MATCH_1 EQUAL 0)
  message(FATAL_ERROR "${CMAKE_MATCH_1} tests have no label (a comma or semicolon in a TEST_CASE name drops "
                      "doctest's labels; reword it):\n${out}")
endif()
message("every test has a label")
