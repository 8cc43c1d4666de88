# Build-time script: turns schema/NNN_*.sql into a C++ source so the binary
# carries its migrations (no install path to get wrong). Invoked with
# -DSCHEMA_DIR=... -DOUTPUT=...
file(GLOB sql_files "${SCHEMA_DIR}/[0-9][0-9][0-9]_*.sql")
list(SORT sql_files)
set(body "// Generated from schema/*.sql by cmake/embed_schema.cmake. Do not edit.\n")
string(APPEND body "#include \"db/migrator.hpp\"\n\nnamespace cti::db {\n\n")
string(APPEND body "const std::vector<migration>& embedded_migrations() {\n")
string(APPEND body "  static const std::vector<migration> all = {\n")
foreach(f IN LISTS sql_files)
  get_filename_component(name "${f}" NAME)
  file(READ "${f}" sql)
  string(APPEND body "    {\"${name}\", R\"cti_sql_embed(${sql})cti_sql_embed\"},\n")
endforeach()
string(APPEND body "  };\n  return all;\n}\n\n} // namespace cti::db\n")
include("${CMAKE_CURRENT_LIST_DIR}/write_if_changed.cmake")
cti_write_if_changed("${OUTPUT}" "${body}")
