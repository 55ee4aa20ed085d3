/* Helpers shared by the checkpoint tests: scratch directories, whole-file
 * I/O, and a look at a directory's leftovers. */
#ifndef LP_TESTS_STATE_TEST_H
#define LP_TESTS_STATE_TEST_H

#include <stddef.h>

/* A new empty directory under the build tree (mode 0755), malloc'd path. */
char *st_mkdtemp(void);

/* Remove `dir` and the files (and empty subdirectories) in it. */
void st_rmtree(const char *dir);

/* "<a>/<b>", malloc'd. */
char *st_join(const char *a, const char *b);

/* The whole file, malloc'd (size in *size); NULL when it cannot be read. */
unsigned char *st_read_file(const char *path, size_t *size);

/* Write `size` bytes to `path` (created or truncated); 0 on success. */
int st_write_file(const char *path, const void *data, size_t size);

/* Number of entries of `dir` whose name starts with `prefix`. */
int st_count_prefix(const char *dir, const char *prefix);

/* Remove the entries of `dir` whose name starts with `prefix`. */
void st_remove_prefix(const char *dir, const char *prefix);

#endif
