/* The loader (liblossplug's registry) against the fixture plugins of
 * tests/fixtures: each bad case refused with its own message while good
 * plugins load alongside, dedup by path, duplicate ids, unknown ids, two
 * registries in one process, path security, LOSSPLUG_PATH and the newer-minor
 * policy. Every test works in its own temporary directory (mode 0755). */
#include <lossplug/host.h>

#include <errno.h>
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

#include <elf.h>

#include <cmocka.h>

/* ---- helpers -------------------------------------------------------------- */

typedef struct fx {
    char dir[PATH_MAX]; /* a fresh 0755 directory, removed afterwards */
} fx;

static void fmt(char *buf, size_t n, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int len = vsnprintf(buf, n, f, ap);
    va_end(ap);
    assert_true(len > 0 && (size_t)len < n);
}

static void mkdir_0755(const char *path) {
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(chmod(path, 0755), 0); /* whatever the umask */
}

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/lossplug-loader-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0755) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state) {
    fx *f = *state;
    int rc = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

/* Copy fixtures/<fixture_case>/<fixture_case>.so to dir/name (mode 0755). */
static void copy_fixture(const char *fixture_case, const char *dir, const char *name) {
    char src[PATH_MAX], dst[PATH_MAX], buf[65536];
    fmt(src, sizeof src, "%s/%s/%s.so", LP_FIXTURE_DIR, fixture_case, fixture_case);
    fmt(dst, sizeof dst, "%s/%s", dir, name);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        fail_msg("cannot open fixture %s: %s (build the lp_fixtures target)", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    assert_true(out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    assert_int_equal(fchmod(out, 0755), 0);
    close(in);
    close(out);
}

static lp_registry *open_paths(const char *const *paths, size_t count, int allow_insecure) {
    lp_registry_options opt;
    lp_registry_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = count;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.allow_insecure = allow_insecure;
    lp_registry *reg = NULL;
    lp_error err;
    int32_t rc = lp_registry_open(&opt, &reg, &err);
    if (rc != LP_OK)
        fail_msg("lp_registry_open: %s", err.message);
    assert_non_null(reg);
    return reg;
}

static lp_registry *open_dir(const char *dir) {
    return open_paths(&dir, 1, 0);
}

static size_t count_diags(const lp_registry *reg, int32_t severity) {
    size_t n = 0;
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++)
        n += lp_registry_diag_at(reg, i)->severity == severity;
    return n;
}

static void print_diags(const lp_registry *reg) {
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++)
        print_message("  diag: %s\n", lp_registry_diag_at(reg, i)->message);
}

/* The diag about `path` whose message contains `needle`; fails otherwise. */
static const lp_diag *expect_diag(const lp_registry *reg, int32_t severity, const char *path,
                                  const char *needle) {
    for (size_t i = 0; i < lp_registry_diag_count(reg); i++) {
        const lp_diag *d = lp_registry_diag_at(reg, i);
        if (d->severity == severity && strcmp(d->path, path) == 0 &&
            strstr(d->message, needle) != NULL) {
            /* Every message is one line and starts with its path. */
            assert_int_equal(strncmp(d->message, path, strlen(path)), 0);
            assert_null(strchr(d->message, '\n'));
            return d;
        }
    }
    print_diags(reg);
    fail_msg("no %s diag for %s containing \"%s\"", severity == LP_DIAG_ERROR ? "error" : "warning",
             path, needle);
    return NULL;
}

static int has_loss(const lp_registry *reg, const char *id) {
    for (size_t i = 0; i < lp_registry_loss_count(reg); i++) {
        if (strcmp(lp_registry_loss_at(reg, i)->desc->id, id) == 0)
            return 1;
    }
    return 0;
}

static void expect_good_losses(const lp_registry *reg) {
    const lp_loss_info *info = NULL;
    lp_error err;
    assert_int_equal(lp_registry_find(reg, "fixture_alpha", &info, &err), LP_OK);
    assert_string_equal(info->desc->id, "fixture_alpha");
    assert_int_equal(lp_registry_find(reg, "fixture_beta", &info, &err), LP_OK);
    assert_string_equal(info->desc->summary, "second loss of the good fixture");
}

/* ---- the good fixture ---------------------------------------------------- */

static void test_good_loads(void **state) {
    fx *f = *state;
    copy_fixture("good", f->dir, "good.so");
    lp_registry *reg = open_dir(f->dir);
    assert_int_equal(lp_registry_diag_count(reg), 0);
    assert_int_equal(lp_registry_loss_count(reg), 2);
    assert_int_equal(lp_registry_root_count(reg), 1);
    assert_string_equal(lp_registry_root_at(reg, 0), f->dir);

    const lp_loss_info *a = lp_registry_loss_at(reg, 0);
    char path[PATH_MAX];
    fmt(path, sizeof path, "%s/good.so", f->dir);
    assert_string_equal(a->path, path);
    assert_int_equal(a->abi_major, LP_ABI_MAJOR);
    assert_int_equal(a->abi_minor, LP_ABI_MINOR);
    const lp_loss_desc *d = a->desc;
    assert_string_equal(d->id, "fixture_alpha");
    assert_string_equal(d->version, "1.2.3");
    assert_int_equal(d->param_count, 6);
    assert_int_equal(d->params[0].struct_size, sizeof(lp_param_spec));
    assert_string_equal(d->params[0].name, "coef");
    assert_true(d->params[0].default_float == 0.5);
    assert_int_equal(d->params[1].default_int, 8);
    assert_int_equal(d->params[2].default_bool, 1);
    assert_string_equal(d->params[3].default_string, "alpha");
    assert_string_equal(d->params[4].choices[2], "none");
    assert_int_equal(d->params[5].flags & LP_PARAM_REQUIRED, LP_PARAM_REQUIRED);
    assert_int_equal(d->field_count, 4);
    assert_int_equal(d->fields[0].shape[0], LP_DIM_OBS);
    assert_int_equal(d->fields[3].rank, 2);
    assert_string_equal(d->outputs[1], "values");
    assert_string_equal(lp_registry_loss_at(reg, 1)->desc->id, "fixture_beta");
    assert_null(lp_registry_loss_at(reg, 2));
    expect_good_losses(reg);
    lp_registry_close(reg);
}

/* ---- bad fixtures, each next to the good one ------------------------------- */

/* Copy `fixture_case` next to the good fixture, open, and check that the
 * good losses loaded, that error diags about the bad file contain each of the
 * reasons, and that there are no other diags. Returns the registry for extra
 * checks. */
static lp_registry *bad_case(fx *f, const char *fixture_case, size_t n,
                             const char *const *reasons) {
    char name[128], path[PATH_MAX];
    fmt(name, sizeof name, "%s.so", fixture_case);
    fmt(path, sizeof path, "%s/%s", f->dir, name);
    copy_fixture("good", f->dir, "good.so");
    copy_fixture(fixture_case, f->dir, name);
    lp_registry *reg = open_dir(f->dir);
    expect_good_losses(reg);
    /* Several reasons may be parts of one diag: count the distinct ones. */
    const lp_diag *seen[16];
    size_t distinct = 0;
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        const lp_diag *d = expect_diag(reg, LP_DIAG_ERROR, path, reasons[i]);
        size_t k = 0;
        while (k < distinct && seen[k] != d)
            k++;
        if (k == distinct)
            seen[distinct++] = d;
    }
    if (count_diags(reg, LP_DIAG_ERROR) != distinct || count_diags(reg, LP_DIAG_WARNING) != 0) {
        print_diags(reg);
        fail_msg("expected exactly %zu error diags", distinct);
    }
    return reg;
}

#define BAD_CASE(f, fixture_case, ...)                                                             \
    bad_case((f), (fixture_case), sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),    \
             (const char *[]){__VA_ARGS__})

static void test_no_entry(void **state) {
    lp_registry *reg = BAD_CASE(*state, "no_entry",
                                "no_entry.so: no 'lossplug_entry' symbol: not a lossplug plugin (a "
                                "plugin defines and exports it with LP_PLUGIN_ENTRY)");
    assert_int_equal(lp_registry_loss_count(reg), 2);
    assert_int_equal(lp_registry_diag_at(reg, 0)->code, LP_EPLUGIN);
    lp_registry_close(reg);
}

static void test_bad_major(void **state) {
    lp_registry *reg = BAD_CASE(*state, "bad_major",
                                "bad_major.so: built for plugin ABI 2.0, but this host speaks ABI "
                                "1.1 and the major versions must match: rebuild the plugin "
                                "against the lossplug 1.x SDK");
    assert_int_equal(lp_registry_diag_at(reg, 0)->code, LP_EABI);
    assert_int_equal(lp_registry_loss_count(reg), 2);
    lp_registry_close(reg);
}

static void test_small_entry(void **state) {
    char reason[256];
    fmt(reason, sizeof reason,
        "small_entry.so: lp_entry.struct_size is %zu, smaller than the ABI 1.0 size %zu: rebuild "
        "the plugin against the lossplug SDK",
        offsetof(lp_entry, init), sizeof(lp_entry));
    lp_registry *reg = BAD_CASE(*state, "small_entry", reason);
    assert_int_equal(lp_registry_loss_count(reg), 2);
    lp_registry_close(reg);
}

static void test_small_struct(void **state) {
    char desc[256];
    fmt(desc, sizeof desc,
        "loss #0 'fixture_small_desc' refused: lp_loss_desc.struct_size is %zu, smaller than the "
        "ABI 1.0 size %zu",
        offsetof(lp_loss_desc, create), sizeof(lp_loss_desc));
    lp_registry *reg = BAD_CASE(
        *state, "small_struct", desc,
        "loss #1 'fixture_small_param' refused: lp_param_spec[0].struct_size is 16, smaller than "
        "the ABI 1.0 size",
        "loss #2 'fixture_small_field' refused: lp_field_spec[0].struct_size is 24, smaller than "
        "the ABI 1.0 size");
    /* A bad descriptor refuses that loss only. */
    assert_true(has_loss(reg, "fixture_small_ok"));
    assert_int_equal(lp_registry_loss_count(reg), 3);
    lp_registry_close(reg);
}

static void test_missing_field(void **state) {
    lp_registry *reg =
        BAD_CASE(*state, "missing_field",
                 "loss #1 refused: descriptor field 'id' is NULL: set it in the lp_loss_desc",
                 "loss #2 'fixture_mf_no_version' refused: descriptor field 'version' is NULL",
                 "loss #3 'fixture_mf_no_summary' refused: descriptor field 'summary' is NULL",
                 "loss #4 'fixture_mf_no_params' refused: descriptor field 'params' is NULL while "
                 "param_count is 2: set it (LP_DESC_PARAMS does)");
    assert_true(has_loss(reg, "fixture_mf_ok"));
    assert_int_equal(lp_registry_loss_count(reg), 3);
    lp_registry_close(reg);
}

static void test_bad_id(void **state) {
    lp_registry *reg = BAD_CASE(
        *state, "bad_id",
        "loss #0 refused: id 'Bad-Id' is invalid: ids match [a-z][a-z0-9_]* and have at most 63 "
        "characters",
        "loss #1 refused: id 'fixture_abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd' "
        "is invalid");
    assert_int_equal(lp_registry_loss_count(reg), 2);
    lp_registry_close(reg);
}

static void test_bad_param(void **state) {
    lp_registry *reg = BAD_CASE(
        *state, "bad_param",
        "loss #0 'fixture_bp_name' refused: parameter #0: name 'Coef' is invalid",
        "loss #1 'fixture_bp_type' refused: parameter 'coef': unknown type 9",
        "loss #2 'fixture_bp_range' refused: parameter 'coef' (float): default 5 is outside its "
        "range [0, 1]",
        "loss #3 'fixture_bp_enum_default' refused: parameter 'reduction' (enum): enum default "
        "'huber' is not one of its choices",
        "loss #4 'fixture_bp_enum_empty' refused: parameter 'reduction' (enum): enum has no "
        "choices");
    assert_int_equal(lp_registry_loss_count(reg), 2);
    lp_registry_close(reg);
}

static void test_bad_field(void **state) {
    lp_registry *reg = BAD_CASE(
        *state, "bad_field", "loss #0 'fixture_bf_name' refused: field #0: name 'Obs' is invalid",
        "loss #1 'fixture_bf_dtype' refused: field 'obs': unknown dtype 42",
        "loss #2 'fixture_bf_rank' refused: field 'obs': rank 9 is outside 0..8",
        "loss #3 'fixture_bf_dim0' refused: field 'obs': dimension 1 is 0",
        "loss #4 'fixture_bf_negdim' refused: field 'obs': dimension 0 is -7, not a size > 0 nor "
        "LP_DIM_OBS",
        "loss #5 'fixture_bf_phase' refused: field 'obs': phase 0x12 has flags other than "
        "LP_PHASE_ROLLOUT and LP_PHASE_TRAIN");
    lp_registry_close(reg);
}

static void test_null_create(void **state) {
    lp_registry *reg =
        BAD_CASE(*state, "null_create",
                 "null_create.so: loss #0 'fixture_null_create' refused: create is NULL: every "
                 "loss needs a create function");
    lp_registry_close(reg);
}

static void test_init_fails(void **state) {
    lp_registry *reg =
        BAD_CASE(*state, "init_fails",
                 "init_fails.so: init failed with LP_EIO (-4): cannot open the fixture's table "
                 "/nonexistent/table.bin");
    assert_int_equal(lp_registry_loss_count(reg), 2);
    lp_registry_close(reg);
}

static void test_undefined_symbol(void **state) {
    lp_registry *reg = BAD_CASE(*state, "undefined_symbol",
                                "undefined_symbol.so: cannot be loaded: undefined symbol: "
                                "lp_fixture_function_that_exists_nowhere: check",
                                "undefined symbol: lp_fixture_function_that_exists_nowhere",
                                "(link plugins with -Wl,-z,defs)");
    lp_registry_close(reg);
}

static void test_not_elf(void **state) {
    /* The reason itself is dlopen's ("invalid ELF header", "file too
     * short", ...): check ours around it. */
    lp_registry *reg = BAD_CASE(*state, "not_elf", "not_elf.so: cannot be loaded: ",
                                ": check that it is a shared object built for this machine");
    lp_registry_close(reg);
}

static void test_null_desc(void **state) {
    lp_registry *reg = BAD_CASE(
        *state, "null_desc", "null_desc.so: loss_get(1) returned NULL although loss_count() is 2");
    assert_true(has_loss(reg, "fixture_null_desc_ok"));
    lp_registry_close(reg);
}

/* ---- newer minor ---------------------------------------------------------- */

static void test_newer_minor(void **state) {
    fx *f = *state;
    char path[PATH_MAX], reason[256];
    copy_fixture("newer_minor", f->dir, "newer_minor.so");
    copy_fixture("good", f->dir, "good.so");
    fmt(path, sizeof path, "%s/newer_minor.so", f->dir);
    lp_registry *reg = open_dir(f->dir);
    fmt(reason, sizeof reason,
        "built for plugin ABI %d.%d, newer than this host's ABI %d.%d: loaded, but only what ABI "
        "%d.%d defines is used",
        LP_ABI_MAJOR, LP_ABI_MINOR + 3, LP_ABI_MAJOR, LP_ABI_MINOR, LP_ABI_MAJOR, LP_ABI_MINOR);
    expect_diag(reg, LP_DIAG_WARNING, path, reason);
    assert_int_equal(count_diags(reg, LP_DIAG_ERROR), 0);
    assert_int_equal(count_diags(reg, LP_DIAG_WARNING), 1);
    expect_good_losses(reg);

    const lp_loss_info *info = NULL;
    assert_int_equal(lp_registry_find(reg, "fixture_newer", &info, NULL), LP_OK);
    assert_int_equal(info->abi_minor, LP_ABI_MINOR + 3);
    /* Read through the host's copies, with the host's stride. */
    const lp_loss_desc *d = info->desc;
    assert_int_equal(d->struct_size, sizeof(lp_loss_desc));
    assert_int_equal(d->param_count, 3);
    assert_true(d->params[0].default_float == 0.25);
    assert_int_equal(d->params[1].struct_size, sizeof(lp_param_spec));
    assert_int_equal(d->params[1].default_int, 7);
    assert_string_equal(d->params[2].name, "mode");
    assert_string_equal(d->params[2].default_string, "slow");
    assert_string_equal(d->fields[1].name, "counts");
    assert_int_equal(d->fields[1].shape[0], 5);
    assert_non_null(d->create);
    lp_registry_close(reg);
}

/* ---- dedup by path ----------------------------------------------------------- */

static void expect_loaded_once(const lp_registry *reg) {
    if (lp_registry_diag_count(reg) != 0) {
        print_diags(reg);
        fail_msg("expected no diags");
    }
    assert_int_equal(lp_registry_loss_count(reg), 2);
    expect_good_losses(reg);
}

static void test_dedup_same_dir_twice(void **state) {
    fx *f = *state;
    char dot[PATH_MAX], slash[PATH_MAX];
    copy_fixture("good", f->dir, "good.so");
    fmt(dot, sizeof dot, "%s/./", f->dir);
    fmt(slash, sizeof slash, "%s//", f->dir);
    const char *paths[] = {f->dir, f->dir, dot, slash};
    lp_registry *reg = open_paths(paths, 4, 0);
    expect_loaded_once(reg);
    assert_int_equal(lp_registry_root_count(reg), 1);
    lp_registry_close(reg);
}

static void test_dedup_symlinked_file(void **state) {
    fx *f = *state;
    char a[PATH_MAX], b[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
    fmt(a, sizeof a, "%s/a", f->dir);
    fmt(b, sizeof b, "%s/b", f->dir);
    mkdir_0755(a);
    mkdir_0755(b);
    copy_fixture("good", a, "good.so");
    /* Same directory: good.so and zlink.so -> good.so. */
    fmt(link, sizeof link, "%s/zlink.so", a);
    assert_int_equal(symlink("good.so", link), 0);
    /* Another directory: b/other.so -> ../a/good.so. */
    fmt(link, sizeof link, "%s/other.so", b);
    fmt(target, sizeof target, "%s/good.so", a);
    assert_int_equal(symlink(target, link), 0);
    const char *paths[] = {a, b};
    lp_registry *reg = open_paths(paths, 2, 0);
    expect_loaded_once(reg);
    assert_int_equal(lp_registry_root_count(reg), 2);
    /* The first path that reached it names it. */
    fmt(target, sizeof target, "%s/good.so", a);
    assert_string_equal(lp_registry_loss_at(reg, 0)->path, target);
    lp_registry_close(reg);
}

static void test_dedup_symlinked_dir(void **state) {
    fx *f = *state;
    char real[PATH_MAX], link[PATH_MAX];
    fmt(real, sizeof real, "%s/real", f->dir);
    fmt(link, sizeof link, "%s/link", f->dir);
    mkdir_0755(real);
    copy_fixture("good", real, "good.so");
    assert_int_equal(symlink(real, link), 0);
    const char *paths[] = {link, real};
    lp_registry *reg = open_paths(paths, 2, 0);
    expect_loaded_once(reg);
    assert_int_equal(lp_registry_root_count(reg), 1);
    assert_string_equal(lp_registry_root_at(reg, 0), link);
    lp_registry_close(reg);
}

/* ---- duplicate ids ------------------------------------------------------------- */

static void test_duplicate_id(void **state) {
    fx *f = *state;
    char good[PATH_MAX], dup[PATH_MAX], msg[1024];
    copy_fixture("good", f->dir, "good.so");
    copy_fixture("dup_id", f->dir, "dup_id.so");
    fmt(good, sizeof good, "%s/good.so", f->dir);
    fmt(dup, sizeof dup, "%s/dup_id.so", f->dir);
    lp_registry *reg = open_dir(f->dir);
    /* dup_id.so sorts first, so good.so is the second provider. */
    fmt(msg, sizeof msg,
        "%s: loss id 'fixture_alpha' is also provided by %s; neither is loaded: remove one of the "
        "two files from the search path or rename one loss",
        good, dup);
    const lp_diag *d = expect_diag(reg, LP_DIAG_ERROR, good, msg);
    assert_string_equal(d->message, msg);
    assert_int_equal(count_diags(reg, LP_DIAG_ERROR), 1);
    assert_false(has_loss(reg, "fixture_alpha"));
    assert_true(has_loss(reg, "fixture_beta"));
    assert_int_equal(lp_registry_loss_count(reg), 1);

    const lp_loss_info *info = (const lp_loss_info *)1;
    lp_error err;
    assert_int_equal(lp_registry_find(reg, "fixture_alpha", &info, &err), LP_EPLUGIN);
    assert_null(info);
    assert_int_equal(err.code, LP_EPLUGIN);
    fmt(msg, sizeof msg, "loss id 'fixture_alpha' is provided by %s and %s; neither is loaded", dup,
        good);
    if (strstr(err.message, msg) == NULL)
        fail_msg("unexpected message: %s", err.message);
    lp_registry_close(reg);
}

/* Every loss found conflicts: looking one up says so instead of "no plugin
 * provides any loss". */
static void test_all_ids_conflict(void **state) {
    fx *f = *state;
    copy_fixture("dup_id", f->dir, "a.so");
    copy_fixture("dup_id", f->dir, "b.so"); /* another file (inode), the same id */
    lp_registry *reg = open_dir(f->dir);
    assert_int_equal(lp_registry_loss_count(reg), 0);
    const lp_loss_info *info = NULL;
    lp_error err;
    assert_int_equal(lp_registry_find(reg, "fixture_beta", &info, &err), LP_ENOENT);
    assert_null(info);
    assert_string_equal(err.message,
                        "no loss with id 'fixture_beta': every loss found is refused because "
                        "another file provides the same id; see the registry's diagnostics "
                        "(lossplug list) and remove the duplicates");
    lp_registry_close(reg);
}

/* ---- unknown ids ----------------------------------------------------------------- */

static void test_unknown_id(void **state) {
    fx *f = *state;
    copy_fixture("good", f->dir, "good.so");
    lp_registry *reg = open_dir(f->dir);
    const lp_loss_info *info = NULL;
    lp_error err;
    assert_int_equal(lp_registry_find(reg, "fixture_alpah", &info, &err), LP_ENOENT);
    assert_null(info);
    assert_string_equal(err.message, "no loss with id 'fixture_alpah'; did you mean "
                                     "'fixture_alpha'? Known ids: fixture_alpha, fixture_beta");
    /* Nothing close: no suggestion, still the list. */
    assert_int_equal(lp_registry_find(reg, "ppo", &info, &err), LP_ENOENT);
    assert_string_equal(err.message,
                        "no loss with id 'ppo'. Known ids: fixture_alpha, fixture_beta");
    lp_registry_close(reg);

    /* An empty registry says where to look. */
    reg = open_paths(NULL, 0, 0);
    assert_int_equal(lp_registry_find(reg, "ppo", &info, &err), LP_ENOENT);
    assert_non_null(strstr(err.message, "no plugin provides any loss"));
    lp_registry_close(reg);
}

/* ---- two registries in one process ------------------------------------------------ */

typedef struct test_host {
    lp_host host;
    char error[512];
} test_host;

static void th_log(const lp_host *h, int32_t level, const char *msg) {
    (void)h;
    (void)level;
    (void)msg;
}
static void th_error(const lp_host *h, const char *msg) {
    test_host *t = h->host_data;
    snprintf(t->error, sizeof t->error, "%s", msg);
}
static int32_t th_stat_handle(const lp_host *h, const char *key) {
    (void)h;
    (void)key;
    return 0;
}
static void th_stat_record(const lp_host *h, int32_t handle, double v) {
    (void)h;
    (void)handle;
    (void)v;
}
static int32_t th_state_register(const lp_host *h, const char *name, const lp_tensor *t) {
    (void)h;
    (void)name;
    (void)t;
    return LP_OK;
}
static int32_t th_handle(const lp_host *h, const char *name) {
    (void)h;
    (void)name;
    return -1;
}
static const void *th_ext(const lp_host *h, const char *id) {
    (void)h;
    (void)id;
    return NULL;
}

/* Create (and destroy) an instance of `desc` with its defaults and a
 * minimal hand-made host. Returns create's status; `th` keeps its error. */
static int32_t create_instance(const lp_loss_desc *desc,
                               int32_t (*create)(const lp_create_args *, const lp_loss **),
                               test_host *th) {
    lp_value values[16];
    lp_env_info env;
    memset(values, 0, sizeof values);
    memset(&env, 0, sizeof env);
    memset(th, 0, sizeof *th);
    env.struct_size = sizeof env;
    th->host = (lp_host){.struct_size = sizeof(lp_host),
                         .abi_major = LP_ABI_MAJOR,
                         .abi_minor = LP_ABI_MINOR,
                         .host_data = th,
                         .name = "test",
                         .version = "0",
                         .log = th_log,
                         .error = th_error,
                         .stat_handle = th_stat_handle,
                         .stat_record = th_stat_record,
                         .state_register = th_state_register,
                         .field_handle = th_handle,
                         .output_handle = th_handle,
                         .get_extension = th_ext};
    uint32_t n = desc != NULL ? desc->param_count : 1;
    assert_true(n <= 16);
    for (uint32_t i = 0; desc != NULL && i < n; i++) {
        const lp_param_spec *p = &desc->params[i];
        values[i] = (lp_value){.type = p->type,
                               .b = p->default_bool,
                               .i = p->default_int,
                               .f = p->default_float,
                               .s = p->default_string != NULL ? p->default_string : "x"};
    }
    if (desc == NULL) /* fixture_alpha's coef, when the descriptor is gone */
        values[0] = (lp_value){.type = LP_PARAM_FLOAT, .f = 0.5};
    lp_create_args args = {.struct_size = sizeof args,
                           .param_count = n,
                           .host = &th->host,
                           .name = "alpha",
                           .params = values,
                           .env = &env};
    const lp_loss *loss = NULL;
    int32_t rc = create(&args, &loss);
    if (rc == LP_OK) {
        assert_non_null(loss);
        assert_non_null(loss->destroy);
        loss->destroy(loss);
    }
    return rc;
}

static void log_collect(void *user, int32_t level, const char *msg) {
    char *buf = user;
    if (level == LP_LOG_INFO && strstr(msg, "good fixture: init by lossplug") != NULL)
        snprintf(buf, 512, "%s", msg);
}

static void test_two_registries(void **state) {
    fx *f = *state;
    copy_fixture("good", f->dir, "good.so");
    char log_a[512] = "", good[PATH_MAX];
    fmt(good, sizeof good, "%s/good.so", f->dir);

    lp_registry_options opt;
    lp_registry_options_init(&opt);
    const char *paths[] = {f->dir};
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.log = log_collect;
    opt.log_user = log_a;
    lp_registry *a = NULL, *b = NULL;
    assert_int_equal(lp_registry_open(&opt, &a, NULL), LP_OK);
    /* The init table's log reaches the options' callback, prefixed with the
     * file. */
    assert_int_equal(strncmp(log_a, good, strlen(good)), 0);
    assert_non_null(strstr(log_a, lp_version_string()));
    b = open_dir(f->dir);

    const lp_loss_info *ia = NULL, *ib = NULL;
    assert_int_equal(lp_registry_find(a, "fixture_alpha", &ia, NULL), LP_OK);
    assert_int_equal(lp_registry_find(b, "fixture_alpha", &ib, NULL), LP_OK);
    assert_ptr_not_equal(ia, ib); /* nothing shared */
    assert_ptr_equal(ia->desc->create, ib->desc->create);

    test_host th;
    assert_int_equal(create_instance(ia->desc, ia->desc->create, &th), LP_OK);
    lp_registry_close(a);
    /* B still holds its own init of the file. */
    assert_int_equal(create_instance(ib->desc, ib->desc->create, &th), LP_OK);
    int32_t (*create)(const lp_create_args *, const lp_loss **) = ib->desc->create;
    lp_registry_close(b);
    /* Both registries deinit'ed the file (once each): the code is still
     * mapped (never dlclosed), and the plugin knows it is not initialised. */
    assert_int_equal(create_instance(NULL, create, &th), LP_ESTATE);
    assert_string_equal(th.error,
                        "good fixture: create called while the plugin is not initialised");
}

/* ---- path security ------------------------------------------------------------------ */

static void expect_refused_then_allowed(fx *f, const char *path, const char *reason) {
    lp_registry *reg = open_dir(f->dir);
    const lp_diag *d = expect_diag(reg, LP_DIAG_ERROR, path, reason);
    assert_int_equal(d->code, LP_ESECURITY);
    assert_non_null(strstr(d->message, "or allow insecure plugins (--allow-insecure-plugins, "
                                       "lp_registry_options.allow_insecure)"));
    assert_int_equal(lp_registry_loss_count(reg), 0);
    assert_int_equal(lp_registry_diag_count(reg), 1);
    lp_registry_close(reg);

    const char *paths[] = {f->dir};
    reg = open_paths(paths, 1, 1);
    assert_int_equal(lp_registry_diag_count(reg), 0);
    expect_good_losses(reg);
    lp_registry_close(reg);
}

static void test_security_group_writable_dir(void **state) {
    fx *f = *state;
    char path[PATH_MAX], reason[PATH_MAX + 256];
    copy_fixture("good", f->dir, "good.so");
    assert_int_equal(chmod(f->dir, 0775), 0);
    fmt(path, sizeof path, "%s/good.so", f->dir);
    fmt(reason, sizeof reason,
        "refused: the directory %s is writable by group (mode 0775): run 'chmod go-w %s'", f->dir,
        f->dir);
    expect_refused_then_allowed(f, path, reason);
    assert_int_equal(chmod(f->dir, 0755), 0);
}

static void test_security_other_writable_file(void **state) {
    fx *f = *state;
    char path[PATH_MAX], reason[PATH_MAX + 256];
    copy_fixture("good", f->dir, "good.so");
    fmt(path, sizeof path, "%s/good.so", f->dir);
    assert_int_equal(chmod(path, 0757), 0);
    fmt(reason, sizeof reason,
        "refused: the file %s is writable by others (mode 0757): run 'chmod go-w %s'", path, path);
    expect_refused_then_allowed(f, path, reason);
}

static void test_security_symlink_into_insecure_dir(void **state) {
    fx *f = *state;
    char safe[PATH_MAX], open_dir_[PATH_MAX], link[PATH_MAX], target[PATH_MAX],
        reason[PATH_MAX + 256];
    fmt(safe, sizeof safe, "%s/safe", f->dir);
    fmt(open_dir_, sizeof open_dir_, "%s/open", f->dir);
    mkdir_0755(safe);
    mkdir_0755(open_dir_);
    copy_fixture("good", open_dir_, "good.so");
    assert_int_equal(chmod(open_dir_, 0777), 0);
    fmt(link, sizeof link, "%s/good.so", safe);
    fmt(target, sizeof target, "%s/good.so", open_dir_);
    assert_int_equal(symlink(target, link), 0);
    lp_registry *reg = open_dir(safe);
    fmt(reason, sizeof reason,
        "refused: the directory %s is writable by group and others (mode 0777)", open_dir_);
    expect_diag(reg, LP_DIAG_ERROR, link, reason);
    assert_int_equal(lp_registry_loss_count(reg), 0);
    lp_registry_close(reg);
    assert_int_equal(chmod(open_dir_, 0755), 0);
}

static void test_security_foreign_owner(void **state) {
    fx *f = *state;
    if (geteuid() != 0) {
        skip(); /* only root can give a file away */
        return;
    }
    char path[PATH_MAX], reason[PATH_MAX + 256];
    copy_fixture("good", f->dir, "good.so");
    fmt(path, sizeof path, "%s/good.so", f->dir);
    assert_int_equal(chown(path, 65534, 65534), 0);
    fmt(reason, sizeof reason,
        "refused: the file %s is owned by uid 65534, not by root or the current user (uid 0): "
        "run 'chown 0 %s'",
        path, path);
    expect_refused_then_allowed(f, path, reason);

    /* The directory too. */
    assert_int_equal(chown(path, 0, 0), 0);
    assert_int_equal(chown(f->dir, 65534, 65534), 0);
    fmt(reason, sizeof reason, "refused: the directory %s is owned by uid 65534", f->dir);
    expect_refused_then_allowed(f, path, reason);
    assert_int_equal(chown(f->dir, 0, 0), 0);
}

/* ---- search roots ------------------------------------------------------------------- */

static void test_env_path(void **state) {
    fx *f = *state;
    char env_dir[PATH_MAX], opt_dir[PATH_MAX], missing[PATH_MAX], value[3 * PATH_MAX];
    fmt(env_dir, sizeof env_dir, "%s/env", f->dir);
    fmt(opt_dir, sizeof opt_dir, "%s/opt", f->dir);
    fmt(missing, sizeof missing, "%s/missing", f->dir);
    mkdir_0755(env_dir);
    mkdir_0755(opt_dir);
    copy_fixture("good", env_dir, "good.so");
    copy_fixture("null_desc", opt_dir, "null_desc.so");
    /* Empty entries are skipped, not read as the current directory. */
    fmt(value, sizeof value, "%s::%s:", missing, env_dir);
    assert_int_equal(setenv("LOSSPLUG_PATH", value, 1), 0);

    lp_registry_options opt;
    lp_registry_options_init(&opt);
    assert_int_equal(opt.use_env_path, 1);
    assert_int_equal(opt.use_install_dir, 1);
    const char *paths[] = {opt_dir};
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_install_dir = 0;
    lp_registry *reg = NULL;
    assert_int_equal(lp_registry_open(&opt, &reg, NULL), LP_OK);
    expect_good_losses(reg);
    /* Options' paths first, then LOSSPLUG_PATH. */
    assert_int_equal(lp_registry_root_count(reg), 2);
    assert_string_equal(lp_registry_root_at(reg, 0), opt_dir);
    assert_string_equal(lp_registry_root_at(reg, 1), env_dir);
    assert_string_equal(lp_registry_loss_at(reg, 0)->desc->id, "fixture_null_desc_ok");
    assert_string_equal(lp_registry_loss_at(reg, 1)->desc->id, "fixture_alpha");
    expect_diag(reg, LP_DIAG_WARNING, missing,
                "plugin directory from LOSSPLUG_PATH cannot be searched: No such file or "
                "directory: create it or fix the path");
    lp_registry_close(reg);

    /* use_env_path = 0 ignores it. */
    opt.use_env_path = 0;
    assert_int_equal(lp_registry_open(&opt, &reg, NULL), LP_OK);
    assert_int_equal(lp_registry_root_count(reg), 1);
    assert_false(has_loss(reg, "fixture_alpha"));
    lp_registry_close(reg);
    unsetenv("LOSSPLUG_PATH");
}

static void test_missing_roots(void **state) {
    fx *f = *state;
    char missing[PATH_MAX], file[PATH_MAX];
    fmt(missing, sizeof missing, "%s/nope", f->dir);
    fmt(file, sizeof file, "%s/plain", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    const char *paths[] = {missing, file};
    lp_registry *reg = open_paths(paths, 2, 0);
    expect_diag(reg, LP_DIAG_WARNING, missing,
                "plugin directory from the plugin paths (--plugin-path) cannot be searched: No "
                "such file or directory");
    expect_diag(reg, LP_DIAG_WARNING, file, "cannot be searched: not a directory");
    assert_int_equal(lp_registry_root_count(reg), 0);
    lp_registry_close(reg);

    /* The install dir is silent when absent. Run from this build tree, the
     * library's own root is the build's plugin directory instead
     * (docs/loader.md). */
    struct stat st;
    if (stat(lp_install_plugin_dir(), &st) != 0) {
        lp_registry_options opt;
        lp_registry_options_init(&opt);
        opt.use_env_path = 0;
        assert_int_equal(lp_registry_open(&opt, &reg, NULL), LP_OK);
        assert_int_equal(lp_registry_diag_count(reg), 0);
        char want[PATH_MAX], got[PATH_MAX];
        if (realpath(LP_BUILD_PLUGIN_DIR, want) != NULL) {
            assert_int_equal(lp_registry_root_count(reg), 1);
            assert_non_null(realpath(lp_registry_root_at(reg, 0), got));
            assert_string_equal(got, want);
        } else {
            assert_int_equal(lp_registry_root_count(reg), 0);
        }
        lp_registry_close(reg);
    }
}

static void test_non_plugin_entries(void **state) {
    fx *f = *state;
    char path[PATH_MAX];
    copy_fixture("good", f->dir, "good.so");
    copy_fixture("good", f->dir, "good.so.1"); /* not *.so: ignored */
    fmt(path, sizeof path, "%s/sub.so", f->dir);
    mkdir_0755(path); /* a directory named *.so: skipped with a warning */
    fmt(path, sizeof path, "%s/sub", f->dir);
    mkdir_0755(path);
    copy_fixture("dup_id", path, "dup_id.so"); /* not recursive: unseen */
    lp_registry *reg = open_dir(f->dir);
    fmt(path, sizeof path, "%s/sub.so", f->dir);
    expect_diag(reg, LP_DIAG_WARNING, path, "not a regular file: skipped");
    assert_int_equal(lp_registry_diag_count(reg), 1);
    assert_int_equal(lp_registry_loss_count(reg), 2);
    expect_good_losses(reg);
    lp_registry_close(reg);
}

/* ---- hostile files: refused before dlopen ----------------------------------- */

static void test_huge_stride(void **state) {
    lp_registry *reg = BAD_CASE(
        *state, "huge_stride",
        "loss #0 'fixture_stride_param_2g' refused: lp_param_spec[0].struct_size is 2147483648, "
        "larger than any layout (at most 4096)",
        "loss #1 'fixture_stride_param_64k' refused: lp_param_spec[0].struct_size is 65536, larger "
        "than any layout",
        "loss #2 'fixture_stride_field_2g' refused: lp_field_spec[0].struct_size is 2147483648");
    assert_true(has_loss(reg, "fixture_stride_ok"));
    lp_registry_close(reg);
}

/* Overwrite `len` bytes at `off` of dir/name. */
static void patch_file(const char *dir, const char *name, long off, const void *bytes, size_t len) {
    char path[PATH_MAX];
    fmt(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
    close(fd);
}

static void test_foreign_elf(void **state) {
    fx *f = *state;
    char path[PATH_MAX];
    const uint16_t aarch64 = EM_AARCH64, x86_64 = EM_X86_64;
    const unsigned char class32 = ELFCLASS32, msb = ELFDATA2MSB;
    const uint16_t exec = ET_EXEC;
    copy_fixture("good", f->dir, "arm.so");
    patch_file(f->dir, "arm.so", offsetof(Elf64_Ehdr, e_machine),
#if defined(__aarch64__)
               &x86_64, sizeof x86_64
#else
               &aarch64, sizeof aarch64
#endif
    );
    copy_fixture("good", f->dir, "c32.so");
    patch_file(f->dir, "c32.so", EI_CLASS, &class32, 1);
    copy_fixture("good", f->dir, "msb.so");
    patch_file(f->dir, "msb.so", EI_DATA, &msb, 1);
    copy_fixture("good", f->dir, "exec.so");
    patch_file(f->dir, "exec.so", offsetof(Elf64_Ehdr, e_type), &exec, sizeof exec);
    lp_registry *reg = open_dir(f->dir);
    fmt(path, sizeof path, "%s/arm.so", f->dir);
#if defined(__x86_64__)
    expect_diag(reg, LP_DIAG_ERROR, path,
                "arm.so: cannot be loaded: built for AArch64, this host is x86-64: check");
#elif defined(__aarch64__)
    expect_diag(reg, LP_DIAG_ERROR, path, "built for x86-64, this host is AArch64");
#else
    expect_diag(reg, LP_DIAG_ERROR, path, "built for AArch64, this host is ");
#endif
    (void)aarch64;
    (void)x86_64;
    fmt(path, sizeof path, "%s/c32.so", f->dir);
    expect_diag(reg, LP_DIAG_ERROR, path, "built as a 32-bit ELF file, this host is 64-bit");
    fmt(path, sizeof path, "%s/msb.so", f->dir);
    expect_diag(reg, LP_DIAG_ERROR, path, "built big-endian, this host is little-endian");
    fmt(path, sizeof path, "%s/exec.so", f->dir);
    expect_diag(reg, LP_DIAG_ERROR, path, "not a shared object (ELF type 2, an executable)");
    assert_int_equal(lp_registry_diag_count(reg), 4);
    assert_int_equal(lp_registry_loss_count(reg), 0);
    lp_registry_close(reg);
}

/* A half-copied install: every cut of a built-in plugin at a 1 KiB step is
 * refused with a message (before this check, glibc's dlopen died of SIGBUS
 * on most of them). The whole file still loads. */
static void test_truncated_plugin(void **state) {
    fx *f = *state;
    char src[PATH_MAX], path[PATH_MAX];
    fmt(src, sizeof src, "%s/value.so", LP_PLUGIN_DIR);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    struct stat st;
    assert_int_equal(fstat(in, &st), 0);
    size_t size = (size_t)st.st_size;
    unsigned char *bytes = malloc(size);
    assert_non_null(bytes);
    assert_int_equal(read(in, bytes, size), (ssize_t)size);
    close(in);
    fmt(path, sizeof path, "%s/value.so", f->dir);
    size_t cuts = 0;
    for (size_t cut = 1024; cut <= size; cut += 1024) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        assert_true(fd >= 0);
        size_t len = cut < size ? cut : size;
        assert_int_equal(write(fd, bytes, len), (ssize_t)len);
        close(fd);
        lp_registry *reg = open_dir(f->dir);
        if (len == size) {
            assert_int_equal(lp_registry_diag_count(reg), 0);
            assert_true(lp_registry_loss_count(reg) > 0);
        } else {
            expect_diag(reg, LP_DIAG_ERROR, path,
                        ": cannot be loaded: the file is cut short: it has");
            assert_int_equal(lp_registry_diag_count(reg), 1);
            assert_int_equal(lp_registry_loss_count(reg), 0);
            cuts++;
        }
        lp_registry_close(reg);
    }
    free(bytes);
    print_message("%zu truncated copies of %s (%zu bytes) refused\n", cuts, src, size);
    assert_true(cuts >= 8);
}

static void test_fifo_named_so(void **state) {
    fx *f = *state;
    char path[PATH_MAX];
    copy_fixture("good", f->dir, "good.so");
    fmt(path, sizeof path, "%s/pipe.so", f->dir);
    assert_int_equal(mkfifo(path, 0644), 0);
    lp_registry *reg = open_dir(f->dir); /* must not block */
    expect_diag(reg, LP_DIAG_WARNING, path,
                "pipe.so: a FIFO (named pipe), not a regular file: skipped");
    assert_int_equal(lp_registry_diag_count(reg), 1);
    expect_good_losses(reg);
    lp_registry_close(reg);
}

/* ---- out-of-process scan, through the registry API ----------------------- */

static void test_scan_bad_plugins(void **state) {
    fx *f = *state;
    char cache[PATH_MAX], path[PATH_MAX];
    fmt(cache, sizeof cache, "%s/cache", f->dir);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    fmt(path, sizeof path, "%s/plugins", f->dir);
    mkdir_0755(path);
    const char *cases[] = {"good",       "crash_init", "crash_ctor",
                           "abort_init", "exit_init",  "hang_init"};
    for (size_t i = 0; i < 6; i++) {
        char name[64];
        fmt(name, sizeof name, "%s.so", cases[i]);
        copy_fixture(cases[i], path, name);
    }
    const char *paths[] = {path};
    lp_registry_options opt;
    lp_registry_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.scan = 1;
    opt.scan_timeout_ms = 700;
    for (int round = 0; round < 2; round++) { /* scanned, then from the cache */
        lp_registry *reg = NULL;
        lp_error err;
        assert_int_equal(lp_registry_open(&opt, &reg, &err), LP_OK);
        expect_good_losses(reg);
        assert_int_equal(lp_registry_loss_count(reg), 2);
        const char *what[] = {"killed by signal SIGSEGV", "killed by signal SIGSEGV",
                              "killed by signal SIGABRT", "exited with status 0 before it finished",
                              "no answer from the out-of-process scan in 0.7 s"};
        for (size_t i = 1; i < 6; i++) {
            char file[PATH_MAX];
            fmt(file, sizeof file, "%s/%s.so", path, cases[i]);
            const lp_diag *d = expect_diag(reg, LP_DIAG_ERROR, file, what[i - 1]);
            assert_int_equal(d->code, LP_EPLUGIN);
            if (round == 1)
                assert_non_null(strstr(d->message, "remembered from an earlier scan"));
        }
        assert_int_equal(lp_registry_diag_count(reg), 5);
        lp_registry_close(reg);
    }
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* ---- protocol 2: descriptors from the scan's report ------------------------------------- */

/* A registry over `paths` only (no environment, no install dir) with the
 * given scan mode, describe_only and only_ids. */
static lp_registry *open_reg(const char *const *paths, size_t count, int scan, int describe_only,
                             const char *const *only, size_t only_count) {
    lp_registry_options opt;
    lp_registry_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = count;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.scan = scan;
    opt.describe_only = describe_only;
    opt.only_ids = only;
    opt.only_id_count = only_count;
    lp_registry *reg = NULL;
    lp_error err;
    if (lp_registry_open(&opt, &reg, &err) != LP_OK)
        fail_msg("lp_registry_open: %s", err.message);
    return reg;
}

static void same_text(const char *a, const char *b, const char *what) {
    if (a == NULL || b == NULL) {
        if (a != b)
            fail_msg("%s: %s vs %s", what, a ? a : "NULL", b ? b : "NULL");
        return;
    }
    if (strcmp(a, b) != 0)
        fail_msg("%s: '%s' vs '%s'", what, a, b);
}

static int same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Every field of two descriptors, bit for bit (doubles by their bits,
 * texts by content, enum choices and outputs item by item). */
static void same_desc(const lp_loss_desc *a, const lp_loss_desc *b) {
    same_text(a->id, b->id, "id");
    same_text(a->version, b->version, a->id);
    same_text(a->summary, b->summary, a->id);
    assert_int_equal(a->param_count, b->param_count);
    assert_int_equal(a->field_count, b->field_count);
    for (uint32_t i = 0; i < a->param_count; i++) {
        const lp_param_spec *p = &a->params[i], *q = &b->params[i];
        assert_int_equal(p->struct_size, q->struct_size);
        same_text(p->name, q->name, "param name");
        same_text(p->doc, q->doc, p->name);
        assert_int_equal(p->type, q->type);
        assert_int_equal(p->flags, q->flags);
        assert_int_equal(p->default_bool, q->default_bool);
        assert_int_equal(p->default_int, q->default_int);
        assert_true(same_bits(p->default_float, q->default_float));
        same_text(p->default_string, q->default_string, p->name);
        assert_true(same_bits(p->min, q->min));
        assert_true(same_bits(p->max, q->max));
        if (p->type == LP_PARAM_ENUM) {
            size_t n = 0;
            for (; p->choices[n] != NULL; n++)
                same_text(p->choices[n], q->choices[n], p->name);
            assert_null(q->choices[n]);
        }
    }
    for (uint32_t i = 0; i < a->field_count; i++) {
        const lp_field_spec *f = &a->fields[i], *g = &b->fields[i];
        assert_int_equal(f->struct_size, g->struct_size);
        same_text(f->name, g->name, "field name");
        same_text(f->doc, g->doc, f->name);
        assert_int_equal(f->access, g->access);
        assert_int_equal(f->phase, g->phase);
        assert_int_equal(f->dtype, g->dtype);
        assert_int_equal(f->rank, g->rank);
        assert_int_equal(f->reserved, g->reserved);
        assert_memory_equal(f->shape, g->shape, sizeof f->shape);
    }
    assert_int_equal(a->outputs == NULL, b->outputs == NULL);
    for (size_t i = 0; a->outputs != NULL && a->outputs[i] != NULL; i++)
        same_text(a->outputs[i], b->outputs[i], "output");
    if (a->outputs != NULL) {
        size_t n = 0;
        while (a->outputs[n] != NULL)
            n++;
        assert_null(b->outputs[n]);
    }
}

/* The report of every built-in plugin (and of the two ABI 1.0 fixtures)
 * reproduces the descriptors loaded in-process exactly; the second open
 * reads them from the cache, with the same result. Nothing is loaded: every
 * create is NULL. */
static void test_report_roundtrip(void **state) {
    fx *f = *state;
    char cache[PATH_MAX], v10[PATH_MAX], v10b[PATH_MAX];
    fmt(cache, sizeof cache, "%s/cache", f->dir);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    fmt(v10, sizeof v10, "%s/abi_1_0", LP_FIXTURE_DIR);
    fmt(v10b, sizeof v10b, "%s/abi_1_0_bits", LP_FIXTURE_DIR);
    const char *paths[] = {LP_PLUGIN_DIR, v10, v10b};
    lp_registry *live = open_paths(paths, 3, 0);
    size_t n = lp_registry_loss_count(live);
    assert_true(n >= 10);
    for (int round = 0; round < 2; round++) {
        lp_registry *desc = open_reg(paths, 3, LP_SCAN_ON, 1, NULL, 0);
        assert_int_equal(lp_registry_loss_count(desc), n);
        assert_int_equal(lp_registry_diag_count(desc), lp_registry_diag_count(live));
        for (size_t i = 0; i < lp_registry_diag_count(live); i++)
            assert_string_equal(lp_registry_diag_at(desc, i)->message,
                                lp_registry_diag_at(live, i)->message);
        for (size_t i = 0; i < n; i++) {
            const lp_loss_info *a = lp_registry_loss_at(live, i), *b = lp_registry_loss_at(desc, i);
            assert_string_equal(a->path, b->path);
            assert_int_equal(a->abi_major, b->abi_major);
            assert_int_equal(a->abi_minor, b->abi_minor);
            assert_non_null(a->desc->create);
            assert_null(b->desc->create);
            same_desc(a->desc, b->desc);
        }
        lp_registry_close(desc);
    }
    print_message("%zu losses described from their reports, as loaded\n", n);
    lp_registry_close(live);
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* A scanner that answers with a garbled report: each is refused with a
 * diag naming the file and the line, and nothing of it is listed. */
static void test_report_garbled(void **state) {
    fx *f = *state;
    char cache[PATH_MAX], dir[PATH_MAX], script[PATH_MAX], file[PATH_MAX];
    fmt(dir, sizeof dir, "%s/plugins", f->dir);
    mkdir_0755(dir);
    copy_fixture("good", dir, "good.so");
    fmt(file, sizeof file, "%s/good.so", dir);
    fmt(script, sizeof script, "%s/fake-scan", f->dir);
    const char *desc = "loss\tfixture_x\t1.0\tsum\t0\t0\t\\N\n";
    struct {
        const char *body, *why;
    } cases[] = {
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t0\t0\t\\N\nend\t2\n", "'end' counts 2"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsu\\qm\t0\t0\t\\N\nend\t1\n", "a bad escape"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t0\t0\nend\t1\n", "unknown record"},
        {"entry\t1\t1\nloss\tFixture\t1.0\tsum\t0\t0\t\\N\nend\t1\n", "id 'Fixture' is invalid"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t5000\t0\t\\N\nend\t1\n", "not an integer in"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t0\t0\t\\N\nend\t1\nmore\n", "text after"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t-0\t0\t\\N\nend\t1\n", "not an integer"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\ts\\x00m\t0\t0\t\\N\nend\t1\n", "a bad escape"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t0\t1\t\\N\nend\t1\n", "expected a 'field'"},
        {"entry\t1\t1\nloss\tfixture_x\t1.0\tsum\t1\t0\t\\N\n"
         "param\tcoef\tdoc\t1\t0\t0\t0\t7ff8000000000000\t\\N\t0000000000000000\t0000000000000000\t"
         "\\N\nend\t1\n",
         "default nan is not a finite number"},
        {"loss\tfixture_x\t1.0\tsum\t0\t0\t\\N\nend\t1\n", "before the 'entry'"},
    };
    (void)desc;
    fmt(cache, sizeof cache, "%s/cache", f->dir);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    assert_int_equal(setenv("LOSSPLUG_SCANNER", script, 1), 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        FILE *sf = fopen(script, "w");
        assert_non_null(sf);
        fprintf(sf, "#!/bin/sh\nprintf '%%s\\n' 'lossplug-scan 2'\ncat <<'EOF'\n%sEOF\n",
                cases[k].body);
        assert_int_equal(fclose(sf), 0);
        assert_int_equal(chmod(script, 0755), 0);
        /* A new cache each time: the file has not changed. */
        char cmd[PATH_MAX + 16];
        fmt(cmd, sizeof cmd, "rm -rf %s", cache);
        assert_int_equal(system(cmd), 0);
        const char *paths[] = {dir};
        lp_registry *reg = open_reg(paths, 1, LP_SCAN_ON, 1, NULL, 0);
        const lp_diag *d = expect_diag(reg, LP_DIAG_ERROR, file, "report is garbled (line ");
        if (strstr(d->message, cases[k].why) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", k, d->message, cases[k].why);
        assert_int_equal(lp_registry_loss_count(reg), 0);
        lp_registry_close(reg);
    }
    assert_int_equal(unsetenv("LOSSPLUG_SCANNER"), 0);
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* A cache of another format or version, or a garbled one, is not read:
 * the files are scanned again, and a whole cache is written back. */
static void test_cache_foreign(void **state) {
    fx *f = *state;
    char cache[PATH_MAX], dir[PATH_MAX], file[PATH_MAX];
    fmt(dir, sizeof dir, "%s/plugins", f->dir);
    mkdir_0755(dir);
    copy_fixture("good", dir, "good.so");
    fmt(cache, sizeof cache, "%s/cache", f->dir);
    mkdir_0755(cache);
    fmt(file, sizeof file, "%s/lossplug", cache);
    mkdir_0755(file);
    fmt(file, sizeof file, "%s/lossplug/scan-v2.cache", cache);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    const char *bodies[] = {
        "lossplug-scan-cache 1\n0 0 0 0 0 bad %s/good.so\tcrashed\n",
        "lossplug-scan-cache 2 0.0.0\n",
        "lossplug-scan-cache 2 " LP_TEST_VERSION "\nfile\t1\t2\t3\t4\t5\tok\t99999\t%s/good.so\t\n",
    };
    for (size_t k = 0; k < 3; k++) {
        FILE *cf = fopen(file, "w");
        assert_non_null(cf);
        fprintf(cf, bodies[k], dir);
        assert_int_equal(fclose(cf), 0);
        const char *paths[] = {dir};
        lp_registry *reg = open_reg(paths, 1, LP_SCAN_ON, 1, NULL, 0);
        print_diags(reg);
        assert_int_equal(lp_registry_diag_count(reg), 0);
        expect_good_losses(reg);
        lp_registry_close(reg);
        char head[64] = "";
        cf = fopen(file, "r");
        assert_non_null(cf);
        assert_non_null(fgets(head, sizeof head, cf));
        fclose(cf);
        assert_string_equal(head, "lossplug-scan-cache 2 " LP_TEST_VERSION "\n");
    }
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* Open `dir` with only_ids and the given scan mode. */
static lp_registry *open_only(const char *dir, int scan, const char *const *only, size_t count) {
    const char *paths[] = {dir};
    return open_reg(paths, 1, scan, 0, only, count);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* only_ids: a file that provides none of the ids is described, not loaded
 * (trap.so's init would crash this process with LPT_TRAP_INIT set); the
 * ids it provides are still known to find and its suggestions. On a cold
 * cache the default (LP_SCAN_AUTO) scans every file first; LP_SCAN_OFF
 * then uses the cache alone; LP_SCAN_OFF on a cold cache scans nothing and
 * loads every file. */
/* A scan mode that is none of the three is refused, naming them. */
static void test_bad_scan_mode(void **state) {
    (void)state;
    lp_registry_options opt;
    lp_registry_options_init(&opt);
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.scan = 5;
    lp_registry *reg = NULL;
    lp_error err;
    assert_int_equal(lp_registry_open(&opt, &reg, &err), LP_EINVAL);
    assert_null(reg);
    assert_string_equal(err.message, "lp_registry_open: options.scan (a session's scan_plugins) "
                                     "is 5: use LP_SCAN_AUTO (0), LP_SCAN_ON (1) or "
                                     "LP_SCAN_OFF (-1)");
}

static void test_only_ids(void **state) {
    fx *f = *state;
    char cache[PATH_MAX], dir[PATH_MAX], file[PATH_MAX], cmd[PATH_MAX + 16];
    fmt(dir, sizeof dir, "%s/plugins", f->dir);
    mkdir_0755(dir);
    copy_fixture("good", dir, "good.so");
    copy_fixture("trap", dir, "trap.so");
    fmt(cache, sizeof cache, "%s/cache", f->dir);
    fmt(file, sizeof file, "%s/lossplug/scan-v2.cache", cache);
    fmt(cmd, sizeof cmd, "rm -rf %s", cache);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    const char *only[] = {"fixture_beta"};
    /* LP_SCAN_OFF, cold: nothing scanned (no cache written), both loaded. */
    lp_registry *reg = open_only(dir, LP_SCAN_OFF, only, 1);
    assert_false(file_exists(file));
    const lp_loss_info *info = NULL;
    lp_error err;
    assert_int_equal(lp_registry_find(reg, "fixture_trap", &info, &err), LP_OK);
    assert_non_null(info->desc->create);
    lp_registry_close(reg);
    const int modes[] = {LP_SCAN_AUTO, LP_SCAN_OFF}; /* scanned; then from the cache alone */
    for (int round = 0; round < 2; round++) {
        reg = open_only(dir, modes[round], only, 1);
        assert_int_equal(lp_registry_diag_count(reg), 0);
        assert_true(file_exists(file));
        assert_int_equal(lp_registry_find(reg, "fixture_beta", &info, &err), LP_OK);
        assert_non_null(info->desc->create); /* good.so is loaded */
        assert_int_equal(lp_registry_find(reg, "fixture_trap", &info, &err), LP_OK);
        assert_null(info->desc->create); /* trap.so is described */
        assert_int_equal(info->desc->param_count, 1);
        assert_int_equal(lp_registry_find(reg, "fixture_trp", &info, &err), LP_ENOENT);
        assert_non_null(strstr(err.message, "did you mean 'fixture_trap'?"));
        lp_registry_close(reg);
        /* From now on, loading trap.so in this process would end it. */
        assert_int_equal(setenv("LPT_TRAP_INIT", "1", 1), 0);
    }
    /* Cold again, with trap.so's init crashing (in the scan's child too):
     * the default scans it, it is not loaded, and since fixture_trap is
     * asked for and found nowhere else, an error says it may be there. */
    assert_int_equal(system(cmd), 0);
    const char *both[] = {"fixture_beta", "fixture_trap"};
    reg = open_only(dir, LP_SCAN_AUTO, both, 2);
    char trap[PATH_MAX];
    fmt(trap, sizeof trap, "%s/trap.so", dir);
    const lp_diag *d = expect_diag(reg, LP_DIAG_ERROR, trap, "the out-of-process scan was killed");
    assert_int_equal(d->code, LP_EPLUGIN);
    d = expect_diag(reg, LP_DIAG_ERROR, trap,
                    "loss id 'fixture_trap' is asked for, but no plugin file that was loaded or "
                    "scanned provides it; this file was not loaded because its out-of-process "
                    "scan failed");
    assert_int_equal(d->code, LP_ENOENT);
    assert_int_equal(lp_registry_diag_count(reg), 2);
    assert_int_equal(lp_registry_find(reg, "fixture_beta", &info, &err), LP_OK);
    assert_non_null(info->desc->create);
    assert_int_equal(lp_registry_find(reg, "fixture_trap", &info, &err), LP_ENOENT);
    char want[PATH_MAX + 128];
    fmt(want, sizeof want,
        "no loss with id 'fixture_trap' (a plugin file whose out-of-process scan failed is not "
        "loaded and may provide it: %s)",
        trap);
    if (strstr(err.message, want) == NULL)
        fail_msg("'%s' lacks '%s'", err.message, want);
    lp_registry_close(reg);
    assert_int_equal(unsetenv("LPT_TRAP_INIT"), 0);
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* The previous format's cache, scan-v1.cache, is removed when the v2
 * cache is written; nothing else in the cache directory is touched. */
static void test_cache_v1_removed(void **state) {
    fx *f = *state;
    char cache[PATH_MAX], dir[PATH_MAX], v1[PATH_MAX], other[PATH_MAX], v2[PATH_MAX];
    fmt(dir, sizeof dir, "%s/plugins", f->dir);
    mkdir_0755(dir);
    copy_fixture("good", dir, "good.so");
    fmt(cache, sizeof cache, "%s/cache", f->dir);
    mkdir_0755(cache);
    fmt(v1, sizeof v1, "%s/lossplug", cache);
    mkdir_0755(v1);
    fmt(v1, sizeof v1, "%s/lossplug/scan-v1.cache", cache);
    fmt(other, sizeof other, "%s/lossplug/scan-v1.cache.keep", cache);
    fmt(v2, sizeof v2, "%s/lossplug/scan-v2.cache", cache);
    const char *files[] = {v1, other};
    for (size_t i = 0; i < 2; i++) {
        FILE *cf = fopen(files[i], "w");
        assert_non_null(cf);
        fputs("lossplug-scan-cache 1\n", cf);
        assert_int_equal(fclose(cf), 0);
    }
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    /* Without a scan nothing is written, and the old file stays. */
    const char *paths[] = {dir};
    lp_registry *reg = open_paths(paths, 1, 0);
    lp_registry_close(reg);
    assert_true(file_exists(v1));
    assert_false(file_exists(v2));
    reg = open_reg(paths, 1, LP_SCAN_ON, 1, NULL, 0);
    expect_good_losses(reg);
    lp_registry_close(reg);
    assert_true(file_exists(v2));
    assert_false(file_exists(v1));
    assert_true(file_exists(other));
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
}

/* ---- API edges ------------------------------------------------------------------------ */

static void test_api(void **state) {
    (void)state;
    assert_string_equal(lp_strerror(LP_ENOENT), "not found");
    assert_string_equal(lp_err_name(LP_EABI), "LP_EABI");
    assert_string_equal(lp_strerror(12345), "unknown status");
    assert_string_equal(lp_err_name(12345), "unknown status");
    assert_non_null(strstr(lp_install_plugin_dir(), "/lossplug/plugins"));
    assert_true(lp_version_string()[0] >= '0' && lp_version_string()[0] <= '9');

    lp_error err;
    lp_registry *reg = (lp_registry *)1;
    assert_int_equal(lp_registry_open(NULL, NULL, &err), LP_EINVAL);
    assert_int_equal(err.code, LP_EINVAL);
    lp_registry_options opt;
    memset(&opt, 0, sizeof opt);
    assert_int_equal(lp_registry_open(&opt, &reg, &err), LP_EINVAL);
    assert_null(reg);
    assert_non_null(strstr(err.message, "lp_registry_options_init"));
    lp_registry_options_init(&opt);
    opt.plugin_path_count = 1;
    assert_int_equal(lp_registry_open(&opt, &reg, &err), LP_EINVAL);
    const char *paths[] = {""};
    opt.plugin_paths = paths;
    assert_int_equal(lp_registry_open(&opt, &reg, &err), LP_EINVAL);

    lp_registry_close(NULL);
    assert_int_equal(lp_registry_loss_count(NULL), 0);
    assert_null(lp_registry_loss_at(NULL, 0));
    assert_int_equal(lp_registry_diag_count(NULL), 0);
    assert_null(lp_registry_diag_at(NULL, 0));
    assert_int_equal(lp_registry_root_count(NULL), 0);
    assert_null(lp_registry_root_at(NULL, 0));
    const lp_loss_info *info;
    assert_int_equal(lp_registry_find(NULL, "x", &info, &err), LP_EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_good_loads),
        T(test_no_entry),
        T(test_bad_major),
        T(test_small_entry),
        T(test_small_struct),
        T(test_missing_field),
        T(test_bad_id),
        T(test_bad_param),
        T(test_bad_field),
        T(test_null_create),
        T(test_init_fails),
        T(test_undefined_symbol),
        T(test_not_elf),
        T(test_null_desc),
        T(test_newer_minor),
        T(test_dedup_same_dir_twice),
        T(test_dedup_symlinked_file),
        T(test_dedup_symlinked_dir),
        T(test_duplicate_id),
        T(test_all_ids_conflict),
        T(test_unknown_id),
        T(test_two_registries),
        T(test_security_group_writable_dir),
        T(test_security_other_writable_file),
        T(test_security_symlink_into_insecure_dir),
        T(test_security_foreign_owner),
        T(test_env_path),
        T(test_missing_roots),
        T(test_non_plugin_entries),
        T(test_huge_stride),
        T(test_foreign_elf),
        T(test_truncated_plugin),
        T(test_fifo_named_so),
        T(test_scan_bad_plugins),
        T(test_report_roundtrip),
        T(test_report_garbled),
        T(test_cache_foreign),
        T(test_bad_scan_mode),
        T(test_only_ids),
        T(test_cache_v1_removed),
        T(test_api),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
