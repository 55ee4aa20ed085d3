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
#define LPX_VERSION     1u
#define LPX_HEADER_SIZE 64u
#define LPX_MAX_OBS_DIM (1u << 20)
#define LPX_MAX_ACTIONS (1u << 24)

typedef struct lpx_dataset {
    int64_t num_envs;     /* M: streams (batch rows) */
    int64_t num_steps;    /* N */
    int64_t obs_dim;      /* D */
    int64_t num_actions;  /* A */
    uint32_t payload_crc; /* identifies the data (checkpoints) */
    float *obs;           /* [N][M][D] */
    int32_t *action;      /* [N][M] */
    uint8_t *start;       /* [N][M] */
} lpx_dataset;

/* Read and check the file at `path`. On failure returns a negative lp_status
 * and writes the reason (what, where, how to fix) into why[why_len];
 * nothing stays allocated. */
int32_t lpx_dataset_read(const char *path, lpx_dataset *d, char *why, size_t why_len);

void lpx_dataset_free(lpx_dataset *d);

/* CRC-32 (zlib's) of n bytes, continuing from crc (start from 0). */
uint32_t lpx_crc32(uint32_t crc, const void *data, size_t n);

#endif
