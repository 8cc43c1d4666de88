// One libFuzzer binary per target: CTI_FUZZ_TARGET names the function of
// fuzz/targets.hpp this binary drives (set by fuzz/fuzz.cmake).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cti::fuzz::CTI_FUZZ_TARGET(std::string_view{reinterpret_cast<const char*>(data), size});
  return 0;
}
