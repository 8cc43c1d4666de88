# Shared by the build-time embedding scripts (embed_schema.cmake,
# embed_console.cmake): writes `content` to `path` only when it differs from
# what is there, so ninja does not rebuild needlessly.
function(cti_write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" old)
  else()
    set(old "")
  endif()
  if(NOT old STREQUAL content)
    file(WRITE "${path}" "${content}")
  endif()
endfunction()
