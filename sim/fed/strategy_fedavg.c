/* FedAvg (McMahan et al. 2017): local AdamW/SGD steps from the global
 * adapter, server averages weighted by local data size. */
#include "sim/fed/strategy.h"

static size_t upload(const fs_fed_run *r) { return fs_adapter_params(&r->global.shape); }

const fs_strategy fs_strategy_fedavg = {
    .name = "fedavg",
    .fit = fs_fit_from_global,
    .aggregate = fs_aggregate_mean,
    .evaluate = fs_evaluate_global,
    .upload_floats = upload,
};
