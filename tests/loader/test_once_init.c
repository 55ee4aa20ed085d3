/* A real once-init (LP_PLUGIN_ENTRY_WITH_INIT and the loader): eight
 * threads, each with its own registry (or its own direct init), on a plugin
 * whose first init takes 20 ms: every create after an init succeeds (400 of
 * 400), no first init runs twice without a deinit between, the last deinit
 * runs once. A plugin whose callbacks are named like the macro's old locals
 * still gets them called. Also built with ThreadSanitizer
 * (once_init_tsan) when the compiler has it. */
#include <lossplug/host.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define THREADS    8
#define ITERATIONS 50

static atomic_int created;

typedef int32_t (*create_fn)(const lp_create_args *, const lp_loss **);

static int create_with(create_fn create) {
    lp_create_args args;
    memset(&args, 0, sizeof args);
    args.struct_size = sizeof args;
    const lp_loss *loss = NULL;
    if (create(&args, &loss) != LP_OK || loss == NULL)
        return 0;
    loss->destroy(loss);
    return 1;
}

static int create_once(const lp_loss_desc *desc) {
    return create_with(desc->create);
}

static lp_registry *open_case(const char *fixture_case) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", LP_FIXTURE_DIR, fixture_case);
    const char *paths[] = {dir};
    lp_registry_options opt;
    lp_registry_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    lp_registry *reg = NULL;
    lp_error err;
    if (lp_registry_open(&opt, &reg, &err) != LP_OK)
        return NULL;
    return reg;
}

/* ---- through the loader: a registry per thread per iteration ------------ */

static void *registry_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < ITERATIONS; i++) {
        lp_registry *reg = open_case("slow_init");
        const lp_loss_info *info = NULL;
        if (reg != NULL && lp_registry_find(reg, "fixture_slow_init", &info, NULL) == LP_OK &&
            create_once(info->desc))
            atomic_fetch_add(&created, 1);
        lp_registry_close(reg);
    }
    return NULL;
}

static void run_threads(void *(*fn)(void *)) {
    pthread_t t[THREADS];
    atomic_store(&created, 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
}

static void test_registries_on_threads(void **state) {
    (void)state;
    run_threads(registry_thread);
    print_message("%d of %d creates succeeded\n", atomic_load(&created), THREADS * ITERATIONS);
    assert_int_equal(atomic_load(&created), THREADS * ITERATIONS);
}

/* ---- the SDK macro alone: init/deinit called directly, no loader lock ---- */

static const lp_entry *direct_entry;

static void *direct_thread(void *arg) {
    (void)arg;
    lp_host host;
    memset(&host, 0, sizeof host);
    host.struct_size = sizeof host;
    for (int i = 0; i < ITERATIONS; i++) {
        if (direct_entry->init(&host) != LP_OK)
            continue;
        if (create_once(direct_entry->loss_get(0)))
            atomic_fetch_add(&created, 1);
        direct_entry->deinit();
    }
    return NULL;
}

static void test_sdk_once_init_direct(void **state) {
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/slow_init/slow_init.so", LP_FIXTURE_DIR);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        fail_msg("dlopen %s: %s", path, dlerror());
    direct_entry = dlsym(h, "lossplug_entry");
    assert_non_null(direct_entry);
    run_threads(direct_thread);
    assert_int_equal(atomic_load(&created), THREADS * ITERATIONS);
    /* Every init was undone: create fails again, and a deinit without an
     * init does nothing (no second last-deinit). */
    direct_entry->deinit();
    assert_int_equal(create_once(direct_entry->loss_get(0)), 0);
    lp_host host;
    memset(&host, 0, sizeof host);
    host.struct_size = sizeof host;
    assert_int_equal(direct_entry->init(&host), LP_OK);
    assert_int_equal(create_once(direct_entry->loss_get(0)), 1);
    direct_entry->deinit();
}

/* ---- macro hygiene: callbacks named host and rc ------------------------- */

static void test_macro_hygiene(void **state) {
    (void)state;
    lp_registry *reg = open_case("hygiene");
    assert_non_null(reg);
    const lp_loss_info *info = NULL;
    assert_int_equal(lp_registry_find(reg, "fixture_hygiene", &info, NULL), LP_OK);
    /* The descriptor copy goes with the registry; the code stays. */
    create_fn create = info->desc->create;
    assert_int_equal(create_with(create), 1); /* `host` ran */
    lp_registry_close(reg);
    assert_int_equal(create_with(create), 0); /* `rc` ran */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registries_on_threads),
        cmocka_unit_test(test_sdk_once_init_direct),
        cmocka_unit_test(test_macro_hygiene),
    };
    return cmocka_run_group_tests_name("once_init", tests, NULL, NULL);
}
