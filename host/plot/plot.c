/* The training-curve PNG: columns of a stats file against env_steps, drawn
 * with cairo. */
#include "plot/lp_plot.h"

#include "util/error.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLOT_PI 3.14159265358979323846

/* Colours of the lines, in order (then again). */
static const double palette[][3] = {
    {0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17},
    {0.58, 0.40, 0.74}, {1.00, 0.50, 0.05}, {0.55, 0.34, 0.29},
};
#define PALETTE_N (sizeof palette / sizeof palette[0])

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about `n` ticks
 * over [lo, hi]. */
static double tick_step(double lo, double hi, int n) {
    double raw = (hi - lo) / n;
    if (!(raw > 0))
        return 1.0;
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

/* Tick labels, one style per axis (from its largest magnitude `top`):
 * 2.5M, 250k, or %g. */
static void tick_label(char *buf, size_t size, double v, double step, double top) {
    if (fabs(v) < step * 1e-9) {
        snprintf(buf, size, "0");
        return;
    }
    if (top >= 2e6 && step >= 1e5)
        snprintf(buf, size, "%gM", v / 1e6);
    else if (top >= 2e4 && step >= 1e3)
        snprintf(buf, size, "%gk", v / 1e3);
    else
        snprintf(buf, size, "%g", v);
}

static void list_columns(const lp_stats_table *t, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->cols && n + 1 < size; i++) {
        int w = snprintf(buf + n, size - n, "%s%s", i ? ", " : "", t->names[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

typedef struct frame {
    double x0, x1, y0, y1;           /* data range */
    double left, right, top, bottom; /* pixel box of the plot area */
} frame;

static double px(const frame *f, double x) {
    return f->left + (x - f->x0) / (f->x1 - f->x0) * (f->right - f->left);
}
static double py(const frame *f, double y) {
    return f->bottom - (y - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top);
}

static void draw_axes(cairo_t *cr, const frame *f, const char *xlabel, const char *ylabel) {
    char buf[64];
    cairo_text_extents_t ext;
    cairo_set_font_size(cr, 13);
    /* Grid and tick labels. */
    double sx = tick_step(f->x0, f->x1, 6), sy = tick_step(f->y0, f->y1, 6);
    cairo_set_line_width(cr, 1.0);
    for (double x = ceil(f->x0 / sx) * sx; x <= f->x1 + sx * 1e-9; x += sx) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, floor(px(f, x)) + 0.5, f->top);
        cairo_line_to(cr, floor(px(f, x)) + 0.5, f->bottom);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, x, sx, fmax(fabs(f->x0), fabs(f->x1)));
        cairo_text_extents(cr, buf, &ext);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, px(f, x) - ext.width / 2 - ext.x_bearing, f->bottom + 18);
        cairo_show_text(cr, buf);
    }
    for (double y = ceil(f->y0 / sy) * sy; y <= f->y1 + sy * 1e-9; y += sy) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, f->left, floor(py(f, y)) + 0.5);
        cairo_line_to(cr, f->right, floor(py(f, y)) + 0.5);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, y, sy, fmax(fabs(f->y0), fabs(f->y1)));
        cairo_text_extents(cr, buf, &ext);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, f->left - 8 - ext.width - ext.x_bearing, py(f, y) + ext.height / 2);
        cairo_show_text(cr, buf);
    }
    /* The box. */
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, f->left + 0.5, f->top + 0.5, f->right - f->left, f->bottom - f->top);
    cairo_stroke(cr);
    /* Axis labels. */
    cairo_set_font_size(cr, 14);
    cairo_text_extents(cr, xlabel, &ext);
    cairo_move_to(cr, (f->left + f->right) / 2 - ext.width / 2, f->bottom + 42);
    cairo_show_text(cr, xlabel);
    cairo_text_extents(cr, ylabel, &ext);
    cairo_save(cr);
    cairo_move_to(cr, 22, (f->top + f->bottom) / 2 + ext.width / 2);
    cairo_rotate(cr, -PLOT_PI / 2);
    cairo_show_text(cr, ylabel);
    cairo_restore(cr);
}

/* Lines with gaps where a row has no value. */
static void draw_series(cairo_t *cr, const frame *f, const lp_stats_table *t, size_t xc, size_t yc,
                        const double rgb[3]) {
    cairo_save(cr);
    cairo_rectangle(cr, f->left, f->top, f->right - f->left, f->bottom - f->top);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, 2.0);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    int open = 0;
    size_t points = 0;
    for (size_t r = 0; r < t->rows; r++) {
        double x = t->values[r * t->cols + xc], y = t->values[r * t->cols + yc];
        if (isnan(x) || isnan(y)) {
            open = 0;
            continue;
        }
        if (open)
            cairo_line_to(cr, px(f, x), py(f, y));
        else
            cairo_move_to(cr, px(f, x), py(f, y));
        open = 1;
        points++;
    }
    cairo_stroke(cr);
    if (points == 1) { /* one point: a dot, not an invisible line */
        for (size_t r = 0; r < t->rows; r++) {
            double x = t->values[r * t->cols + xc], y = t->values[r * t->cols + yc];
            if (!isnan(x) && !isnan(y))
                cairo_arc(cr, px(f, x), py(f, y), 3.0, 0, 2 * PLOT_PI);
        }
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

static void draw_legend(cairo_t *cr, const frame *f, const char *const *y, size_t n) {
    cairo_text_extents_t ext;
    double w = 0;
    cairo_set_font_size(cr, 13);
    for (size_t i = 0; i < n; i++) {
        cairo_text_extents(cr, y[i], &ext);
        if (ext.x_advance > w)
            w = ext.x_advance;
    }
    double bx = f->left + 12, by = f->top + 12, bw = w + 52, bh = 10 + 20.0 * (double)n;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    for (size_t i = 0; i < n; i++) {
        const double *c = palette[i % PALETTE_N];
        double ly = by + 15 + 20.0 * (double)i;
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, bx + 8, ly);
        cairo_line_to(cr, bx + 36, ly);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_move_to(cr, bx + 44, ly + 4.5);
        cairo_show_text(cr, y[i]);
    }
}

/* Write the surface to `path` through a temporary file beside it, renamed
 * into place: the PNG is replaced whole or not at all. */
static int32_t save_png(cairo_surface_t *surface, const char *path, lp_error *err) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (tmp == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    cairo_status_t st = cairo_surface_write_to_png(surface, tmp);
    if (st != CAIRO_STATUS_SUCCESS) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return lp__error_set(
            err, LP_EIO,
            "%s: cannot write the PNG: %s (%s); check that the directory exists and is writable",
            path, cairo_status_to_string(st), strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return lp__error_set(err, LP_EIO, "%s: cannot replace the PNG: %s", path, strerror(e));
    }
    free(tmp);
    return LP_OK;
}

int32_t lp_plot_write(const lp_plot_options *opt, lp_error *err) {
    if (opt == NULL || opt->stats_path == NULL || opt->out_path == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_plot_write: no stats file or no output path");
    static const char *const default_y[] = {LP_PLOT_DEFAULT_Y};
    const char *const *y = opt->y_count > 0 ? opt->y : default_y;
    size_t ny = opt->y_count > 0 ? opt->y_count : 1;
    int width = opt->width > 0 ? opt->width : 960, height = opt->height > 0 ? opt->height : 540;
    if (width < 200 || height < 150 || width > 10000 || height > 10000)
        return lp__error_set(err, LP_EINVAL, "plot size %dx%d: use 200x150 to 10000x10000 pixels",
                             width, height);

    lp_stats_table t;
    int32_t rc = lp_stats_table_read(opt->stats_path, &t, err);
    if (rc != LP_OK)
        return rc;
    char cols[1024];
    list_columns(&t, cols, sizeof cols);
    long xc = lp_stats_table_column(&t, LP_PLOT_X);
    if (xc < 0) {
        rc = lp__error_set(err, LP_ENOENT,
                           "%s: no column '%s' (its columns: %s); is it a lossplug stats file?",
                           opt->stats_path, LP_PLOT_X, cols);
        goto done;
    }
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 0, 0, 0, 0};
    for (size_t i = 0; i < ny; i++) {
        long yc = lp_stats_table_column(&t, y[i]);
        if (yc < 0) {
            rc = lp__error_set(err, LP_ENOENT, "%s: no column '%s'; its columns are: %s",
                               opt->stats_path, y[i], cols);
            goto done;
        }
        size_t points = 0;
        for (size_t r = 0; r < t.rows; r++) {
            double xv = t.values[r * t.cols + (size_t)xc], yv = t.values[r * t.cols + (size_t)yc];
            if (isnan(xv) || isnan(yv))
                continue;
            points++;
            f.x0 = fmin(f.x0, xv), f.x1 = fmax(f.x1, xv);
            f.y0 = fmin(f.y0, yv), f.y1 = fmax(f.y1, yv);
        }
        if (points == 0) {
            rc = lp__error_set(err, LP_ENOENT,
                               "%s: column '%s' has no value on any of its %zu lines",
                               opt->stats_path, y[i], t.rows);
            goto done;
        }
    }
    /* Ranges: a little air; a flat series gets a unit range. */
    if (f.x1 <= f.x0)
        f.x0 -= 1, f.x1 += 1;
    if (f.y1 <= f.y0)
        f.y0 -= 1, f.y1 += 1;
    else {
        double pad = (f.y1 - f.y0) * 0.05;
        f.y0 -= pad, f.y1 += pad;
    }
    if (f.x0 > 0 && f.x0 < (f.x1 - f.x0) * 0.25)
        f.x0 = 0; /* env steps start near 0: show the origin */

    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surface);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = lp__error_set(err, LP_ENOMEM, "cairo: %s", cairo_status_to_string(cairo_status(cr)));
    } else {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        f.left = 86, f.right = width - 24.0, f.top = 48, f.bottom = height - 60.0;
        char ylabel[256], title[512];
        if (ny == 1)
            snprintf(ylabel, sizeof ylabel, "%s", y[0]);
        else
            snprintf(ylabel, sizeof ylabel, "value");
        draw_axes(cr, &f, "env steps", ylabel);
        for (size_t i = 0; i < ny; i++)
            draw_series(cr, &f, &t, (size_t)xc, (size_t)lp_stats_table_column(&t, y[i]),
                        palette[i % PALETTE_N]);
        draw_legend(cr, &f, y, ny);
        const char *base = strrchr(opt->stats_path, '/');
        base = base != NULL ? base + 1 : opt->stats_path;
        if (opt->title != NULL)
            snprintf(title, sizeof title, "%s", opt->title);
        else
            snprintf(title, sizeof title, "%s: %s%s vs env steps (%zu epochs)", base, y[0],
                     ny > 1 ? ", ..." : "", t.rows);
        cairo_text_extents_t ext;
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, 16);
        cairo_text_extents(cr, title, &ext);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_move_to(cr, (width - ext.width) / 2 - ext.x_bearing, 30);
        cairo_show_text(cr, title);
        cairo_surface_flush(surface);
        if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
            rc = lp__error_set(err, LP_EIO, "cairo: %s", cairo_status_to_string(cairo_status(cr)));
        else
            rc = save_png(surface, opt->out_path, err);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
done:
    lp_stats_table_free(&t);
    return rc;
}

void lp_plot_shutdown(void) {
    cairo_debug_reset_static_data();
    FcFini();
}
