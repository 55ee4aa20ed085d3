# lossplug_add_plugin(<target> <sources>...)
#
# Builds a loss plugin the way the ABI wants it: a MODULE library with hidden
# visibility, a version script that exports `lossplug_entry` alone, and
# -z defs so that an undefined symbol fails the link instead of the load.
# It links libm, since <lossplug/plugin.h> includes <math.h>: a plugin may
# call expf() or sqrt() with nothing more to add.
# Requires LOSSPLUG_PLUGIN_MAP (the version script) and the lossplug::sdk
# target, both set by lossplug's own build and by find_package(lossplug).
# LP_PLUGIN_ENTRY's once-init uses a pthread mutex: plugins link Threads
# (part of libc since glibc 2.34, a separate library before).
find_package(Threads REQUIRED)
function(lossplug_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE lossplug::sdk m Threads::Threads)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${LOSSPLUG_PLUGIN_MAP}" "LINKER:-z,defs")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${LOSSPLUG_PLUGIN_MAP})
endfunction()
