/* example_train.h: the command line shared by the example training programs
 * (cartpole-train, pendulum-train, grid-train): options, MPI, progress,
 * stats, checkpoints and --plot around lp_train_run. An example supplies its
 * name and its lp_env; see examples/cartpole/train_main.c. */
#ifndef EXAMPLE_TRAIN_H
#define EXAMPLE_TRAIN_H

#include <lossplug/host.h>

typedef struct example_train {
    const char *prog;           /* "cartpole-train", for messages and --help */
    const char *env_name;       /* "CartPole-v1", for --help */
    const char *example_config; /* a config to name when none is given */
    void *user;                 /* the environment's state, passed to init and free */
    /* Fill `env` (lp_env_init first); seed_forced: --seed was given and wins
     * over the config's env.seed. */
    void (*init)(void *user, lp_env *env, int seed_forced);
    void (*free)(void *user);
} example_train;

/* Run the program: parse argv, train, print the result line. Returns the
 * exit status: 0 done, 130 interrupted by SIGINT, 1 error, 2 bad usage. */
int example_train_main(int argc, char **argv, const example_train *program);

#endif
