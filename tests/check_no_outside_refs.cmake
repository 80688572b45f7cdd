# Fails when a file of the project refers to the design notes outside the repository (../shared/...), which
# a fresh clone lacks: what a reader needs lives in docs/.   cmake -DSOURCE_DIR=<repo> -P check_no_outside_refs.cmake
file(GLOB_RECURSE files LIST_DIRECTORIES false
     ${SOURCE_DIR}/*.cpp ${SOURCE_DIR}/*.hpp ${SOURCE_DIR}/*.cu ${SOURCE_DIR}/*.cuh ${SOURCE_DIR}/*.md
     ${SOURCE_DIR}/*.py ${SOURCE_DIR}/*.sh ${SOURCE_DIR}/*.cmake ${SOURCE_DIR}/CMakeLists.txt)
set(found "")
foreach(f ${files})
  if(f MATCHES "/build[^/]*/" OR f MATCHES "/\\.gpu-deps/" OR f MATCHES "check_no_outside_refs\\.cmake$")
    continue()
  endif()
  file(STRINGS ${f} hits REGEX "\\.\\./shared/|unet-spec\\.md")
  if(hits)
    string(APPEND found "\n  ${f}: ${hits}")
  endif()
endforeach()
if(found)
  message(FATAL_ERROR "files refer to design notes outside the repository (move what is needed into docs/):${found}")
endif()
message("no file refers outside the repository")
