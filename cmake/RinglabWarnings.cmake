# One interface target carries warnings (as errors) and the sanitizer flags to every ringlab target.
add_library(ringlab_warnings INTERFACE)
add_library(ringlab::warnings ALIAS ringlab_warnings)
target_compile_options(ringlab_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Werror>)
if(RINGLAB_SANITIZE)
  target_compile_options(ringlab_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer>)
  target_link_options(ringlab_warnings INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

# Helper: one library per layer, sources listed explicitly by the caller.
function(ringlab_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ringlab_${name} ${ARG_SOURCES})
  add_library(ringlab::${name} ALIAS ringlab_${name})
  target_include_directories(ringlab_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(ringlab_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ringlab::warnings ${ARG_PRIVATE_DEPS})
  ringlab_lto(ringlab_${name})
endfunction()

# Link-time optimisation of a C++ target in Release builds (see the top-level CMakeLists.txt); CUDA
# targets are left out.
function(ringlab_lto target)
  if(RINGLAB_IPO)
    set_property(TARGET ${target} PROPERTY INTERPROCEDURAL_OPTIMIZATION_RELEASE ON)
  endif()
endfunction()
