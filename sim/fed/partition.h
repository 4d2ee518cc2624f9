/* Data partitioning for the federation: Dirichlet(alpha) label-distribution
 * skew over a categorical key of each example (DESIGN.md section 1,
 * "Heterogeneity"), as in NIID-Bench / FedNano's setup. All randomness comes
 * from fs_rng, so a seed gives the same partition on every platform.
 *
 * Layouts: proportions p[c*clients + k] (row c = how category c is shared
 * among the clients, rows sum to 1); counts[k*categories + c] (examples of
 * category c held by client k). */
#ifndef FEDSIM_PARTITION_H
#define FEDSIM_PARTITION_H

#include <stdint.h>

#include "sim/io/rng.h"

/* Gamma(shape, 1) sample (Marsaglia-Tsang, with the shape<1 boost
 * G(shape) = G(shape+1) * U^(1/shape)). shape <= 0 or NaN gives NaN. */
double fs_rng_gamma(fs_rng *r, double shape);

/* p[c*clients + k]: for each category c, client shares ~ Dirichlet(alpha) over
 * clients (rows sum to 1). Sampled in log space, so even tiny alpha never
 * gives an all-zero row. alpha == INFINITY (IID) gives exactly uniform shares
 * 1/clients and draws nothing from r. alpha must be > 0 (NaN or alpha <= 0
 * also gives uniform shares; fs_partition_dirichlet rejects them). */
void fs_dirichlet_proportions(fs_rng *r, int categories, int clients, double alpha, double *p);

/* Splits examples by their category keys[i] in [0,categories): within each
 * category the examples are dealt to clients in chunks whose sizes come from
 * the shares p[c*clients + k] (largest-remainder rounding, so the counts of a
 * category sum exactly to its size; ties in the remainder rotate over the
 * clients from one category to the next, so uniform shares deal round-robin
 * balanced: per-client totals then differ by at most 1). Which examples land
 * in which chunk is uniformly random, exactly as shuffling the category and
 * cutting it into consecutive chunks (done as sequential draws without
 * replacement, so no memory is allocated; O(n * clients)). Rows of p need not
 * be normalized (negative / NaN shares count as 0; an all-zero row is shared
 * uniformly). Writes client_of[i] and counts[k*categories + c]; an example
 * whose key is out of range gets client_of[i] = -1 and is not counted
 * (fs_partition_dirichlet rejects such keys). n == 0 is fine. */
void fs_partition_by_proportions(fs_rng *r, const int *keys, int n, int categories, int clients,
                                 const double *p, int *client_of, int *counts);

/* Label-skew Dirichlet partition: draws proportions and partitions, redrawing
 * the proportions until every client has at least min_per_client examples (at
 * most 1000 draws, then fs_fail with a message suggesting a larger alpha,
 * fewer clients or a smaller minimum). IID (alpha = INFINITY): a uniform
 * shuffle dealt round-robin-balanced per category (per-category and per-client
 * counts differ by at most 1). Writes p [categories x clients] (so the caller
 * can split a test set with the same category mix per client, see
 * fs_partition_by_proportions), client_of [n] and counts [clients x categories].
 * Validates arguments (n >= clients*min_per_client, clients >= 1,
 * categories >= 1, alpha > 0, keys in range) with clear messages.
 * Returns 0, or -1 with fs_last_error() set. */
int fs_partition_dirichlet(uint64_t seed, const int *keys, int n, int categories, int clients,
                           double alpha, int min_per_client, double *p, int *client_of, int *counts);

/* Maps string keys to dense category ids in sorted (strcmp) order, so ids do
 * not depend on example order: ids[i] is the index of keys[i] in *names.
 * names: malloc'd array of malloc'd strings (NULL when n == 0), *categories
 * its length; the caller frees it with fs_categories_free. Returns 0, or -1
 * (NULL key, out of memory) with fs_last_error() set and nothing allocated. */
int fs_categories_from_strings(const char *const *keys, int n, int *ids, char ***names,
                               int *categories);
void fs_categories_free(char **names, int categories);

#endif
