# Shared helpers for the project's targets.

set(DSBENCH_WARNINGS -Wall -Wextra)

# dsbench_library(NAME SOURCES ... DEPS ... [TORCH])
# A static library rooted at the source root. TORCH adds libtorch and a precompiled
# torch header: including torch/torch.h costs ~40 s per file here, the PCH pays it once
# per target.
function(dsbench_library name)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${DSBENCH_SOURCE_ROOT})
  target_compile_options(${name} PRIVATE ${DSBENCH_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  if(ARG_TORCH)
    dsbench_use_torch(${name})
  endif()
endfunction()

# One precompiled torch/torch.h for the whole project (~50 s once); every torch target
# reuses it, which cuts each torch file from ~25 s to ~10 s on this machine.
add_library(dsbench_torch_pch STATIC ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cc)
target_link_libraries(dsbench_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_include_directories(dsbench_torch_pch SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS})
target_precompile_headers(dsbench_torch_pch PRIVATE <torch/torch.h>)

function(dsbench_use_torch target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  # Torch's own headers warn under -Wextra; they are not ours to fix.
  target_include_directories(${target} SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS})
  target_precompile_headers(${target} REUSE_FROM dsbench_torch_pch)
endfunction()

# dsbench_test(NAME SOURCES ... DEPS ... [TORCH] [LABELS ...])
# One GoogleTest binary; its tests are registered with ctest one by one.
function(dsbench_test name)
  cmake_parse_arguments(ARG "TORCH" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${DSBENCH_SOURCE_ROOT})
  target_compile_options(${name} PRIVATE ${DSBENCH_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    DSBENCH_SOURCE_DIR="${DSBENCH_SOURCE_ROOT}"
    DSBENCH_SHARED_DIR="${DSBENCH_SHARED_DIR}"
    DSBENCH_BINARY_DIR="${CMAKE_BINARY_DIR}")
  if(ARG_TORCH)
    dsbench_use_torch(${name})
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()
