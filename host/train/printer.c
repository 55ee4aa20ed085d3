/* lp_train_printer: a ready progress callback. On a terminal it keeps one
 * live line, rewritten with \r after every epoch; on a file or a pipe it
 * writes one line every `every` epochs. Checkpoints, a resume and the end
 * get lines of their own. It writes to the stream it was given, nothing
 * else. */
#include "train/train_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void lp_train_printer_init(lp_train_printer *p, void *stream, int64_t every) {
    if (p == NULL)
        return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->stream = stream != NULL ? stream : (void *)stderr;
    p->every = every;
    int fd = fileno((FILE *)p->stream);
    p->live = fd >= 0 && isatty(fd);
}

/* "1,234,567" */
static const char *grouped(char *buf, size_t size, int64_t v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t o = 0;
    if (v < 0 && o + 1 < size)
        buf[o++] = '-';
    for (int i = 0; i < n && o + 1 < size; i++) {
        buf[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1 && o + 1 < size)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

static void status_line(const lp_train_progress *p, char *line, size_t size) {
    char steps[32], sps[32], ret[48], loss[32];
    grouped(steps, sizeof steps, p->env_steps);
    grouped(sps, sizeof sps, (int64_t)llround(p->steps_per_second));
    if (p->window_count > 0)
        snprintf(ret, sizeof ret, "%.1f (last %lld)", p->mean_return, (long long)p->window_count);
    else
        snprintf(ret, sizeof ret, "-");
    if (isnan(p->total_loss))
        snprintf(loss, sizeof loss, "-");
    else
        snprintf(loss, sizeof loss, "%.4f", p->total_loss);
    snprintf(line, size, "epoch %lld | %s steps | %s steps/s | return %s | loss %s",
             (long long)p->epoch, steps, sps, ret, loss);
}

static void end_live(lp_train_printer *pr, FILE *f) {
    if (pr->line_open) {
        fputc('\n', f);
        pr->line_open = 0;
    }
}

static const char *reason(int32_t r) {
    switch (r) {
    case LP_TRAIN_STOP_SOLVED:
        return "solved";
    case LP_TRAIN_STOP_BUDGET:
        return "step budget reached";
    case LP_TRAIN_STOP_INTERRUPTED:
        return "interrupted";
    case LP_TRAIN_STOP_CALLBACK:
        return "stopped";
    default:
        return "ended";
    }
}

int lp_train_print_progress(void *user, const lp_train_progress *p) {
    lp_train_printer *pr = user;
    if (pr == NULL || p == NULL || pr->stream == NULL)
        return 0;
    FILE *f = pr->stream;
    char line[256];
    switch (p->event) {
    case LP_TRAIN_EVENT_EPOCH: {
        int64_t every = pr->every > 0 ? pr->every : (p->log_every > 0 ? p->log_every : 1);
        if (pr->live) {
            status_line(p, line, sizeof line);
            fprintf(f, "\r%-100s", line);
            pr->line_open = 1;
        } else if (p->epoch % every == 0) {
            status_line(p, line, sizeof line);
            fprintf(f, "%s\n", line);
        }
        break;
    }
    case LP_TRAIN_EVENT_RESUMED: {
        end_live(pr, f);
        const lp_load_report *r = p->load_report;
        fprintf(f, "resumed from %s at epoch %lld, %lld env steps", p->path ? p->path : "?",
                (long long)p->epoch, (long long)p->env_steps);
        if (r != NULL) {
            /* All names with verbose; else counts and the first few. */
            static const struct {
                int32_t kind;
                const char *what;
            } kinds[] = {
                {LP_LOAD_RESTORED, "restored"},
                {LP_LOAD_MISSING, "missing (not in the file, kept as initialised)"},
                {LP_LOAD_MISMATCHED, "mismatched (another shape in the file, kept as initialised)"},
                {LP_LOAD_UNEXPECTED, "unexpected (in the file, not used by this run)"},
            };
            const size_t few = pr->verbose ? SIZE_MAX : 3;
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
                size_t n = lp_load_report_count(r, kinds[k].kind);
                if (n == 0 && kinds[k].kind == LP_LOAD_MISMATCHED)
                    continue;
                fprintf(f, "%s %zu %s", k == 0 ? ":" : ",", n, kinds[k].what);
                for (size_t i = 0; i < n && i < few; i++)
                    fprintf(f, "%s%s", i == 0 ? " (" : ", ",
                            lp_load_report_name(r, kinds[k].kind, i));
                if (n > few)
                    fprintf(f, ", ... %zu more; -v lists all", n - few);
                if (n > 0)
                    fputc(')', f);
            }
        }
        fputc('\n', f);
        break;
    }
    case LP_TRAIN_EVENT_CHECKPOINT:
        if (!pr->live) /* on a terminal the live line says enough */
            fprintf(f, "checkpoint %s (epoch %lld)\n", p->path ? p->path : "?",
                    (long long)p->epoch);
        break;
    case LP_TRAIN_EVENT_END: {
        const lp_train_outcome *o = p->outcome;
        if (pr->live) {
            status_line(p, line, sizeof line);
            fprintf(f, "\r%-100s", line);
            pr->line_open = 1;
        }
        end_live(pr, f);
        if (o != NULL) {
            char steps[32], sps[32];
            grouped(steps, sizeof steps, o->env_steps);
            grouped(sps, sizeof sps, (int64_t)llround(o->steps_per_second));
            fprintf(f,
                    "%s: mean return %.1f over the last %lld episodes after %s env steps "
                    "(%lld epochs) in %.2f s (%s steps/s)\n",
                    reason(o->stop_reason), o->mean_return, (long long)p->window_count, steps,
                    (long long)o->epochs, o->seconds, sps);
        }
        break;
    }
    default:
        break;
    }
    fflush(f);
    return 0;
}
