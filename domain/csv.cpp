#include "domain/csv.hpp"

namespace cti {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// True when `v` matches ^[+-]?[0-9][0-9 ().-]*$: a signed number or a
/// phone number such as "+1 (555) 123-4567". Such a value can at most be
/// read as arithmetic on literals (e.g. "-1-2"); it cannot call a function
/// or reference a cell, since letters, '!', '|', '=' and '+' after the sign
/// are all excluded.
bool is_numeric_literal(std::string_view v) {
  std::size_t i = 0;
  if (i < v.size() && (v[i] == '+' || v[i] == '-'))
    ++i;
  if (i >= v.size() || !is_digit(v[i]))
    return false;
  for (++i; i < v.size(); ++i) {
    char c = v[i];
    if (!is_digit(c) && c != ' ' && c != '(' && c != ')' && c != '.' && c != '-')
      return false;
  }
  return true;
}

/// True when a spreadsheet could treat `v` as a formula (CSV injection,
/// OWASP "CSV Injection"). '=' , '+', '-' and '@' start formulas in Excel,
/// LibreOffice and Google Sheets; TAB and CR are listed because some
/// importers strip leading whitespace before looking for the formula
/// character. A leading '+' or '-' is left alone on plain numbers and phone
/// numbers so that exported phone numbers ("+15551234567") and negative
/// values stay readable as-is.
bool needs_defusing(std::string_view v) {
  if (v.empty())
    return false;
  switch (v.front()) {
  case '=':
  case '@':
  case '\t':
  case '\r':
    return true;
  case '+':
  case '-':
    return !is_numeric_literal(v);
  default:
    return false;
  }
}

bool needs_quoting(std::string_view v) {
  return v.find_first_of(",\"\r\n") != std::string_view::npos;
}

} // namespace

void append_csv_field(std::string& out, std::string_view value) {
  bool defuse = needs_defusing(value);
  if (!defuse && !needs_quoting(value)) {
    out += value;
    return;
  }
  out += '"';
  if (defuse)
    out += '\'';
  for (char c : value) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
}

void append_csv_row_end(std::string& out) {
  out += "\r\n";
}

} // namespace cti
