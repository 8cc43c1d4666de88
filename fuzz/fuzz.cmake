# Fuzzing build (scripts/fuzz.sh): -DCTI_FUZZ=ON with clang++. Builds one
# libFuzzer binary per target of fuzz/targets.hpp, with AddressSanitizer and
# UndefinedBehaviorSanitizer, from the parsers' own sources (not the whole
# server). Included by CMakeLists.txt, which then stops.

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "CTI_FUZZ needs clang++ (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
endif()

set(CTI_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
                   -fno-omit-frame-pointer -g -O1)
file(GLOB CTI_FUZZ_DOMAIN CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/domain/*.cpp")
add_library(cti_fuzz_core STATIC
  ${CTI_FUZZ_DOMAIN}
  net/router.cpp
  actors/messages.cpp
  fuzz/targets.cpp)
target_include_directories(cti_fuzz_core PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_include_directories(cti_fuzz_core SYSTEM PUBLIC ${NLOHMANN_JSON_INCLUDE_DIR})
target_compile_options(cti_fuzz_core PUBLIC ${CTI_FUZZ_FLAGS} -fsanitize=fuzzer-no-link)
target_link_options(cti_fuzz_core PUBLIC -fsanitize=address,undefined)
target_link_libraries(cti_fuzz_core PUBLIC
  CAF::core Boost::url Boost::headers OpenSSL::SSL OpenSSL::Crypto spdlog::spdlog
  ${CRYPT_LIBRARY} Threads::Threads)

foreach(target extract sanitize webhook_auth router cursor)
  add_executable(fuzz_${target} fuzz/fuzz_entry.cpp)
  target_compile_definitions(fuzz_${target} PRIVATE CTI_FUZZ_TARGET=${target})
  target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_${target} PRIVATE cti_fuzz_core)
endforeach()
