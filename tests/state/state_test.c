#include "state_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *st_mkdtemp(void) {
    char *dir = st_join(LP_STATE_TEST_DIR, "scratch.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    chmod(dir, 0755);
    return dir;
}

char *st_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

void st_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char *p;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = st_join(dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

unsigned char *st_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *size = (size_t)n;
    }
    fclose(f);
    return buf;
}

int st_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    int rc;
    if (f == NULL)
        return -1;
    rc = fwrite(data, 1, size, f) == size ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int st_count_prefix(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

void st_remove_prefix(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char *p = st_join(dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}
