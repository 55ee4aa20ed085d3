/* lpx_writer.h: writes a lossplug expert dataset (docs/losses/expert_ce.md,
 * "Dataset format") for any action space, step by step: version 1 for a
 * discrete action (what every reader of the format reads), version 2 for a
 * multi-discrete or box action. The file is written to PATH.tmp and renamed
 * over PATH by lpx_writer_close, so a failed or interrupted recording leaves
 * no half-written dataset. Depends on zlib (crc32_z) only. */
#ifndef LPX_WRITER_H
#define LPX_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* lp_action_space's values */
#define LPX_W_DISCRETE       0
#define LPX_W_MULTI_DISCRETE 1
#define LPX_W_BOX            2

typedef struct lpx_writer lpx_writer;

/* Open PATH.tmp for num_envs streams of obs_dim f32 observations and the
 * action space `space`: discrete with counts[0] choices (dims 1),
 * multi-discrete with counts[0 .. dims) or a box of `dims` f32 values
 * (counts unused). 0, or -1 with errno (EINVAL for bad arguments). */
int lpx_writer_open(lpx_writer **w, const char *path, uint32_t obs_dim, uint32_t num_envs,
                    int space, uint32_t dims, const int64_t *counts, uint64_t seed);

/* One step of every stream: obs f32[num_envs * obs_dim], actions
 * [num_envs * dims] (i32, or f32 for a box), starts u8[num_envs] (1 where
 * the observation is the first of an episode; forced to 1 at the first
 * step). An action outside its range (or not finite) is EINVAL. */
int lpx_writer_step(lpx_writer *w, const float *obs, const void *actions, const uint8_t *starts);

/* Seal the header and rename PATH.tmp to PATH; frees w in any case. */
int lpx_writer_close(lpx_writer *w);

/* Remove PATH.tmp and free w (after a failure). NULL is fine. */
void lpx_writer_abort(lpx_writer *w);

#endif
