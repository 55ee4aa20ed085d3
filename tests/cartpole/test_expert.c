/* The expert dataset: a reader written from docs/cartpole.md alone reads
 * back exactly what the teacher saw and did; truncated, extended and
 * corrupted files are detected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cartpole.h"

#include "../support/lpt_bytes.h"

typedef struct dataset {
    uint32_t num_envs;
    uint64_t num_steps, count, seed;
    float *obs;      /* [count][4] */
    int32_t *action; /* [count] */
    uint8_t *start;  /* [count] */
} dataset;

static void dataset_free(dataset *d) {
    free(d->obs);
    free(d->action);
    free(d->start);
    memset(d, 0, sizeof *d);
}

/* The tiny reader: 0 on success, else the number of the failed check. */
static int read_dataset(const unsigned char *buf, size_t size, dataset *d) {
    memset(d, 0, sizeof *d);
    if (size < 64)
        return 1;
    if (memcmp(buf, "LPEXPERT", 8) != 0)
        return 2;
    if (lpt_le32(buf + 60) != lpt_crc32(buf, 60))
        return 3;
    if (lpt_le32(buf + 8) != 1 || lpt_le32(buf + 12) != 64 || lpt_le32(buf + 16) != 24 ||
        lpt_le32(buf + 20) != 4 || lpt_le32(buf + 24) != 2)
        return 4;
    d->num_envs = lpt_le32(buf + 28);
    d->num_steps = lpt_le64(buf + 32);
    d->count = lpt_le64(buf + 40);
    d->seed = lpt_le64(buf + 48);
    if (d->num_envs == 0 || d->count != d->num_envs * d->num_steps)
        return 5;
    if (d->count > (SIZE_MAX - 64) / 24 || size != 64 + d->count * 24)
        return 6;
    if (lpt_le32(buf + 56) != lpt_crc32(buf + 64, size - 64))
        return 7;
    d->obs = malloc(d->count * 4 * sizeof(float));
    d->action = malloc(d->count * sizeof(int32_t));
    d->start = malloc(d->count);
    if (!d->obs || !d->action || !d->start)
        return 8;
    for (uint64_t r = 0; r < d->count; r++) {
        const unsigned char *p = buf + 64 + r * 24;
        for (int k = 0; k < 4; k++) {
            uint32_t bits = lpt_le32(p + 4 * k);
            memcpy(&d->obs[r * 4 + (uint64_t)k], &bits, 4);
        }
        d->action[r] = (int32_t)lpt_le32(p + 16);
        d->start[r] = p[20];
        if (d->action[r] < 0 || d->action[r] > 1 || p[20] > 1 || p[21] || p[22] || p[23])
            return 9;
    }
    return 0;
}

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

#define PATH CP_TEST_DIR "/roundtrip.cpexp"

static void round_trip(void **state) {
    (void)state;
    const int32_t m = 5;
    const int64_t steps = 1200; /* several 500-step truncations per env */
    cp_expert_summary sum;
    remove(PATH);
    assert_int_equal(cp_expert_write(PATH, m, steps, 77, &sum), CP_OK);
    assert_int_equal(sum.records, (uint64_t)m * (uint64_t)steps);
    assert_int_equal(sum.episodes, 2 * m); /* the teacher never fails */
    assert_true(sum.mean_return == 500.0);
    FILE *tmp = fopen(PATH ".tmp", "rb");
    assert_null(tmp); /* renamed into place */

    size_t size;
    unsigned char *buf = slurp(PATH, &size);
    assert_int_equal(size, 64 + (size_t)m * (size_t)steps * 24);
    dataset d;
    assert_int_equal(read_dataset(buf, size, &d), 0);
    assert_int_equal(d.num_envs, (uint32_t)m);
    assert_int_equal(d.num_steps, (uint64_t)steps);
    assert_int_equal(d.seed, 77);

    /* Replay: same seed, the teacher's actions; records are step-major. */
    cp_env *env = NULL;
    assert_int_equal(cp_create(&env, m, 77), CP_OK);
    float obs[5 * 4], reward[5];
    uint8_t term[5], trunc[5], start[5] = {1, 1, 1, 1, 1};
    int32_t actions[5];
    cp_step_out out = {.obs = obs, .reward = reward, .terminated = term, .truncated = trunc};
    assert_int_equal(cp_reset(env, obs), CP_OK);
    int64_t starts = 0;
    for (int64_t t = 0; t < steps; t++) {
        cp_teacher_actions(obs, m, actions);
        for (int32_t i = 0; i < m; i++) {
            uint64_t r = (uint64_t)t * (uint64_t)m + (uint64_t)i;
            assert_memory_equal(&d.obs[r * 4], &obs[i * 4], 4 * sizeof(float));
            assert_int_equal(d.action[r], actions[i]);
            assert_int_equal(d.start[r], start[i]);
            starts += d.start[r];
        }
        assert_int_equal(cp_step(env, actions, &out), CP_OK);
        for (int32_t i = 0; i < m; i++)
            start[i] = term[i] || trunc[i];
    }
    /* The first step of every env, then the step after each 500th. */
    assert_int_equal(starts, 3 * m);
    assert_int_equal(d.start[(uint64_t)500 * (uint64_t)m], 1);
    assert_int_equal(d.start[(uint64_t)499 * (uint64_t)m], 0);
    cp_free(env);
    dataset_free(&d);
    free(buf);
}

static void damage_is_detected(void **state) {
    (void)state;
    assert_int_equal(cp_expert_write(PATH, 2, 30, 5, NULL), CP_OK);
    size_t size;
    unsigned char *buf = slurp(PATH, &size);
    dataset d;
    assert_int_equal(read_dataset(buf, size, &d), 0);
    dataset_free(&d);
    /* Truncated: by one byte, by a whole record, down to the header, inside it. */
    assert_int_equal(read_dataset(buf, size - 1, &d), 6);
    assert_int_equal(read_dataset(buf, size - 24, &d), 6);
    assert_int_equal(read_dataset(buf, 64, &d), 6);
    assert_int_equal(read_dataset(buf, 63, &d), 1);
    /* Extended by a stray record. */
    unsigned char *big = calloc(1, size + 24);
    assert_non_null(big);
    memcpy(big, buf, size);
    assert_int_equal(read_dataset(big, size + 24, &d), 6);
    free(big);
    /* A flipped bit anywhere: payload CRC, header CRC or magic. */
    for (size_t k = 0; k < size; k += 5) {
        buf[k] ^= 0x04;
        int rc = read_dataset(buf, size, &d);
        dataset_free(&d);
        assert_true(k < 8 ? rc == 2 : k < 64 ? rc == 3 : rc == 7);
        buf[k] ^= 0x04;
    }
    free(buf);
}

static void writer_errors(void **state) {
    (void)state;
    assert_int_equal(cp_expert_write(NULL, 2, 10, 1, NULL), CP_EINVAL);
    assert_int_equal(cp_expert_write("", 2, 10, 1, NULL), CP_EINVAL);
    assert_int_equal(cp_expert_write(PATH, 0, 10, 1, NULL), CP_EINVAL);
    assert_int_equal(cp_expert_write(PATH, 2, 0, 1, NULL), CP_EINVAL);
    assert_int_equal(cp_expert_write(PATH, 2, INT64_MAX, 1, NULL), CP_EINVAL);
    assert_int_equal(cp_expert_write(CP_TEST_DIR "/no/such/dir/x.cpexp", 2, 10, 1, NULL), CP_EIO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(damage_is_detected),
        cmocka_unit_test(writer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
