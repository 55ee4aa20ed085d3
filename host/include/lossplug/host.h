/*
 * lossplug/host.h: the whole embedding API in one include, for programs
 * written before it was split by audience. New code includes what it uses:
 *
 *   lossplug/registry.h    the library (lp_error, status names, version) and
 *                          the plugin registry
 *   lossplug/session.h     sessions: a config's losses over one buffer, the
 *                          lifecycle, stats (includes lossplug/model.h, the
 *                          model interface of the train phase)
 *   lossplug/checkpoint.h  session checkpoints with the program's tensors
 *   lossplug/config.h      a config read before a session, and the strict
 *                          reader of the program's own sections
 *   lossplug/mlp.h         the reference MLP and its lp_model adapter
 *   lossplug/adam.h        the Adam optimizer
 *   lossplug/train.h       the training loop lp_train_run and its printer
 *
 * lossplug/rnn.h (the recurrent model) and lossplug/comm.h (the
 * communicator of data-parallel training) stand alone, as before.
 */
#ifndef LOSSPLUG_HOST_H
#define LOSSPLUG_HOST_H

#include <lossplug/adam.h>
#include <lossplug/checkpoint.h>
#include <lossplug/config.h>
#include <lossplug/mlp.h>
#include <lossplug/model.h>
#include <lossplug/registry.h>
#include <lossplug/session.h>
#include <lossplug/train.h>

#endif /* LOSSPLUG_HOST_H */
