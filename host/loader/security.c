/* Path security: a plugin runs with the full rights of the process that
 * loads it, so it must come from a file and a directory that nobody but root
 * or the current user could have written (as sudo and NetworkManager check
 * their plugins). */
#include "loader/internal.h"

#include <stdio.h>

#define LP__INSECURE_FIX                                                                           \
    "or allow insecure plugins (--allow-insecure-plugins, lp_registry_options.allow_insecure)"

int32_t lp__check_secure(const char *what, const char *path, const struct stat *st, uid_t euid,
                         char *why, size_t why_len) {
    if (st->st_uid != 0 && st->st_uid != euid) {
        snprintf(why, why_len,
                 "the %s %s is owned by uid %lu, not by root or the current user (uid %lu): "
                 "run 'chown %lu %s', %s",
                 what, path, (unsigned long)st->st_uid, (unsigned long)euid, (unsigned long)euid,
                 path, LP__INSECURE_FIX);
        return LP_ESECURITY;
    }
    mode_t w = st->st_mode & (S_IWGRP | S_IWOTH);
    if (w != 0) {
        const char *who = w == (S_IWGRP | S_IWOTH) ? "group and others"
                          : w == S_IWGRP           ? "group"
                                                   : "others";
        snprintf(why, why_len, "the %s %s is writable by %s (mode %04o): run 'chmod go-w %s', %s",
                 what, path, who, (unsigned)(st->st_mode & 07777), path, LP__INSECURE_FIX);
        return LP_ESECURITY;
    }
    return LP_OK;
}
