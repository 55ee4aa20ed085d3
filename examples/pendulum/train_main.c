/* pendulum-train: train a Gaussian policy on Pendulum-v1 with the losses a
 * config composes (docs/pendulum.md); the command line is the examples'
 * shared one (examples/common/example_train.h). */
#include "example_train.h"
#include "pendulum_lp.h"

static void init(void *user, lp_env *env, int seed_forced) {
    pendulum_lp *p = user;
    pendulum_lp_init(p, env);
    p->seed_forced = seed_forced;
}

static void release(void *user) {
    pendulum_lp_free(user);
}

int main(int argc, char **argv) {
    pendulum_lp p;
    example_train ex = {"pendulum-train", "Pendulum-v1", "examples/pendulum/ppo.yaml", &p, init,
                        release};
    return example_train_main(argc, argv, &ex);
}
