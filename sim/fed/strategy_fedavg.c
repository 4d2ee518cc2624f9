/* FedAvg (McMahan et al. 2017): local AdamW/SGD steps from the global
 * adapter, server averages weighted by local data size. Every hook is the
 * default. */
#include "sim/fed/strategy.h"

const fs_method fs_method_fedavg = {
    .name = "fedavg",
    .summary = "FedAvg: the data-weighted mean of the clients' adapters",
    .paper = true,
    .upload_copies = 1,
    .download_copies = 1,
};
