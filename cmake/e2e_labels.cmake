# Read by ctest after the discovered e2e test lists (see CMakeLists.txt).
if(e2e_hostile_tests)
  set_tests_properties(${e2e_hostile_tests} PROPERTIES LABELS "e2e;hostile")
endif()
if(e2e_fault_tests)
  set_tests_properties(${e2e_fault_tests} PROPERTIES LABELS "e2e;fault")
endif()
