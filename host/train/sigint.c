/* The optional SIGINT handler of lp_train_run (lp_train_options.handle_sigint).
 *
 * A signal handler can only reach the trainer through static storage, so
 * this file holds the library's one piece of mutable global state: the
 * volatile sig_atomic_t flag below, which the handler sets and the loop
 * polls at each rollout step and epoch boundary. It is process-wide, like
 * the signal itself: two runs installing the handler at once would share
 * it (the API says to let one run own SIGINT). The handler is installed with
 * SA_RESETHAND, so a second Ctrl-C during the final checkpoint gets the
 * default action (the process ends), and the previous handler is put back
 * when the run returns. */
#include "train/train_impl.h"

#include "util/error.h"

#include <errno.h>
#include <string.h>

static volatile sig_atomic_t lp__sigint_flag = 0;

static void on_sigint(int sig) {
    (void)sig;
    lp__sigint_flag = 1;
}

int32_t lp__sigint_install(lp__sigint_saved *saved, lp_error *err) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART; /* writes in progress are resumed */
    lp__sigint_flag = 0;
    if (sigaction(SIGINT, &sa, &saved->old) != 0) {
        int e = errno;
        return lp__error_set(err, LP_EIO, "lp_train_run: cannot install the SIGINT handler: %s",
                             strerror(e));
    }
    saved->installed = 1;
    return LP_OK;
}

void lp__sigint_restore(lp__sigint_saved *saved) {
    if (saved->installed) {
        sigaction(SIGINT, &saved->old, NULL);
        saved->installed = 0;
    }
    lp__sigint_flag = 0;
}

int lp__sigint_pending(void) {
    return lp__sigint_flag != 0;
}
