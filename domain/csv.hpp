#pragma once

#include <string>
#include <string_view>

namespace cti {

/// Appends `value` to `out` as one RFC 4180 field (no separator).
///
/// Spreadsheet-injection defusing (CSV exports are opened in Excel, LibreOffice
/// and Google Sheets, which run a cell starting with a formula character as a
/// formula): a value starting with '=', '@', TAB or CR gets a leading "'";
/// a value starting with '+' or '-' gets one too unless the whole value is a
/// plain number or phone-like literal, `^[+-]?[0-9][0-9 ().-]*$` (so
/// "+15551234567" and "-3" stay as they are, "+SUM(A1)" becomes "'+SUM(A1)").
///
/// The field is quoted (wrapped in '"', every inner '"' doubled) when it
/// contains a comma, a double quote, CR or LF, or when it was defused.
/// An empty value appends nothing (an empty field).
void append_csv_field(std::string& out, std::string_view value);

/// Appends the RFC 4180 record terminator, CRLF.
void append_csv_row_end(std::string& out);

} // namespace cti
