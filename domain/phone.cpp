#include "domain/phone.hpp"

namespace cti {

std::string normalize_phone(std::string_view number) {
  std::string out;
  out.reserve(number.size());
  for (char c : number) {
    switch (c) {
      case ' ':
      case '.':
      case '-':
      case '(':
      case ')':
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

} // namespace cti
