#include "sim/fed/partition.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/io/error.h"

#define FS_PARTITION_MAX_DRAWS 1000

/* ---- Gamma and Dirichlet ---- */

/* Marsaglia & Tsang (2000) for shape >= 1. */
static double gamma_mt(fs_rng *r, double shape)
{
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = fs_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = fs_rng_uniform(r), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
        if (log(u) < 0.5 * x2 + d * (1.0 - v + log(v))) return d * v;
    }
}

double fs_rng_gamma(fs_rng *r, double shape)
{
    if (!(shape > 0.0)) return NAN;
    if (shape >= 1.0) return gamma_mt(r, shape);
    /* Boost: G(a) = G(a+1) * U^(1/a), U in (0, 1]. */
    double g = gamma_mt(r, shape + 1.0), u = 1.0 - fs_rng_uniform(r);
    return g * pow(u, 1.0 / shape);
}

/* log of a Gamma(shape, 1) sample, same draws as fs_rng_gamma but without
 * underflow for tiny shapes (U^(1/a) is 0 in double for a ~ 0.001). */
static double log_gamma_sample(fs_rng *r, double shape)
{
    if (shape >= 1.0) return log(gamma_mt(r, shape));
    double g = gamma_mt(r, shape + 1.0), u = 1.0 - fs_rng_uniform(r);
    return log(g) + log(u) / shape;
}

void fs_dirichlet_proportions(fs_rng *r, int categories, int clients, double alpha, double *p)
{
    if (clients < 1 || categories < 1) return;
    const double uniform = 1.0 / clients;
    if (!(alpha > 0.0) || isinf(alpha) || clients == 1) {
        for (long i = 0; i < (long)categories * clients; i++) p[i] = uniform;
        return;
    }
    for (int c = 0; c < categories; c++) {
        double *row = p + (long)c * clients, mx = -INFINITY, s = 0.0;
        for (int k = 0; k < clients; k++) {
            row[k] = log_gamma_sample(r, alpha);
            if (row[k] > mx) mx = row[k];
        }
        /* Normalise by the largest: it becomes exp(0) = 1, so s >= 1. */
        for (int k = 0; k < clients; k++) s += row[k] = exp(row[k] - mx);
        for (int k = 0; k < clients; k++) row[k] /= s;
    }
}

/* ---- proportions -> counts -> assignment ---- */

typedef struct {
    const double *row; /* shares of this category over the clients */
    double sum;        /* of the valid (positive, finite) shares; 0 = share uniformly */
    int clients, n;
} share_row;

static double share_target(const share_row *s, int k)
{
    if (s->sum == 0.0) return (double)s->n / s->clients;
    double w = s->row[k];
    if (!(w > 0.0) || isinf(w)) return 0.0;
    return s->n * (w / s->sum);
}

static double share_frac(const share_row *s, int k)
{
    double t = share_target(s, k);
    return t - floor(t);
}

/* Largest-remainder counts of one category (n examples) over the clients,
 * written to out[k*stride]. Ties in the fractional parts go first to clients
 * from *start on (cyclically); *start then advances past the clients that got
 * an extra example, so equal shares deal round-robin across categories. */
static void category_counts(const double *row, int clients, int n, int *start, int *out,
                            int stride)
{
    share_row s = {row, 0.0, clients, n};
    for (int k = 0; k < clients; k++)
        if (row[k] > 0.0 && !isinf(row[k])) s.sum += row[k];
    if (!(s.sum > 0.0) || isinf(s.sum)) s.sum = 0.0;

    long long total = 0;
    for (int k = 0; k < clients; k++) {
        int base = (int)floor(share_target(&s, k));
        out[(long)k * stride] = base;
        total += base;
    }
    long long rem = n - total;
    /* Rounding cannot push the floors past n for any realistic n; keep the
     * sum exact regardless. */
    while (rem < 0) {
        int big = 0;
        for (int k = 1; k < clients; k++)
            if (out[(long)k * stride] > out[(long)big * stride]) big = k;
        out[(long)big * stride]--, rem++;
    }
    if (rem >= clients) {
        for (int k = 0; k < clients; k++) out[(long)k * stride] += (int)(rem / clients);
        rem %= clients;
    }
    if (rem == 0) return;
    /* Client k gets one more when fewer than rem clients precede it in the
     * order (fraction descending, then cyclic distance from *start). */
    for (int k = 0; k < clients; k++) {
        double fk = share_frac(&s, k);
        int dk = (k - *start + clients) % clients;
        long long rank = 0;
        for (int j = 0; j < clients && rank < rem; j++) {
            if (j == k) continue;
            double fj = share_frac(&s, j);
            int dj = (j - *start + clients) % clients;
            rank += fj > fk || (fj == fk && dj < dk);
        }
        if (rank < rem) out[(long)k * stride]++;
    }
    *start = (int)((*start + rem) % clients);
}

/* counts[c] (client 0's row) holds the size of category c on entry; the whole
 * [clients x categories] table of target counts on return. */
static void fill_table(const double *p, int categories, int clients, int *counts)
{
    int start = 0;
    for (int c = 0; c < categories; c++) {
        int n_c = counts[c];
        category_counts(p + (long)c * clients, clients, n_c, &start, counts + c, categories);
    }
}

/* Deals each example to a client drawn with probability proportional to what
 * its category still owes that client (sequential sampling without
 * replacement: every assignment meeting the counts is equally likely, exactly
 * as shuffling the category and cutting it into chunks). remaining is consumed. */
static void assign(fs_rng *r, const int *keys, int n, int categories, int clients,
                   int *remaining, int *client_of)
{
    for (int i = 0; i < n; i++) {
        int c = keys[i];
        client_of[i] = -1;
        if (c < 0 || c >= categories) continue;
        long long left = 0;
        for (int k = 0; k < clients; k++) left += remaining[(long)k * categories + c];
        if (left <= 0) continue; /* cannot happen: the counts of c sum to its size */
        uint64_t u = fs_rng_below(r, (uint64_t)left);
        for (int k = 0; k < clients; k++) {
            int *v = &remaining[(long)k * categories + c];
            if (u < (uint64_t)*v) {
                client_of[i] = k;
                (*v)--;
                break;
            }
            u -= (uint64_t)*v;
        }
    }
}

static void recount(const int *keys, int n, int categories, int clients, const int *client_of,
                    int *counts)
{
    memset(counts, 0, (size_t)categories * clients * sizeof *counts);
    for (int i = 0; i < n; i++)
        if (client_of[i] >= 0) counts[(long)client_of[i] * categories + keys[i]]++;
}

void fs_partition_by_proportions(fs_rng *r, const int *keys, int n, int categories, int clients,
                                 const double *p, int *client_of, int *counts)
{
    if (categories < 1 || clients < 1) return;
    memset(counts, 0, (size_t)categories * clients * sizeof *counts);
    for (int i = 0; i < n; i++)
        if (keys[i] >= 0 && keys[i] < categories) counts[keys[i]]++;
    fill_table(p, categories, clients, counts);
    assign(r, keys, n, categories, clients, counts, client_of);
    recount(keys, n, categories, clients, client_of, counts);
}

int fs_partition_dirichlet(uint64_t seed, const int *keys, int n, int categories, int clients,
                           double alpha, int min_per_client, double *p, int *client_of, int *counts)
{
    if (clients < 1) return fs_fail("partition: the number of clients must be >= 1 (got %d)", clients);
    if (categories < 1)
        return fs_fail("partition: the number of categories must be >= 1 (got %d)", categories);
    if ((long long)clients * categories > INT_MAX)
        return fs_fail("partition: %d clients x %d categories is too large a table", clients,
                       categories);
    if (n < 0) return fs_fail("partition: the number of examples must be >= 0 (got %d)", n);
    if (!(alpha > 0.0))
        return fs_fail("partition: Dirichlet alpha must be > 0 (got %g); use inf for an IID split",
                       alpha);
    if (min_per_client < 0)
        return fs_fail("partition: the minimum examples per client must be >= 0 (got %d)",
                       min_per_client);
    if ((long long)n < (long long)clients * min_per_client)
        return fs_fail("partition: %d examples cannot give each of %d clients at least %d "
                       "(that needs %lld); use fewer clients or a smaller minimum",
                       n, clients, min_per_client, (long long)clients * min_per_client);
    if (!p || !counts || (n > 0 && (!keys || !client_of)))
        return fs_fail("partition: NULL output or key array");
    for (int i = 0; i < n; i++)
        if (keys[i] < 0 || keys[i] >= categories)
            return fs_fail("partition: example %d has category key %d, outside [0, %d)", i,
                           keys[i], categories);

    int *ncat = calloc((size_t)categories, sizeof *ncat);
    if (!ncat) return fs_fail("partition: out of memory");
    for (int i = 0; i < n; i++) ncat[keys[i]]++;

    fs_rng r = fs_rng_seed(seed);
    const int iid = isinf(alpha), draws = iid ? 1 : FS_PARTITION_MAX_DRAWS;
    int ok = 0, best = -1;
    for (int t = 0; t < draws && !ok; t++) {
        fs_dirichlet_proportions(&r, categories, clients, alpha, p);
        memcpy(counts, ncat, (size_t)categories * sizeof *counts);
        fill_table(p, categories, clients, counts);
        int smallest = INT_MAX;
        for (int k = 0; k < clients; k++) {
            long long tot = 0;
            for (int c = 0; c < categories; c++) tot += counts[(long)k * categories + c];
            if (tot < smallest) smallest = (int)tot;
        }
        if (smallest > best) best = smallest;
        ok = smallest >= min_per_client;
    }
    free(ncat);
    if (!ok)
        return fs_fail("partition: no Dirichlet(alpha=%g) draw out of %d gave each of %d clients "
                       "at least %d of the %d examples (best draw: smallest client %d); use a "
                       "larger alpha, fewer clients or a smaller minimum",
                       alpha, draws, clients, min_per_client, n, best);
    assign(&r, keys, n, categories, clients, counts, client_of);
    recount(keys, n, categories, clients, client_of, counts);
    return 0;
}

/* ---- string keys -> dense category ids ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *dup_str(const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d) memcpy(d, s, len);
    return d;
}

void fs_categories_free(char **names, int categories)
{
    if (!names) return;
    for (int i = 0; i < categories; i++) free(names[i]);
    free(names);
}

int fs_categories_from_strings(const char *const *keys, int n, int *ids, char ***names,
                               int *categories)
{
    *names = NULL;
    *categories = 0;
    if (n < 0) return fs_fail("categories: the number of keys must be >= 0 (got %d)", n);
    for (int i = 0; i < n; i++)
        if (!keys[i]) return fs_fail("categories: key %d is missing (NULL)", i);
    if (n == 0) return 0;

    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return fs_fail("categories: out of memory sorting %d keys", n);
    memcpy(sorted, keys, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[m - 1]) != 0) sorted[m++] = sorted[i];

    char **out = calloc((size_t)m, sizeof *out);
    if (!out) {
        free(sorted);
        return fs_fail("categories: out of memory");
    }
    for (int j = 0; j < m; j++) {
        if (!(out[j] = dup_str(sorted[j]))) {
            fs_categories_free(out, j);
            free(sorted);
            return fs_fail("categories: out of memory");
        }
    }
    free(sorted);
    if (ids)
        for (int i = 0; i < n; i++) {
            char **hit = bsearch(&keys[i], out, (size_t)m, sizeof *out, cmp_str);
            ids[i] = (int)(hit - out);
        }
    *names = out;
    *categories = m;
    return 0;
}
