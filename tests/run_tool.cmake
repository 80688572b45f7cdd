# Runs one command-line tool and checks how it ended, for the tool tests in tests/CMakeLists.txt:
#   cmake -DCOMMAND="tool|arg|arg" -DEXPECT_EXIT=1 -DEXPECT_OUTPUT=regex [-DTRUNCATE=from|to|bytes] -P run_tool.cmake
# COMMAND separates its words with '|'. EXPECT_OUTPUT must match stdout and stderr together.
# TRUNCATE first writes the first `bytes` bytes of `from` to `to` (a truncated checkpoint).
if(TRUNCATE)
  string(REPLACE "|" ";" truncate "${TRUNCATE}")
  list(GET truncate 0 from)
  list(GET truncate 1 to)
  list(GET truncate 2 bytes)
  execute_process(COMMAND head -c ${bytes} ${from} OUTPUT_FILE ${to} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not truncate ${from} into ${to}")
  endif()
endif()
string(REPLACE "|" ";" command "${COMMAND}")
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT "${rc}" STREQUAL "${EXPECT_EXIT}")
  message(FATAL_ERROR "exit code ${rc}, expected ${EXPECT_EXIT}")
endif()
if(EXPECT_OUTPUT AND NOT "${out}${err}" MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "the output does not match '${EXPECT_OUTPUT}'")
endif()
