/* lossplug-scan: load one plugin file in this (child) process and report
 * what it offers on stdout, for liblossplug's registry (host/loader/scan.c),
 * which runs it before loading a file in-process. If the plugin's
 * constructor or init crashes, aborts, exits or hangs, it is this process
 * that does, and the registry reports it.
 *
 *   lossplug-scan --v1 FILE
 *
 * Output, version 1 (one record per line, fields separated by tabs; text is
 * cleaned of control characters):
 *
 *   lossplug-scan 1
 *   file    PATH
 *   entry   ABI_MAJOR  ABI_MINOR
 *   diag    error|warning  MESSAGE
 *   loss    ID  VERSION  SUMMARY
 *   param   LOSS_ID  NAME  TYPE  FLAGS
 *   field   LOSS_ID  NAME  DTYPE  RANK
 *   end
 *
 * `end` is written last, after every init was undone: a scan whose output
 * lacks it did not finish. Exit status 0 when it got that far, 2 on bad
 * usage, 1 when out of memory. */
#include "loader/internal.h"

#include <stdio.h>
#include <string.h>

static void put(const char *s) {
    char buf[LP_ERROR_MAX];
    snprintf(buf, sizeof buf, "%s", s != NULL ? s : "");
    lp__clean_text(buf);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '\t')
            *p = ' ';
    fputs(buf, stdout);
}

int main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "--v1") != 0) {
        fputs("usage: lossplug-scan --v1 FILE (run by liblossplug, not by hand)\n", stderr);
        return 2;
    }
    fputs("lossplug-scan 1\nfile\t", stdout);
    put(argv[2]);
    fputc('\n', stdout);
    fflush(stdout);
    lp_registry *reg = NULL;
    if (lp__registry_open_file(argv[2], &reg) != LP_OK)
        return 1;
    if (reg->plugin_count > 0 && reg->plugins[0]->handle != NULL)
        printf("entry\t%u\t%u\n", (unsigned)reg->plugins[0]->entry.abi_major,
               (unsigned)reg->plugins[0]->entry.abi_minor);
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++) {
        const lp_diag *d = lp_registry_diag_at(reg, i);
        printf("diag\t%s\t", d->severity == LP_DIAG_ERROR ? "error" : "warning");
        put(d->message);
        fputc('\n', stdout);
    }
    for (size_t i = 0; i < lp_registry_loss_count(reg); i++) {
        const lp_loss_desc *d = lp_registry_loss_at(reg, i)->desc;
        printf("loss\t%s\t", d->id);
        put(d->version);
        fputc('\t', stdout);
        put(d->summary);
        fputc('\n', stdout);
        for (uint32_t k = 0; k < d->param_count; k++)
            printf("param\t%s\t%s\t%s\t%u\n", d->id, d->params[k].name,
                   lp_param_type_name(d->params[k].type), (unsigned)d->params[k].flags);
        for (uint32_t k = 0; k < d->field_count; k++)
            printf("field\t%s\t%s\t%s\t%d\n", d->id, d->fields[k].name,
                   lp_dtype_name(d->fields[k].dtype), (int)d->fields[k].rank);
    }
    lp_registry_close(reg); /* deinit runs before `end` */
    fputs("end\n", stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
