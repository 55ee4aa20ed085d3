/*
 * The lossplug expert dataset (docs/losses/expert_ce.md "Dataset format"):
 * a reader that checks everything the format promises and keeps the
 * records in memory as [num_steps][num_envs] arrays.
 */
#ifndef LPX_DATASET_H
#define LPX_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define LPX_MAGIC       "LPEXPERT"
#define LPX_VERSION     1u /* discrete actions: one i32 per record */
#define LPX_VERSION_2   2u /* any action space: an action descriptor after the header */
#define LPX_HEADER_SIZE 64u
#define LPX_MAX_OBS_DIM (1u << 20)
#define LPX_MAX_ACTIONS (1u << 24) /* discrete: A; multi-discrete: sum of nvec */
#define LPX_MAX_DIMS    4096u      /* action values per record (version 2) */

/* The action spaces of version 2 (lp_action_space's values). */
#define LPX_SPACE_DISCRETE       0u
#define LPX_SPACE_MULTI_DISCRETE 1u
#define LPX_SPACE_BOX            2u

typedef struct lpx_dataset {
    int64_t num_envs;     /* M: streams (batch rows) */
    int64_t num_steps;    /* N */
    int64_t obs_dim;      /* D */
    uint32_t version;     /* 1 or 2 */
    uint32_t space;       /* LPX_SPACE_* (version 1: discrete) */
    int32_t action_dims;  /* K: action values per record (discrete: 1) */
    int64_t num_actions;  /* discrete: A; multi-discrete: sum of nvec; box: 0 */
    int64_t *nvec;        /* [K] counts (discrete: {A}); NULL for a box */
    uint32_t payload_crc; /* identifies the data (checkpoints) */
    float *obs;           /* [N][M][D] */
    uint32_t *action;     /* [N][M][K] bit patterns: i32 (discrete, multi-discrete), f32 (box) */
    uint8_t *start;       /* [N][M] */
} lpx_dataset;

/* Read and check the file at `path`. On failure returns a negative lp_status
 * and writes the reason (what, where, how to fix) into why[why_len];
 * nothing stays allocated. */
int32_t lpx_dataset_read(const char *path, lpx_dataset *d, char *why, size_t why_len);

void lpx_dataset_free(lpx_dataset *d);

/* CRC-32 (zlib's crc32_z) of n bytes, continuing from crc (start from 0). */
uint32_t lpx_crc32(uint32_t crc, const void *data, size_t n);

#endif
