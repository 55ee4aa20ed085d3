/* session_open: the time of one lp_session_open + lp_session_close in a
 * fresh process, for bench/scan_list_ab.py (docs/performance.md "Plugin
 * scanning"). The config names gae, ppo and value; the search path is DIR
 * alone; MODE is the session's scan_plugins: auto (the default), on or off.
 * Prints the milliseconds on stdout, the error on stderr (exit 1).
 *   usage: session_open DIR CONFIG auto|on|off */
#include <lossplug/host.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[3], "auto") != 0 && strcmp(argv[3], "on") != 0 &&
                      strcmp(argv[3], "off") != 0)) {
        fputs("usage: session_open DIR CONFIG auto|on|off\n", stderr);
        return 2;
    }
    const char *paths[] = {argv[1]};
    lp_session_options opt;
    lp_session_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.trust_config_sections = 1;
    opt.scan_plugins = strcmp(argv[3], "off") == 0  ? LP_SCAN_OFF
                       : strcmp(argv[3], "on") == 0 ? LP_SCAN_ON
                                                    : LP_SCAN_AUTO;
    lp_session *s = NULL;
    lp_error err;
    double t0 = now_ms();
    if (lp_session_open(argv[2], &opt, &s, &err) != LP_OK) {
        fprintf(stderr, "session_open: %s\n", err.message);
        return 1;
    }
    lp_session_close(s);
    printf("%.3f\n", now_ms() - t0);
    return 0;
}
