/* Where the plugins of the install this executable belongs to are.
 *
 * liblossplug knows the plugin directory of the prefix it was configured
 * for. An install moved elsewhere (or made with `cmake --install --prefix`)
 * keeps its plugins next to the executable instead, at the same relative
 * place: bin/../lib/lossplug/plugins. */
#define _XOPEN_SOURCE 700
#include "cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LP_CLI_PLUGINDIR_FROM_BINDIR
#define LP_CLI_PLUGINDIR_FROM_BINDIR "../lib/lossplug/plugins"
#endif

int lp__relocated_plugin_dir(char *buf, size_t size) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';

    char candidate[PATH_MAX + sizeof LP_CLI_PLUGINDIR_FROM_BINDIR + 1];
    snprintf(candidate, sizeof candidate, "%s/%s", exe, LP_CLI_PLUGINDIR_FROM_BINDIR);
    char resolved[PATH_MAX];
    struct stat st;
    if (realpath(candidate, resolved) == NULL || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;

    /* Already searched by the library: nothing to add. */
    char configured[PATH_MAX];
    if (realpath(lp_install_plugin_dir(), configured) != NULL && strcmp(configured, resolved) == 0)
        return -1;
    if (strlen(resolved) >= size)
        return -1;
    memcpy(buf, resolved, strlen(resolved) + 1);
    return 0;
}
