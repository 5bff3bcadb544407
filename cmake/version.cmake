# Writes OUT, a header with the project's version (VERSION) and the build's
# git commit: COMMIT when set (e.g. a container build, which has no .git),
# else `git rev-parse HEAD` of SOURCE_DIR, else "unknown". Run at every
# build (cmake -P), it rewrites OUT only when the text changed, so a new
# commit rebuilds one file and an unchanged one rebuilds nothing.
#
#   cmake -DVERSION=0.2.0 -DSOURCE_DIR=... -DOUT=.../txgate_version.h [-DCOMMIT=...] -P version.cmake
if(NOT COMMIT)
  find_package(Git QUIET)
  if(GIT_FOUND)
    execute_process(
      COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} rev-parse HEAD
      OUTPUT_VARIABLE COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      set(COMMIT "")
    endif()
  endif()
endif()
if(NOT COMMIT)
  set(COMMIT unknown)
endif()
set(text "// Generated at build time by cmake/version.cmake (do not edit).\n"
         "#define TXGATE_VERSION \"${VERSION}\"\n"
         "#define TXGATE_GIT_COMMIT \"${COMMIT}\"\n")
string(CONCAT text ${text})
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUT} "${text}")
endif()
