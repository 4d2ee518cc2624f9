/* Seeded, platform-independent random numbers (xoshiro256**), so that the
 * same seed gives the same run everywhere. */
#ifndef FEDSIM_RNG_H
#define FEDSIM_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } fs_rng;

fs_rng fs_rng_seed(uint64_t seed);
uint64_t fs_rng_u64(fs_rng *r);
double fs_rng_uniform(fs_rng *r);           /* [0, 1) */
double fs_rng_normal(fs_rng *r);            /* standard normal (Box-Muller) */
uint64_t fs_rng_below(fs_rng *r, uint64_t n); /* uniform in [0, n) */

#endif
