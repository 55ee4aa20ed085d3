/* Atomic saves: a save SIGKILLed mid-write leaves the previous checkpoint
 * loadable and intact, and its leftover temporary does not trouble the next
 * save; failures (missing or read-only directory, a write error, a rename
 * error) say what and where, remove the temporary and keep the previous
 * checkpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/checkpoint.h"
#include "state_test.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
    char *dir;
    char *path;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = st_mkdtemp();
    if (f->dir == NULL)
        return -1;
    f->path = st_join(f->dir, "run.ckpt");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    st_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static lp_tensor vec(void *data, int32_t dtype, int64_t n) {
    lp_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.rank = 1;
    t.shape[0] = n;
    t.strides[0] = 1;
    return t;
}

/* The "previous checkpoint": model/w f32[256] = i * 0.5 + epoch, and
 * host/epoch. */
enum { A_N = 256 };

static int32_t save_a(const char *path, int64_t epoch, lp_error *err) {
    float w[A_N];
    lp__ckpt_item it[2];
    for (int i = 0; i < A_N; i++)
        w[i] = (float)i * 0.5f + (float)epoch;
    it[0] = (lp__ckpt_item){"model/w", vec(w, LP_DTYPE_F32, A_N)};
    it[1] = (lp__ckpt_item){"host/epoch", vec(&epoch, LP_DTYPE_I64, 1)};
    it[1].view.rank = 0;
    return lp__ckpt_write(path, it, 2, err);
}

/* Strict-load the previous checkpoint and check every value. */
static void expect_a(const char *path, int64_t epoch) {
    float w[A_N];
    int64_t got = -1;
    lp__ckpt_item it[2] = {{"model/w", vec(w, LP_DTYPE_F32, A_N)},
                           {"host/epoch", vec(&got, LP_DTYPE_I64, 1)}};
    lp_error err = {0};
    it[1].view.rank = 0;
    if (lp__ckpt_load(path, it, 2, LP__CKPT_STRICT, NULL, &err) != LP_OK)
        fail_msg("the previous checkpoint does not load: %s", err.message);
    assert_true(got == epoch);
    for (int i = 0; i < A_N; i++)
        assert_true(w[i] == (float)i * 0.5f + (float)epoch);
}

static uint32_t next_rand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Fork a child that saves a big checkpoint over a good one; SIGKILL it at a
 * random moment once its temporary exists. */
static void killed_mid_write(void **state) {
    fixture *f = *state;
    enum { ROUNDS = 6 };
    const int64_t big_n = 6 << 20; /* 24 MiB of f32: the write takes a while */
    const long long full = 28 + (2 + 7 + 2 + 8 + 8 + big_n * 4 + 4) + 20;
    float *big = malloc((size_t)big_n * sizeof *big);
    assert_non_null(big);
    uint32_t seed = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16), rnd = seed;
    int mid_write = 0, late = 0;
    lp_error err = {0};

    for (int64_t i = 0; i < big_n; i++)
        big[i] = (float)i;
    assert_int_equal(save_a(f->path, 1, &err), LP_OK);

    for (int round = 0; round < ROUNDS; round++) {
        char prefix[64], *tmp = NULL;
        struct stat st;
        int status, killed;
        long long tmp_size = -1;
        long delay = round == 0 ? 0 : (long)(next_rand(&rnd) % 8000);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            lp__ckpt_item it = {"model/w", vec(big, LP_DTYPE_F32, big_n)};
            lp_error e;
            _exit(lp__ckpt_write(f->path, &it, 1, &e) == LP_OK ? 0 : 1);
        }
        snprintf(prefix, sizeof prefix, "run.ckpt.tmp.%ld.", (long)pid);
        for (int waited = 0; st_count_prefix(f->dir, prefix) == 0; waited++) {
            if (waited > 20 * 1000 * 50 || waitpid(pid, &status, WNOHANG) == pid)
                fail_msg("seed %u round %d: the child's temporary never appeared", seed, round);
            sleep_us(20);
        }
        sleep_us(delay);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            fail_msg("seed %u round %d: the child's save failed (status %d)", seed, round, status);

        /* Whatever happened, the checkpoint is complete: the old one, or
         * (a kill after the rename) the new one. Never a mix, never torn. */
        {
            lp__ckpt *ck = NULL;
            const lp__ckpt_entry *e;
            if (lp__ckpt_open(f->path, &ck, &err) != LP_OK)
                fail_msg("seed %u round %d (delay %ld us): %s", seed, round, delay, err.message);
            e = lp__ckpt_find(ck, "model/w");
            assert_non_null(e);
            if (e->shape[0] == big_n) {
                float last;
                memcpy(&last, e->data + e->nbytes - 4, 4);
                assert_true(last == (float)(big_n - 1));
                late++;
                lp__ckpt_close(ck);
                assert_int_equal(save_a(f->path, 1, &err), LP_OK); /* for the next round */
            } else {
                lp__ckpt_close(ck);
                expect_a(f->path, 1);
            }
        }

        /* The killed child's temporary, if it made it that far. */
        {
            char name[96];
            snprintf(name, sizeof name, "%s0", prefix);
            tmp = st_join(f->dir, name);
            if (stat(tmp, &st) == 0)
                tmp_size = (long long)st.st_size;
            free(tmp);
        }
        if (killed && tmp_size >= 0 && tmp_size < full)
            mid_write++;
        if (!killed) /* a finished save leaves no temporary, whatever its number */
            assert_int_equal(st_count_prefix(f->dir, prefix), 0);
    }
    free(big);
    print_message("seed %u: %d of %d kills landed mid-write, %d after the rename\n", seed,
                  mid_write, ROUNDS, late);
    if (mid_write == 0)
        fail_msg("seed %u: no kill landed mid-write (%d after the rename)", seed, late);

    /* The leftovers do not trouble the next save, which leaves none of its
     * own; a leftover is never mistaken for the checkpoint; and the save
     * removes the leftovers of every dead process. */
    {
        int stale = st_count_prefix(f->dir, "run.ckpt.tmp.");
        assert_true(stale >= mid_write);
        assert_int_equal(save_a(f->path, 2, &err), LP_OK);
        expect_a(f->path, 2);
        /* ...and removes them: every killed child is gone. */
        assert_int_equal(st_count_prefix(f->dir, "run.ckpt.tmp."), 0);
        (void)stale;
        assert_int_equal(st_count_prefix(f->dir, ""), 3); /* ".", "..", run.ckpt */
    }
}

/* Leftovers with this very pid's names (a pid reused after a crash) are
 * stepped over, not truncated, not reused. */
static void stale_temporaries_are_skipped(void **state) {
    fixture *f = *state;
    char name[96], *p0, *p1;
    size_t n = 0;
    unsigned char *b;
    lp_error err = {0};
    snprintf(name, sizeof name, "run.ckpt.tmp.%ld.0", (long)getpid());
    p0 = st_join(f->dir, name);
    snprintf(name, sizeof name, "run.ckpt.tmp.%ld.1", (long)getpid());
    p1 = st_join(f->dir, name);
    assert_int_equal(st_write_file(p0, "stale0", 6), 0);
    assert_int_equal(st_write_file(p1, "stale1", 6), 0);
    assert_int_equal(save_a(f->path, 3, &err), LP_OK);
    expect_a(f->path, 3);
    assert_int_equal(st_count_prefix(f->dir, "run.ckpt.tmp."), 2);
    b = st_read_file(p1, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(b, "stale1", 6);
    free(b);
    free(p0);
    free(p1);
}

static void missing_directory(void **state) {
    fixture *f = *state;
    char *path = st_join(f->dir, "no/such/dir/run.ckpt"), expect[1024];
    lp_error err = {0};
    assert_int_equal(save_a(path, 1, &err), LP_EIO);
    assert_int_equal(err.code, LP_EIO);
    snprintf(expect, sizeof expect,
             "cannot save checkpoint '%s': cannot create the temporary file '%s.tmp.%ld.0': No "
             "such file or directory; the previous checkpoint (if any) is untouched",
             path, path, (long)getpid());
    assert_string_equal(err.message, expect);
    free(path);
}

/* Run `fn` in a child (without root's privileges when we have them) and
 * collect its status and message through a pipe. Returns 0 when the child
 * could not drop privileges (the test is then skipped). */
typedef int32_t (*child_fn)(const fixture *f, lp_error *err);

static int in_child(const fixture *f, child_fn fn, int drop, int32_t *rc, char *msg, size_t cap) {
    int fds[2];
    pid_t pid;
    int status;
    ssize_t n;
    size_t got = 0;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lp_error err = {0};
        int32_t r;
        close(fds[0]);
        if (drop && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(77);
        r = fn(f, &err);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r ||
            write(fds[1], err.message, strlen(err.message) + 1) < 0)
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    memset(msg, 0, cap);
    if (read(fds[0], rc, sizeof *rc) != (ssize_t)sizeof *rc)
        *rc = 12345;
    while (got < cap - 1 && (n = read(fds[0], msg + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        return 0;
    assert_int_equal(WEXITSTATUS(status), 0);
    return 1;
}

static int32_t save_into_ro(const fixture *f, lp_error *err) {
    char *path = st_join(f->dir, "ro/run.ckpt");
    int32_t rc = save_a(path, 9, err);
    free(path);
    return rc;
}

static void readonly_directory(void **state) {
    fixture *f = *state;
    char *ro = st_join(f->dir, "ro"), *path = st_join(f->dir, "ro/run.ckpt"), msg[1024];
    int32_t rc;
    lp_error err = {0};
    int ran;
    assert_int_equal(mkdir(ro, 0755), 0);
    assert_int_equal(save_a(path, 4, &err), LP_OK);
    assert_int_equal(chmod(ro, 0555), 0);
    ran = in_child(f, save_into_ro, 1, &rc, msg, sizeof msg);
    chmod(ro, 0755);
    if (!ran) {
        free(ro);
        free(path);
        skip();
    }
    assert_int_equal(rc, LP_EIO);
    assert_non_null(strstr(msg, "': cannot create the temporary file '"));
    assert_non_null(strstr(msg, "ro/run.ckpt.tmp."));
    assert_non_null(strstr(msg, ": Permission denied; the previous checkpoint (if any) is "
                                "untouched"));
    expect_a(path, 4);
    assert_int_equal(st_count_prefix(ro, "run.ckpt.tmp."), 0);
    free(ro);
    free(path);
}

/* A write that fails half-way (file size limit: EFBIG). */
static int32_t save_big_limited(const fixture *f, lp_error *err) {
    struct rlimit lim = {65536, 65536};
    enum { N = 1 << 18 };
    float *x = calloc(N, sizeof *x);
    lp__ckpt_item it = {"model/big", vec(x, LP_DTYPE_F32, N)};
    int32_t rc;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return -999;
    rc = lp__ckpt_write(f->path, &it, 1, err);
    free(x);
    return rc;
}

static void write_error_midway(void **state) {
    fixture *f = *state;
    char msg[1024], expect[1024];
    int32_t rc;
    lp_error err = {0};
    assert_int_equal(save_a(f->path, 5, &err), LP_OK);
    assert_true(in_child(f, save_big_limited, 0, &rc, msg, sizeof msg));
    assert_int_equal(rc, LP_EIO);
    /* The child's pid is in the name: compare around it. */
    snprintf(expect, sizeof expect, "cannot save checkpoint '%s': writing '%s.tmp.", f->path,
             f->path);
    assert_memory_equal(msg, expect, strlen(expect));
    assert_non_null(strstr(msg, ".0' at byte 65536: File too large; the previous checkpoint (if "
                                "any) is untouched"));
    expect_a(f->path, 5);
    assert_int_equal(st_count_prefix(f->dir, "run.ckpt.tmp."), 0);
}

/* rename(2), failing with `fail_rename` when it is not 0 (linked with
 * --wrap=rename): a target that is a directory is refused before the save
 * starts now (non_regular_targets), so the failure is injected. */
int __real_rename(const char *from, const char *to);
static int fail_rename;
int __wrap_rename(const char *from, const char *to) {
    if (fail_rename != 0) {
        errno = fail_rename;
        return -1;
    }
    return __real_rename(from, to);
}

/* The rename fails: the temporary goes, the previous checkpoint stays. */
static void rename_error(void **state) {
    fixture *f = *state;
    lp_error err = {0};
    assert_int_equal(save_a(f->path, 5, &err), LP_OK);
    fail_rename = EISDIR;
    int32_t rc = save_a(f->path, 6, &err);
    fail_rename = 0;
    assert_int_equal(rc, LP_EIO);
    assert_non_null(strstr(err.message, "': cannot rename '"));
    assert_non_null(strstr(err.message, "' over it: Is a directory; the previous checkpoint"));
    assert_int_equal(st_count_prefix(f->dir, "run.ckpt.tmp."), 0);
    expect_a(f->path, 5);
}

/* A save removes the temporaries of earlier saves of the same checkpoint
 * whose process is dead, and only those: not a live process's (pid 1), not
 * this process's own, not another checkpoint's, not other names. */
static void stale_temporaries_of_dead_saves_removed(void **state) {
    fixture *f = *state;
    lp_error err = {0};
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    const char *keep_fmt[] = {"run.ckpt.tmp.1.0",  "run.ckpt.tmp.%ld.3", "other.ckpt.tmp.%ld.0",
                              "run.ckpt.tmpx.%ld", "run.ckpt.tmp.%ld.",  "run.ckpt.tmp.%ld.0x"};
    const char *gone_fmt[] = {"run.ckpt.tmp.%ld.0", "run.ckpt.tmp.%ld.17"};
    char name[128];
    for (size_t i = 0; i < 6; i++) {
        snprintf(name, sizeof name, keep_fmt[i], i == 1 ? (long)getpid() : (long)dead);
        char *p = st_join(f->dir, name);
        assert_int_equal(st_write_file(p, "x", 1), 0);
        free(p);
    }
    for (size_t i = 0; i < 2; i++) {
        snprintf(name, sizeof name, gone_fmt[i], (long)dead);
        char *p = st_join(f->dir, name);
        assert_int_equal(st_write_file(p, "x", 1), 0);
        free(p);
    }
    assert_int_equal(save_a(f->path, 4, &err), LP_OK);
    expect_a(f->path, 4);
    for (size_t i = 0; i < 6; i++) {
        snprintf(name, sizeof name, keep_fmt[i], i == 1 ? (long)getpid() : (long)dead);
        char *p = st_join(f->dir, name);
        struct stat st;
        if (stat(p, &st) != 0)
            fail_msg("%s was removed", name);
        free(p);
    }
    snprintf(name, sizeof name, "run.ckpt.tmp.%ld.", (long)dead);
    assert_int_equal(st_count_prefix(f->dir, name), 2); /* the two malformed names */
}

/* Writing refuses a target that exists and is not a regular file, and
 * leaves it as it was; reading one (a FIFO too) fails at once. */
static void non_regular_targets(void **state) {
    fixture *f = *state;
    lp_error err = {0};
    char *fifo = st_join(f->dir, "pipe.ckpt"), *dir = st_join(f->dir, "sub.ckpt");
    char *link = st_join(f->dir, "link.ckpt");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(symlink(fifo, link), 0);
    assert_int_equal(save_a(fifo, 1, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "pipe.ckpt': it exists and is a FIFO (named pipe), not a "
                                        "regular file"));
    assert_int_equal(save_a(dir, 1, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "it exists and is a directory, not a regular file"));
    assert_int_equal(save_a(link, 1, &err), LP_EINVAL); /* followed */
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st_count_prefix(f->dir, "pipe.ckpt.tmp."), 0);

    /* No writer on the FIFO: a blocking open would wait forever. */
    lp__ckpt *ck = NULL;
    assert_int_equal(lp__ckpt_open(fifo, &ck, &err), LP_EIO);
    assert_null(ck);
    assert_non_null(strstr(err.message, "pipe.ckpt': not a regular file: it is a FIFO"));
    assert_int_equal(lp__ckpt_open(link, &ck, &err), LP_EIO);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
    free(link);
    free(fifo);
    free(dir);
}

/* A plain successful save leaves exactly one file. */
static void success_leaves_one_file(void **state) {
    fixture *f = *state;
    lp_error err = {0};
    assert_int_equal(save_a(f->path, 7, &err), LP_OK);
    assert_int_equal(save_a(f->path, 8, &err), LP_OK);
    expect_a(f->path, 8);
    assert_int_equal(st_count_prefix(f->dir, ""), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(killed_mid_write, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_temporaries_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(readonly_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(write_error_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_error, setup, teardown),
        cmocka_unit_test_setup_teardown(success_leaves_one_file, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_temporaries_of_dead_saves_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(non_regular_targets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
