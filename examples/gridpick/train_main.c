/* gridpick-train: train a multi-discrete policy on the item-collecting grid with the losses a
 * config composes (docs/gridpick.md); the command line is the examples'
 * shared one (examples/common/example_train.h). */
#include "example_train.h"
#include "gridpick_lp.h"

static void init(void *user, lp_env *env, int seed_forced) {
    gridpick_lp *p = user;
    gridpick_lp_init(p, env);
    p->seed_forced = seed_forced;
}

static void release(void *user) {
    gridpick_lp_free(user);
}

int main(int argc, char **argv) {
    gridpick_lp p;
    example_train ex = {"gridpick-train",
                        "the item-collecting grid (gridpick)",
                        "examples/gridpick/ppo.yaml",
                        &p,
                        init,
                        release};
    return example_train_main(argc, argv, &ex);
}
