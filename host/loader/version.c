/* What was compiled into the library: its version and the installed plugin
 * directory (both set by host/loader/CMakeLists.txt). */
#include "loader/internal.h"

#ifndef LP_VERSION_STRING
#error "LP_VERSION_STRING must be defined by the build"
#endif
#ifndef LP_INSTALL_PLUGIN_DIR
#error "LP_INSTALL_PLUGIN_DIR must be defined by the build"
#endif

const char *lp_version_string(void) {
    return LP_VERSION_STRING;
}

const char *lp_install_plugin_dir(void) {
    return LP_INSTALL_PLUGIN_DIR;
}
