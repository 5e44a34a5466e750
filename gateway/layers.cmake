# The layer rules of gateway/ (docs/ARCHITECTURE.md), checked twice:
#   - at configure time, fixstream_check_layers() walks each layer's link
#     closure and stops with an error if it reaches a forbidden library;
#   - at build time, each layer's sources are scanned for #includes of a
#     forbidden library's headers before the layer compiles (this file, run
#     with cmake -P), so a wrong include fails the build even where the
#     header would be found on the system include path.
# Headers of our own layers need no scan: fixstream_expose() makes a layer's
# folder visible only to the targets that link it.
#
#   fixstream_layer(<target> [FORBID <kind>...])
# kinds: grpc, prometheus, asio, proto (the fixstream.v1 messages / protobuf),
# journal (the local journal), store (the RecordStore implementations, embedded
# and JetStream: layers above the seam see only gateway/hub/record_store.h).

set(_FIXSTREAM_LAYER_LIBS_grpc gRPC::grpc++ gRPC::grpc gRPC::grpc++_reflection fixstream_proto_grpc
    fixstream_health_proto fixstream_reflection_proto)
set(_FIXSTREAM_LAYER_LIBS_prometheus prometheus-cpp::core prometheus-cpp::pull)
set(_FIXSTREAM_LAYER_LIBS_asio asio)
set(_FIXSTREAM_LAYER_LIBS_proto fixstream_proto fixstream_proto_grpc protobuf::libprotobuf)
set(_FIXSTREAM_LAYER_LIBS_journal fixstream_journal)
set(_FIXSTREAM_LAYER_LIBS_store fixstream_store fixstream_fleet)
set(_FIXSTREAM_LAYER_INCLUDE_grpc "^[ \t]*#[ \t]*include[ \t]*[<\"](grpc|grpcpp)/|location\\.grpc\\.pb\\.h")
set(_FIXSTREAM_LAYER_INCLUDE_prometheus "^[ \t]*#[ \t]*include[ \t]*[<\"]prometheus/")
set(_FIXSTREAM_LAYER_INCLUDE_asio "^[ \t]*#[ \t]*include[ \t]*[<\"]asio(\\.hpp|/)")
set(_FIXSTREAM_LAYER_INCLUDE_proto "^[ \t]*#[ \t]*include[ \t]*[<\"](fixstream/v1/|google/protobuf/)")
set(_FIXSTREAM_LAYER_INCLUDE_journal "^[ \t]*#[ \t]*include[ \t]*[<\"]gateway/journal/")
set(_FIXSTREAM_LAYER_INCLUDE_store "^[ \t]*#[ \t]*include[ \t]*[<\"]gateway/(store|fleet)/")

if(CMAKE_SCRIPT_MODE_FILE)
  # cmake -DLAYER=<name> -DFORBID=<kinds;...> -DSOURCES=<files;...> -DSTAMP=<file> -P layers.cmake
  string(REPLACE "|" ";" FORBID "${FORBID}")
  string(REPLACE "|" ";" SOURCES "${SOURCES}")
  set(errors "")
  foreach(file ${SOURCES})
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include")
    foreach(kind ${FORBID})
      foreach(line ${lines})
        if(line MATCHES "${_FIXSTREAM_LAYER_INCLUDE_${kind}}")
          string(APPEND errors "\n  ${file}: ${line}   (${LAYER} must not use ${kind})")
        endif()
      endforeach()
    endforeach()
  endforeach()
  if(errors)
    message(FATAL_ERROR "layer rule broken (docs/ARCHITECTURE.md):${errors}")
  endif()
  file(TOUCH ${STAMP})
  return()
endif()

set(_FIXSTREAM_LAYERS_FILE ${CMAKE_CURRENT_LIST_FILE})

function(fixstream_layer target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "FORBID")
  set_property(GLOBAL APPEND PROPERTY FIXSTREAM_LAYERS ${target})
  set_property(GLOBAL PROPERTY FIXSTREAM_LAYER_FORBID_${target} "${arg_FORBID}")
  if(NOT arg_FORBID)
    return()
  endif()
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.h
       ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${target}.layer_check)
  # Lists travel with '|' for ';' (the shell would split at ';').
  string(REPLACE ";" "|" forbid_arg "${arg_FORBID}")
  string(REPLACE ";" "|" sources_arg "${sources}")
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DLAYER=${target} -DFORBID=${forbid_arg} -DSOURCES=${sources_arg}
            -DSTAMP=${stamp} -P ${_FIXSTREAM_LAYERS_FILE}
    DEPENDS ${sources} ${_FIXSTREAM_LAYERS_FILE}
    COMMENT "layer rules of ${target}"
    VERBATIM)
  add_custom_target(${target}_layer_check DEPENDS ${stamp})
  add_dependencies(${target} ${target}_layer_check)
endfunction()

# Everything `target` compiles against, transitively: its own links, PRIVATE
# included, and the usage requirements of those (not their private links).
function(_fixstream_link_closure target out)
  set(seen "")
  get_target_property(todo ${target} LINK_LIBRARIES)
  if(NOT todo)
    set(todo "")
  endif()
  while(todo)
    list(POP_FRONT todo lib)
    # $<LINK_ONLY:x>: a dependency's private link, which gives no headers.
    if(lib MATCHES "^\\$<" OR lib IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${lib})
    if(TARGET ${lib})
      get_target_property(aliased ${lib} ALIASED_TARGET)
      if(aliased)
        list(APPEND todo ${aliased})
      endif()
      get_target_property(deps ${lib} INTERFACE_LINK_LIBRARIES)
      if(deps)
        list(APPEND todo ${deps})
      endif()
    endif()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

function(fixstream_check_layers)
  get_property(layers GLOBAL PROPERTY FIXSTREAM_LAYERS)
  foreach(target ${layers})
    get_property(forbid GLOBAL PROPERTY FIXSTREAM_LAYER_FORBID_${target})
    if(NOT forbid)
      continue()
    endif()
    _fixstream_link_closure(${target} closure)
    foreach(kind ${forbid})
      foreach(lib ${_FIXSTREAM_LAYER_LIBS_${kind}})
        if(lib IN_LIST closure)
          message(FATAL_ERROR "layer rule broken (docs/ARCHITECTURE.md): ${target} links ${lib}, "
                              "but must not use ${kind}")
        endif()
      endforeach()
    endforeach()
  endforeach()
endfunction()
