/* A loss that runs on discrete actions only (today expert_ce, whose
 * dataset stores i32 actions): on a multi-discrete or box action its create
 * refuses with LP_EINVAL and a message naming the space, instead of
 * computing a softmax over another space's outputs. Built once per plugin
 * (LP_TEST_PLUGIN, LP_TEST_ID); tests/plugins/CMakeLists.txt lists the
 * plugins. */
#include <lpt_assert.h>
#include <lpt_spaceref.h>

#include <string.h>

LPT_PLUGIN_GROUP(LP_TEST_ID)

static void test_refused(void **state) {
    (void)state;
    const int64_t nv[2] = {3, 2};
    const lpt_sp sps[2] = {lpt_sp_md(2, nv), lpt_sp_box(2)};
    const char *const what[2] = {"multi-discrete", "a box (continuous)"};
    for (int s = 0; s < 2; s++) {
        lpt_inst *in = lpt_inst_new(g_desc, "x");
        assert_non_null(in);
        if (strcmp(LP_TEST_ID, "expert_ce") == 0)
            assert_int_equal(lpt_set_s(in, "dataset", "none.lpx"), 0);
        int64_t nvec[LPT_SP_MAX];
        float lo[LPT_SP_MAX], hi[LPT_SP_MAX];
        lpt_sp_env(&sps[s], lpt_env(in), nvec, lo, hi);
        assert_int_equal(lpt_create(in), LP_EINVAL);
        char want[256];
        snprintf(want, sizeof want, "%s: the action is %s, but %s runs on discrete actions only",
                 LP_TEST_ID, what[s], LP_TEST_ID);
        assert_contains(lpt_last_error(in), want);
        lpt_inst_free(in);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests_name("spaces_refused", tests, group_setup, group_teardown);
}
