/* The scripted teacher: a linear stabiliser on the float32 observation, so a
 * trainer can call it on exactly what the policy sees. */
#include "cartpole.h"

#include <stddef.h>

static int32_t cp__teacher_one(const float *o) {
    /* Left to right, in float: the gains are documented in docs/cartpole.md. */
    const float s = CP_TEACHER_K_X * o[0] + CP_TEACHER_K_X_DOT * o[1] + CP_TEACHER_K_THETA * o[2] +
                    CP_TEACHER_K_THETA_DOT * o[3];
    return s > 0.0f ? 1 : 0;
}

void cp_teacher_actions(const float *obs, int32_t n, int32_t *actions) {
    if (!obs || !actions)
        return;
    for (int32_t i = 0; i < n; i++)
        actions[i] = cp__teacher_one(obs + (size_t)i * CP_OBS_DIM);
}

void cp_teacher_logits(const float *obs, int32_t n, float c, float *logits) {
    if (!obs || !logits)
        return;
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = cp__teacher_one(obs + (size_t)i * CP_OBS_DIM);
        logits[2 * (size_t)i + (size_t)a] = c;
        logits[2 * (size_t)i + (size_t)(1 - a)] = -c;
    }
}
