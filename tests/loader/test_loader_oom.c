/* Out of memory: make the n-th allocation of liblossplug fail, for every n,
 * while a registry loads a directory holding good and bad plugins. Each run
 * must return LP_ENOMEM with nothing leaked (ASan/valgrind see leaks) and
 * every init undone; the last run, with no failure, must succeed.
 *
 * Built against lossplug_static with --wrap=malloc,calloc,realloc, so only
 * this executable's calls (the library's and the test's) are counted. */
#include <lossplug/host.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long fail_at = -1; /* -1: never; else the allocation index to fail */
static long allocs;

static int should_fail(void) {
    return fail_at >= 0 && allocs++ == fail_at;
}

void *__wrap_malloc(size_t n) {
    return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    return should_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    return should_fail() ? NULL : __real_realloc(p, n);
}

static void copy_fixture(const char *fixture_case, const char *dir) {
    char src[PATH_MAX], dst[PATH_MAX], buf[65536];
    int ns = snprintf(src, sizeof src, "%s/%s/%s.so", LP_FIXTURE_DIR, fixture_case, fixture_case);
    int nd = snprintf(dst, sizeof dst, "%s/%s.so", dir, fixture_case);
    assert_true(ns > 0 && (size_t)ns < sizeof src && nd > 0 && (size_t)nd < sizeof dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    assert_true(out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(fchmod(out, 0755), 0);
    close(in);
    close(out);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void test_every_allocation_failure(void **state) {
    (void)state;
    char dir[PATH_MAX], missing[PATH_MAX + 16];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lossplug-oom-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    const char *cases[] = {"good",       "dup_id",      "bad_param",    "newer_minor",
                           "init_fails", "null_create", "small_struct", "no_entry"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        copy_fixture(cases[i], dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);

    lp_registry_options opt;
    lp_registry_options_init(&opt);
    const char *paths[] = {dir, missing, dir};
    opt.plugin_paths = paths;
    opt.plugin_path_count = 3;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;

    long n = 0;
    for (;; n++) {
        lp_registry *reg = (lp_registry *)1;
        lp_error err;
        allocs = 0;
        fail_at = n;
        int32_t rc = lp_registry_open(&opt, &reg, &err);
        const lp_loss_info *info = NULL;
        if (rc == LP_OK) /* find allocates nothing, even when it fails */
            assert_int_equal(lp_registry_find(reg, "fixture_alpah", &info, &err), LP_ENOENT);
        fail_at = -1;
        if (rc == LP_OK) {
            assert_true(allocs <= n); /* no allocation left to fail */
            assert_int_equal(lp_registry_loss_count(reg), 3);
            lp_registry_close(reg);
            break;
        }
        assert_int_equal(rc, LP_ENOMEM);
        assert_int_equal(err.code, LP_ENOMEM);
        assert_null(reg);
    }
    print_message("failed each of %ld allocations in turn\n", n);
    assert_true(n > 20);

    /* Every failed open undid its inits: after one last open and close, the
     * good fixture is not initialised any more. */
    lp_registry *reg = NULL;
    assert_int_equal(lp_registry_open(&opt, &reg, NULL), LP_OK);
    const lp_loss_info *info = NULL;
    assert_int_equal(lp_registry_find(reg, "fixture_beta", &info, NULL), LP_OK);
    int32_t (*create)(const lp_create_args *, const lp_loss **) = info->desc->create;
    lp_registry_close(reg);
    lp_value value = {.type = LP_PARAM_FLOAT, .f = 1.0};
    lp_create_args args = {.struct_size = sizeof args, .param_count = 1, .params = &value};
    const lp_loss *loss = NULL;
    /* host is NULL: lp_errorf tolerates it; the plugin must refuse. */
    assert_int_equal(create(&args, &loss), LP_ESTATE);
    assert_null(loss);

    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_allocation_failure)};
    return cmocka_run_group_tests_name("loader_oom", tests, NULL, NULL);
}
