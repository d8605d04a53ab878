# The layers the build enforces (docs/development.md).
#
# Every library is a layer: policy, adapters, and one per folder under daemon/. A layer's
# headers are reachable only through an include root of its own, built here as
#   <build>/layers/<target>/<folder>  ->  <source>/<folder>
# so `#include "daemon/store/store.h"` compiles only in a target that links treve_store. A
# wrong include is a missing file, not a review comment.
#
# treve_layer(<target> <folder> [PUBLIC deps…] [PRIVATE deps…]) gives <target> (already made
# by add_library) its include root and links its dependencies. A treve_* dependency must be a
# layer defined before it, that is lower: the folders are added bottom-up, so a dependency on
# a higher layer, and with it any cycle, stops the configuration.
function(treve_layer target folder)
  cmake_parse_arguments(PARSE_ARGV 2 LAYER "" "" "PUBLIC;PRIVATE")
  foreach(dep IN LISTS LAYER_PUBLIC LAYER_PRIVATE)
    if(dep MATCHES "^treve_" AND NOT TARGET ${dep})
      message(FATAL_ERROR "${target} (${folder}) depends on ${dep}, which is not a layer below it "
                          "(see docs/development.md)")
    endif()
  endforeach()
  set(root ${PROJECT_BINARY_DIR}/layers/${target})
  get_filename_component(parent ${root}/${folder} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  if(NOT EXISTS ${root}/${folder})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC ${root})
  target_link_libraries(${target} PUBLIC ${LAYER_PUBLIC} PRIVATE ${LAYER_PRIVATE})
  set_property(GLOBAL APPEND PROPERTY TREVE_LAYERS ${target})
endfunction()
