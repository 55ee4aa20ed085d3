/* Internal: what every lp_host table lossplug hands to a plugin has in
 * common (the loader's init-time table, host_init.c, and each loss
 * instance's, session/instance.c), so that the ABI version, the name and
 * the version string a plugin sees are set in one place. */
#ifndef LP_LOADER_HOST_TABLE_H
#define LP_LOADER_HOST_TABLE_H

#include <lossplug/abi.h>

/* Zero `h` and fill its identity: struct_size, ABI major and minor, name,
 * version, and host_data. The caller then sets the callbacks. */
void lp__host_table_init(lp_host *h, void *host_data);

#endif
