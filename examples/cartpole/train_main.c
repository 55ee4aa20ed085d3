/* cartpole-train: train a policy on CartPole-v1 with the losses a config
 * composes (docs/training.md, examples/cartpole/README.md); the command
 * line is the examples' shared one (examples/common/example_train.h). */
#include "cartpole_lp.h"
#include "example_train.h"

static void init(void *user, lp_env *env, int seed_forced) {
    cartpole_lp *cp = user;
    cartpole_lp_init(cp, env);
    cp->seed_forced = seed_forced;
}

static void release(void *user) {
    cartpole_lp_free(user);
}

int main(int argc, char **argv) {
    cartpole_lp cp;
    example_train ex = {"cartpole-train", "CartPole-v1", "examples/cartpole/ppo.yaml", &cp, init,
                        release};
    return example_train_main(argc, argv, &ex);
}
