/*
 * lp_plot: training curves from a stats file, drawn with cairo into a PNG.
 *
 * A small static library for the programs that draw (the `lossplug plot`
 * command, cartpole-train --plot). It is not part of liblossplug, which
 * does not link cairo. docs/cli.md ("plot") describes the picture.
 *
 * Thread rules: the functions keep no state between calls; a table is used
 * by one thread at a time. Errors: every function that can fail returns an
 * lp_status and fills `err` with what, where (FILE:LINE for a bad line) and
 * how to fix it.
 */
#ifndef LP_PLOT_H
#define LP_PLOT_H

#include <lossplug/host.h>

#include <stddef.h>

/* A stats file read whole: `rows` lines of `cols` values each, row-major,
 * NAN where a line has no value (an empty CSV cell, an absent JSON key).
 * Owned by the caller: free it with lp_stats_table_free. */
typedef struct lp_stats_table {
    char **names; /* column names, in the file's order */
    size_t cols;
    double *values; /* rows * cols */
    size_t rows;
} lp_stats_table;

/* Read a stats file written by liblossplug (docs/embedding.md "Stats"):
 * CSV with a header line (FILE ends in .csv) or JSON Lines of flat objects
 * of numbers (.jsonl; other names: sniffed from the first character). On
 * failure the table is left empty. */
int32_t lp_stats_table_read(const char *path, lp_stats_table *out, lp_error *err);
void lp_stats_table_free(lp_stats_table *t);
/* The index of column `name`, or -1. */
long lp_stats_table_column(const lp_stats_table *t, const char *name);

/* What to draw. Zero-initialise, then set what you need. */
typedef struct lp_plot_options {
    const char *stats_path; /* the stats file to read (required) */
    const char *out_path;   /* the PNG to write (required); replaced whole or not at all */
    const char *const *y;   /* columns to draw against env_steps; NULL: {"episode_return"} */
    size_t y_count;         /* entries of `y` */
    const char *title;      /* NULL: "<stats file name>: <first y> vs env steps" */
    int width, height;      /* pixels; 0: 960 x 540 */
} lp_plot_options;

#define LP_PLOT_DEFAULT_Y "episode_return"
#define LP_PLOT_X         "env_steps"

/* Read `opt->stats_path` and write the PNG: each y column a line against
 * env_steps (a gap where a line has no value), axes with ticks and labels,
 * a title and a legend. Fails, writing nothing, when the file cannot be
 * read, has no line, lacks env_steps or a y column (the message lists the
 * columns it has), a y column has no value at all, or the PNG cannot be
 * written. */
int32_t lp_plot_write(const lp_plot_options *opt, lp_error *err);

/* Free the caches cairo and fontconfig keep for the whole process (fonts,
 * patterns), so that a leak checker sees nothing left at exit. Call it once,
 * after the last lp_plot_write, when nothing else in the process draws text
 * with cairo or fontconfig any more (the CLI and cartpole-train do, before
 * returning from main). */
void lp_plot_shutdown(void);

#endif
