/* The model's vectorisable tanh against double-precision tanh: within 3 ulp
 * on a sweep of every 97th positive float and its negative, and the special
 * values (signed zeros, tiny, huge, infinities, NaN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/vtanh.h"

#include <math.h>
#include <string.h>

static void within_three_ulp(void **state) {
    (void)state;
    double worst = 0.0;
    float worst_x = 0.0f;
    for (uint32_t b = 0; b < 0x7F800000u; b += 97) {
        float x;
        memcpy(&x, &b, sizeof x);
        for (int sign = 0; sign < 2; sign++) {
            float xx = sign ? -x : x;
            double ref = tanh((double)xx);
            float rf = fabsf((float)ref);
            double ulp = (double)nextafterf(rf, INFINITY) - (double)rf;
            double e = fabs((double)lp__tanhf(xx) - ref) / ulp;
            if (e > worst) {
                worst = e;
                worst_x = xx;
            }
        }
    }
    if (worst > 3.0)
        fail_msg("lp__tanhf(%.9g) = %.9g is %.2f ulp from tanh = %.9g", worst_x, lp__tanhf(worst_x),
                 worst, tanh(worst_x));
}

static void special_values(void **state) {
    (void)state;
    assert_true(lp__tanhf(0.0f) == 0.0f && !signbit(lp__tanhf(0.0f)));
    assert_true(lp__tanhf(-0.0f) == 0.0f && signbit(lp__tanhf(-0.0f)));
    assert_true(lp__tanhf(1e-30f) == 1e-30f);
    assert_true(lp__tanhf(-1e-30f) == -1e-30f);
    assert_true(lp__tanhf(9.0f) == 1.0f);
    assert_true(lp__tanhf(-1e30f) == -1.0f);
    assert_true(lp__tanhf(INFINITY) == 1.0f);
    assert_true(lp__tanhf(-INFINITY) == -1.0f);
    assert_true(isnan(lp__tanhf(NAN)));
    assert_true(isnan(lp__tanhf(-NAN)));
    assert_true(lp__tanhf(0.5f) == (float)tanh(0.5) ||
                fabsf(lp__tanhf(0.5f) - 0.46211716f) < 1e-7f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(within_three_ulp),
        cmocka_unit_test(special_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
