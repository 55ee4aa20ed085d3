/* lossplug-scan: load one plugin file in this (child) process and report
 * what it offers, for liblossplug's registry (host/loader/scan.c), which
 * runs it before it loads a file in-process or instead of loading it at all
 * (lossplug list, describe). If the plugin's constructor or init crashes,
 * aborts, exits or hangs, it is this process that does, and the registry
 * reports it.
 *
 *   lossplug-scan --v2 FILE
 *
 * Output on stdout: protocol 2, written by lp__report_write
 * (host/loader/report.c, docs/loader.md "Scanning"). The plugin's own
 * writes to stdout go to /dev/null: the report goes to a copy of the
 * original descriptor. Its last record, `end`, is written after every init
 * was undone: a report without it did not finish. Exit status 0 when it got
 * that far, 2 on bad usage, 1 when out of memory or the output failed. */
#include "loader/internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if ((argc != 3 && argc != 4) || strcmp(argv[1], "--v2") != 0) {
        fputs("usage: lossplug-scan --v2 FILE [PARENT_PID] (run by liblossplug, not by hand)\n",
              stderr);
        return 2;
    }
    /* Ended with the process that runs the scan: a registry that is killed
     * (a trainer stopped with Ctrl-C, `lossplug check`'s child at its time
     * limit) leaves no plugin looping in an orphaned scan. A parent that died
     * before this line is not signalled: then we already have another. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (argc == 4 && (long)getppid() != strtol(argv[3], NULL, 10))
        return 1;
    /* The report's own descriptor; what the plugin prints goes nowhere. */
    int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
        return 1;
    close(null);
    FILE *out = fdopen(fd, "w");
    if (out == NULL)
        return 1;
    lp_registry *reg = NULL;
    if (lp__registry_open_file(argv[2], &reg) != LP_OK)
        return 1;
    size_t losses = lp__report_write(out, reg, argv[2]);
    lp_registry_close(reg); /* deinit runs before `end` */
    fprintf(out, "end\t%zu\n", losses);
    return fclose(out) == 0 ? 0 : 1;
}
