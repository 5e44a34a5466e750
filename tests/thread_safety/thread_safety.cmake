# FIXSTREAM_THREAD_SAFETY: clang's static thread-safety analysis of the
# ABSL_GUARDED_BY / ABSL_*_LOCKS_REQUIRED / ABSL_LOCKS_EXCLUDED /
# ABSL_ACQUIRED_BEFORE|AFTER annotations, which GCC ignores. Added to
# fixstream_warnings, so it covers our targets (tests included) and not the
# system headers; -Werror (FIXSTREAM_WERROR) makes every finding an error.
#
# -Wthread-safety-beta adds the lock-order check of ACQUIRED_BEFORE/AFTER.
# Clang 14 checks it within one function body only (locks it acquires, and
# those its ABSL_*_LOCKS_REQUIRED say it holds), not across calls: a lock
# taken in a callee, e.g. through a virtual call, is not seen.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "FIXSTREAM_THREAD_SAFETY requires clang (-Wthread-safety); "
                      "configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
set(FIXSTREAM_THREAD_SAFETY_FLAGS -Wthread-safety -Wthread-safety-beta)
target_compile_options(fixstream_warnings INTERFACE ${FIXSTREAM_THREAD_SAFETY_FLAGS})

# The check must be able to fail: compile tests/thread_safety/probe.cc with
# correct locking (must compile), an unguarded read and a lock-order
# inversion (each must fail with the analysis' own error). Catches a compiler,
# flag or Abseil whose annotation macros expand to nothing.
get_target_property(_fixstream_absl_include absl::base INTERFACE_INCLUDE_DIRECTORIES)
set(_fixstream_probe ${CMAKE_CURRENT_LIST_DIR}/probe.cc)
set(_fixstream_probe_cases
  "ok|"
  "unlocked|-DFIXSTREAM_PROBE_UNLOCKED|requires holding mutex 'mu_'"
  "order|-DFIXSTREAM_PROBE_ORDER|mutex 'outer_mu_' must be acquired before 'mu_'")
foreach(_case IN LISTS _fixstream_probe_cases)
  string(REPLACE "|" ";" _case "${_case}")
  list(GET _case 0 _name)
  list(GET _case 1 _define)
  set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
  try_compile(_fixstream_probe_compiled ${CMAKE_BINARY_DIR}/thread_safety_probe/${_name}
    SOURCES ${_fixstream_probe}
    CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${_fixstream_absl_include}"
    COMPILE_DEFINITIONS ${FIXSTREAM_THREAD_SAFETY_FLAGS} -Werror ${_define}
    CXX_STANDARD 20
    NO_CACHE
    OUTPUT_VARIABLE _fixstream_probe_output)
  unset(CMAKE_TRY_COMPILE_TARGET_TYPE)
  if(_name STREQUAL "ok")
    if(NOT _fixstream_probe_compiled)
      message(FATAL_ERROR "thread-safety probe: correct locking does not compile:\n"
                          "${_fixstream_probe_output}")
    endif()
  else()
    list(GET _case 2 _expected)
    if(_fixstream_probe_compiled OR NOT _fixstream_probe_output MATCHES "${_expected}")
      message(FATAL_ERROR "thread-safety probe '${_name}': expected the error "
                          "\"${_expected}\", got:\n${_fixstream_probe_output}")
    endif()
  endif()
endforeach()
message(STATUS "Thread-safety analysis: ${FIXSTREAM_THREAD_SAFETY_FLAGS} (probe fails as it must)")
