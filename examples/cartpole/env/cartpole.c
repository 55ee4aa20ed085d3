/* CartPole-v1 as Gymnasium defines it (gymnasium/envs/classic_control/
 * cartpole.py with the TimeLimit of 500), vectorised in struct-of-arrays
 * layout. The arithmetic follows Gymnasium's expressions operation by
 * operation, in double, so the float32 observations match it. */
#include "cartpole.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define CP__GRAVITY         9.8
#define CP__MASSCART        1.0
#define CP__MASSPOLE        0.1
#define CP__TOTAL_MASS      (CP__MASSPOLE + CP__MASSCART)
#define CP__LENGTH          0.5 /* half the pole's length */
#define CP__POLEMASS_LENGTH (CP__MASSPOLE * CP__LENGTH)
#define CP__FORCE_MAG       10.0
#define CP__TAU             0.02
#define CP__PI              3.14159265358979323846
/* Gymnasium: 12 * 2 * math.pi / 360, in that order. */
#define CP__THETA_THRESHOLD (12 * 2 * CP__PI / 360)

struct cp_env {
    int32_t n;
    int started;
    /* Struct of arrays, n entries each. */
    double *x, *x_dot, *theta, *theta_dot;
    double *ep_return;
    int32_t *elapsed;
    uint64_t *rng[4]; /* xoshiro256** state word k of env i is rng[k][i] */
};

const char *cp_strerror(int status) {
    switch (status) {
#define CP__ERRNO_CASE(name, value, msg)                                                           \
    case value:                                                                                    \
        return msg;
        CP_ERRNO_MAP(CP__ERRNO_CASE)
#undef CP__ERRNO_CASE
    }
    return "unknown status";
}

/* ---- Random numbers: splitmix64 seeds one xoshiro256** per environment. --- */

static uint64_t cp__splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t cp__rotl(uint64_t v, int k) {
    return (v << k) | (v >> (64 - k));
}

static uint64_t cp__next(cp_env *env, int32_t i) {
    uint64_t *s0 = &env->rng[0][i], *s1 = &env->rng[1][i];
    uint64_t *s2 = &env->rng[2][i], *s3 = &env->rng[3][i];
    uint64_t result = cp__rotl(*s1 * 5, 7) * 9;
    uint64_t t = *s1 << 17;
    *s2 ^= *s0;
    *s3 ^= *s1;
    *s1 ^= *s2;
    *s0 ^= *s3;
    *s2 ^= t;
    *s3 = cp__rotl(*s3, 45);
    return result;
}

/* Uniform in the open interval (-0.05, 0.05): the midpoint of one of 2^53
 * equal cells of (0, 1), scaled; the rare value that rounds onto a bound is
 * drawn again. */
static double cp__uniform_reset(cp_env *env, int32_t i) {
    for (;;) {
        double u = ((double)(cp__next(env, i) >> 11) + 0.5) * 0x1.0p-53;
        double v = -CP_RESET_BOUND + 2 * CP_RESET_BOUND * u;
        if (v > -CP_RESET_BOUND && v < CP_RESET_BOUND)
            return v;
    }
}

/* ---- Lifecycle ------------------------------------------------------------ */

int cp_create(cp_env **out, int32_t n, uint64_t seed) {
    if (!out)
        return CP_EINVAL;
    *out = NULL;
    /* One block: 5 double arrays, 4 u64 arrays, then the i32 array. */
    const size_t per_env = 5 * sizeof(double) + 4 * sizeof(uint64_t) + sizeof(int32_t);
    if (n < 1 || (size_t)n > SIZE_MAX / per_env)
        return CP_EINVAL;
    cp_env *env = calloc(1, sizeof *env);
    size_t un = (size_t)n;
    unsigned char *block = env ? malloc(un * per_env) : NULL;
    if (!block) {
        free(env);
        return CP_ENOMEM;
    }
    env->n = n;
    double *d = (double *)(void *)block;
    env->x = d;
    env->x_dot = d + un;
    env->theta = d + 2 * un;
    env->theta_dot = d + 3 * un;
    env->ep_return = d + 4 * un;
    uint64_t *u = (uint64_t *)(void *)(d + 5 * un);
    for (int k = 0; k < 4; k++)
        env->rng[k] = u + (size_t)k * un;
    env->elapsed = (int32_t *)(void *)(u + 4 * un);
    /* Env i takes outputs 4i..4i+3 of one splitmix64 stream started at seed. */
    uint64_t sm = seed;
    for (size_t i = 0; i < un; i++) {
        uint64_t any = 0;
        for (int k = 0; k < 4; k++)
            any |= env->rng[k][i] = cp__splitmix64(&sm);
        if (!any) /* xoshiro's one forbidden state */
            env->rng[0][i] = 1;
        env->x[i] = env->x_dot[i] = env->theta[i] = env->theta_dot[i] = 0;
        env->ep_return[i] = 0;
        env->elapsed[i] = 0;
    }
    *out = env;
    return CP_OK;
}

void cp_free(cp_env *env) {
    if (!env)
        return;
    free(env->x); /* the start of the block */
    free(env);
}

int32_t cp_num_envs(const cp_env *env) {
    return env ? env->n : 0;
}

static void cp__reset_one(cp_env *env, int32_t i) {
    /* Gymnasium draws x, x_dot, theta, theta_dot in this order. */
    env->x[i] = cp__uniform_reset(env, i);
    env->x_dot[i] = cp__uniform_reset(env, i);
    env->theta[i] = cp__uniform_reset(env, i);
    env->theta_dot[i] = cp__uniform_reset(env, i);
    env->ep_return[i] = 0;
    env->elapsed[i] = 0;
}

static void cp__observe_one(const cp_env *env, int32_t i, float *row) {
    row[0] = (float)env->x[i];
    row[1] = (float)env->x_dot[i];
    row[2] = (float)env->theta[i];
    row[3] = (float)env->theta_dot[i];
}

int cp_reset(cp_env *env, float *obs) {
    if (!env)
        return CP_EINVAL;
    for (int32_t i = 0; i < env->n; i++)
        cp__reset_one(env, i);
    env->started = 1;
    return obs ? cp_observe(env, obs) : CP_OK;
}

int cp_observe(const cp_env *env, float *obs) {
    if (!env || !obs)
        return CP_EINVAL;
    for (int32_t i = 0; i < env->n; i++)
        cp__observe_one(env, i, obs + (size_t)i * CP_OBS_DIM);
    return CP_OK;
}

/* ---- Dynamics -------------------------------------------------------------- */

int cp_step(cp_env *env, const int32_t *actions, cp_step_out *out) {
    if (!env || !actions || !out || !out->obs || !out->reward || !out->terminated ||
        !out->truncated || !env->started)
        return CP_EINVAL;
    const int32_t n = env->n;
    for (int32_t i = 0; i < n; i++)
        if (actions[i] != 0 && actions[i] != 1)
            return CP_EINVAL;

    /* The physics: a loop over arrays with no branches but the force. */
    double *restrict xs = env->x, *restrict xds = env->x_dot;
    double *restrict ths = env->theta, *restrict thds = env->theta_dot;
    for (int32_t i = 0; i < n; i++) {
        const double x = xs[i], x_dot = xds[i], theta = ths[i], theta_dot = thds[i];
        const double force = actions[i] == 1 ? CP__FORCE_MAG : -CP__FORCE_MAG;
        const double costheta = cos(theta);
        const double sintheta = sin(theta);
        const double temp =
            (force + CP__POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / CP__TOTAL_MASS;
        const double thetaacc =
            (CP__GRAVITY * sintheta - costheta * temp) /
            (CP__LENGTH * (4.0 / 3.0 - CP__MASSPOLE * (costheta * costheta) / CP__TOTAL_MASS));
        const double xacc = temp - CP__POLEMASS_LENGTH * thetaacc * costheta / CP__TOTAL_MASS;
        xs[i] = x + CP__TAU * x_dot;
        xds[i] = x_dot + CP__TAU * xacc;
        ths[i] = theta + CP__TAU * theta_dot;
        thds[i] = theta_dot + CP__TAU * thetaacc;
    }

    int32_t finished = 0;
    for (int32_t i = 0; i < n; i++) {
        const double x = xs[i], theta = ths[i];
        const int term = x < -CP_X_THRESHOLD || x > CP_X_THRESHOLD ||
                         theta < -CP__THETA_THRESHOLD || theta > CP__THETA_THRESHOLD;
        env->elapsed[i] += 1;
        env->ep_return[i] += 1.0;
        const int trunc = env->elapsed[i] >= CP_MAX_STEPS;
        out->reward[i] = 1.0f;
        out->terminated[i] = (uint8_t)term;
        out->truncated[i] = (uint8_t)trunc;
        float *row = out->obs + (size_t)i * CP_OBS_DIM;
        cp__observe_one(env, i, row);
        if (out->final_obs)
            memcpy(out->final_obs + (size_t)i * CP_OBS_DIM, row, CP_OBS_DIM * sizeof(float));
        if (out->episode_return)
            out->episode_return[i] = (term || trunc) ? (float)env->ep_return[i] : 0.0f;
        if (out->episode_length)
            out->episode_length[i] = (term || trunc) ? env->elapsed[i] : 0;
        if (term || trunc) {
            finished++;
            cp__reset_one(env, i);
            cp__observe_one(env, i, row);
        }
    }
    out->num_finished = finished;
    return CP_OK;
}

/* ---- State access and snapshots ------------------------------------------- */

int cp_get_state(const cp_env *env, int32_t i, double state[4], int32_t *elapsed) {
    if (!env || i < 0 || i >= env->n || !state)
        return CP_EINVAL;
    state[0] = env->x[i];
    state[1] = env->x_dot[i];
    state[2] = env->theta[i];
    state[3] = env->theta_dot[i];
    if (elapsed)
        *elapsed = env->elapsed[i];
    return CP_OK;
}

int cp_set_state(cp_env *env, int32_t i, const double state[4], int32_t elapsed) {
    if (!env || i < 0 || i >= env->n || !state || elapsed < 0 || elapsed >= CP_MAX_STEPS)
        return CP_EINVAL;
    for (int k = 0; k < 4; k++)
        if (!isfinite(state[k]))
            return CP_EINVAL;
    env->x[i] = state[0];
    env->x_dot[i] = state[1];
    env->theta[i] = state[2];
    env->theta_dot[i] = state[3];
    env->elapsed[i] = elapsed;
    env->ep_return[i] = elapsed;
    env->started = 1;
    return CP_OK;
}

/* Snapshot layout, little-endian: "CPSNAP01", u32 n, u32 started, then per
 * env: 5 doubles (x, x_dot, theta, theta_dot, return) as IEEE-754 bit
 * patterns, u32 elapsed, 4 u64 random words; then u32 CRC-32 of all before. */
#define CP__SNAP_MAGIC "CPSNAP01"
#define CP__SNAP_HEAD  16u
#define CP__SNAP_ENV   (5 * 8 + 4 + 4 * 8)

size_t cp_snapshot_size(const cp_env *env) {
    return env ? CP__SNAP_HEAD + (size_t)env->n * CP__SNAP_ENV + 4 : 0;
}

static unsigned char *cp__put(unsigned char *p, uint64_t v, int bytes) {
    for (int b = 0; b < bytes; b++)
        *p++ = (unsigned char)(v >> (8 * b));
    return p;
}

static uint64_t cp__get(const unsigned char **p, int bytes) {
    uint64_t v = 0;
    for (int b = 0; b < bytes; b++)
        v |= (uint64_t)(*p)[b] << (8 * b);
    *p += bytes;
    return v;
}

static uint64_t cp__dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double cp__bitsd(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

int cp_snapshot(const cp_env *env, void *buf, size_t size) {
    if (!env || !buf || size < cp_snapshot_size(env))
        return CP_EINVAL;
    unsigned char *p = buf;
    memcpy(p, CP__SNAP_MAGIC, 8);
    p = cp__put(p + 8, (uint32_t)env->n, 4);
    p = cp__put(p, (uint32_t)env->started, 4);
    for (int32_t i = 0; i < env->n; i++) {
        p = cp__put(p, cp__dbits(env->x[i]), 8);
        p = cp__put(p, cp__dbits(env->x_dot[i]), 8);
        p = cp__put(p, cp__dbits(env->theta[i]), 8);
        p = cp__put(p, cp__dbits(env->theta_dot[i]), 8);
        p = cp__put(p, cp__dbits(env->ep_return[i]), 8);
        p = cp__put(p, (uint32_t)env->elapsed[i], 4);
        for (int k = 0; k < 4; k++)
            p = cp__put(p, env->rng[k][i], 8);
    }
    size_t body = (size_t)(p - (unsigned char *)buf);
    cp__put(p, cp_crc32(0, buf, body), 4);
    return CP_OK;
}

int cp_restore(cp_env *env, const void *buf, size_t size) {
    if (!env || !buf)
        return CP_EINVAL;
    const size_t want = cp_snapshot_size(env);
    const unsigned char *p = buf;
    if (size != want || memcmp(p, CP__SNAP_MAGIC, 8) != 0)
        return CP_EFORMAT;
    const unsigned char *crcp = p + want - 4;
    if (cp__get(&crcp, 4) != cp_crc32(0, buf, want - 4))
        return CP_EFORMAT;
    p += 8;
    uint64_t n = cp__get(&p, 4), started = cp__get(&p, 4);
    if (n != (uint64_t)env->n || started > 1)
        return CP_EFORMAT;
    /* Validate everything before changing anything. */
    const unsigned char *q = p;
    for (int32_t i = 0; i < env->n; i++) {
        uint64_t any = 0;
        for (int k = 0; k < 5; k++)
            if (!isfinite(cp__bitsd(cp__get(&q, 8))))
                return CP_EFORMAT;
        if (cp__get(&q, 4) >= CP_MAX_STEPS)
            return CP_EFORMAT;
        for (int k = 0; k < 4; k++)
            any |= cp__get(&q, 8);
        if (!any)
            return CP_EFORMAT;
    }
    for (int32_t i = 0; i < env->n; i++) {
        env->x[i] = cp__bitsd(cp__get(&p, 8));
        env->x_dot[i] = cp__bitsd(cp__get(&p, 8));
        env->theta[i] = cp__bitsd(cp__get(&p, 8));
        env->theta_dot[i] = cp__bitsd(cp__get(&p, 8));
        env->ep_return[i] = cp__bitsd(cp__get(&p, 8));
        env->elapsed[i] = (int32_t)cp__get(&p, 4);
        for (int k = 0; k < 4; k++)
            env->rng[k][i] = cp__get(&p, 8);
    }
    env->started = (int)started;
    return CP_OK;
}

/* ---- CRC-32 ----------------------------------------------------------------- */

/* zlib's crc32_z: the same CRC-32 (IEEE, reflected 0xEDB88320) as before. */
uint32_t cp_crc32(uint32_t crc, const void *data, size_t n) {
    if (n == 0)
        return crc;
    return (uint32_t)crc32_z(crc, (const Bytef *)data, (z_size_t)n);
}
