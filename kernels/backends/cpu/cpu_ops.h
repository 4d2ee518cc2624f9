/* CPU backend: for every op, a plain single-threaded reference (_ref) that
 * states the math as directly as possible, and the fast version the op table
 * uses (oneDNN's GEMM + OpenMP). Tests check the fast one against the reference and
 * the reference's backward against finite differences. Signatures and
 * semantics are those of the matching fs_ops entry in kernels/ops.h. */
#ifndef FEDSIM_CPU_OPS_H
#define FEDSIM_CPU_OPS_H

#include "kernels/ops.h"

/* Row-major C = alpha op(A) op(B) + beta C (BLAS semantics: beta 0 does not
 * read C) through oneDNN (blas.c); on OpenMP's threads, or on the calling
 * thread alone inside a parallel region. */
void fs_cpu_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The build targets x86-64-v2 (SSE4.2) so that one binary runs anywhere; a hot
 * elementwise loop marked FS_CPU_VECTOR is also compiled for AVX2 and AVX-512,
 * and the loader picks the best this CPU has (GCC function multi-versioning).
 * Such loops carry `#pragma omp simd`: GCC's -O2 cost model would leave them
 * scalar. None uses FMA contraction (ISO C), so every version computes the
 * same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define FS_CPU_VECTOR __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FS_CPU_VECTOR
#endif

/* Host scratch inside an op (malloc'd, not zeroed; free() it); out of
 * memory is reported by fs_op_oom (ops.h: by default the process ends). */
void *fs_cpu_scratch(size_t bytes, const char *what);

/* Norm weights and biases on the CPU backend must be F32; this returns their data. */
const float *fs_cpu_weight_f32(const fs_tensor *t);
/* Rows [row0, row0 + nrows) of a [rows, cols] linear weight or embedding table
 * as f32: a pointer into the tensor when it is F32, else the rows converted
 * from BF16/F16 into scratch (nrows * cols floats; data 2-byte aligned). The
 * 16-bit case lets a checkpoint's weights stay memory-mapped as stored. */
const float *fs_cpu_weight_rows_f32(const fs_tensor *t, long row0, long nrows, long cols,
                                    float *scratch);

void fs_cpu_matmul_ref(float *C, const float *A, const float *B, int batch, int M, int N, int K, bool transA, bool transB, float alpha, float beta, long strideA, long strideB, long strideC);
void fs_cpu_matmul(float *C, const float *A, const float *B, int batch, int M, int N, int K, bool transA, bool transB, float alpha, float beta, long strideA, long strideB, long strideC);

void fs_cpu_linear_fwd_ref(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias, int n, int in, int out);
void fs_cpu_linear_fwd(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias, int n, int in, int out);

void fs_cpu_linear_bwd_ref(float *dx, float *dW, float *dbias, const float *dy, const float *x, const fs_tensor *W, int n, int in, int out);
void fs_cpu_linear_bwd(float *dx, float *dW, float *dbias, const float *dy, const float *x, const fs_tensor *W, int n, int in, int out);

void fs_cpu_add_ref(float *y, const float *a, const float *b, long n);
void fs_cpu_add(float *y, const float *a, const float *b, long n);

void fs_cpu_axpy_ref(float *y, float alpha, const float *x, long n);
void fs_cpu_axpy(float *y, float alpha, const float *x, long n);

double fs_cpu_sum_ref(const float *x, long n);
double fs_cpu_sum(const float *x, long n);

void fs_cpu_embedding_fwd_ref(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim);
void fs_cpu_embedding_fwd(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim);

void fs_cpu_embedding_bwd_ref(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                              int vocab);
void fs_cpu_embedding_bwd(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                          int vocab);

void fs_cpu_layernorm_fwd_ref(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w, const fs_tensor *b, int n, int dim, float eps);
void fs_cpu_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w, const fs_tensor *b, int n, int dim, float eps);

void fs_cpu_layernorm_bwd_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const fs_tensor *w, const float *mean, const float *rstd, int n, int dim);
void fs_cpu_layernorm_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const fs_tensor *w, const float *mean, const float *rstd, int n, int dim);

void fs_cpu_rmsnorm_fwd_ref(float *y, float *rstd, const float *x, const fs_tensor *w, int n, int dim, float eps);
void fs_cpu_rmsnorm_fwd(float *y, float *rstd, const float *x, const fs_tensor *w, int n, int dim, float eps);

void fs_cpu_rmsnorm_bwd_ref(float *dx, float *dw, const float *dy, const float *x, const fs_tensor *w, const float *rstd, int n, int dim);
void fs_cpu_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const fs_tensor *w, const float *rstd, int n, int dim);

void fs_cpu_rope_fwd_ref(float *y, const float *x, const int32_t *pos, int ntok, int nheads, int head_dim, float theta);
void fs_cpu_rope_fwd(float *y, const float *x, const int32_t *pos, int ntok, int nheads, int head_dim, float theta);

void fs_cpu_rope_bwd_ref(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads, int head_dim, float theta);
void fs_cpu_rope_bwd(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads, int head_dim, float theta);

void fs_cpu_attention_fwd_ref(float *out, float *lse, const float *q, const float *k, const float *v, int B, int T, int Hq, int Hkv, int D, bool causal);
void fs_cpu_attention_fwd(float *out, float *lse, const float *q, const float *k, const float *v, int B, int T, int Hq, int Hkv, int D, bool causal);

void fs_cpu_attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v, const float *out, const float *lse, int B, int T, int Hq, int Hkv, int D, bool causal);
void fs_cpu_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v, const float *out, const float *lse, int B, int T, int Hq, int Hkv, int D, bool causal);

void fs_cpu_gelu_fwd_ref(float *y, const float *x, long n);
void fs_cpu_gelu_fwd(float *y, const float *x, long n);

void fs_cpu_gelu_bwd_ref(float *dx, const float *dy, const float *x, long n);
void fs_cpu_gelu_bwd(float *dx, const float *dy, const float *x, long n);

void fs_cpu_quick_gelu_fwd_ref(float *y, const float *x, long n);
void fs_cpu_quick_gelu_fwd(float *y, const float *x, long n);

void fs_cpu_quick_gelu_bwd_ref(float *dx, const float *dy, const float *x, long n);
void fs_cpu_quick_gelu_bwd(float *dx, const float *dy, const float *x, long n);

void fs_cpu_swiglu_fwd_ref(float *y, const float *gate, const float *up, long n);
void fs_cpu_swiglu_fwd(float *y, const float *gate, const float *up, long n);

void fs_cpu_swiglu_bwd_ref(float *dgate, float *dup, const float *dy, const float *gate, const float *up, long n);
void fs_cpu_swiglu_bwd(float *dgate, float *dup, const float *dy, const float *gate, const float *up, long n);

void fs_cpu_xent_fwd_ref(float *loss, const float *logits, const int32_t *targets, int n, int V);
void fs_cpu_xent_fwd(float *loss, const float *logits, const int32_t *targets, int n, int V);

void fs_cpu_xent_bwd_ref(float *dlogits, const float *dloss, const float *logits, const int32_t *targets, int n, int V);
void fs_cpu_xent_bwd(float *dlogits, const float *dloss, const float *logits, const int32_t *targets, int n, int V);

void fs_cpu_lora_fwd_ref(float *y, float *u, const float *x, const float *A, const float *B, const int32_t *group, int n, int in, int out, int r, float scale);
void fs_cpu_lora_fwd(float *y, float *u, const float *x, const float *A, const float *B, const int32_t *group, int n, int in, int out, int r, float scale);

void fs_cpu_lora_bwd_ref(float *dx, float *dA, float *dB, const float *dy, const float *x, const float *u, const float *A, const float *B, const int32_t *group, int n, int in, int out, int r, float scale);
void fs_cpu_lora_bwd(float *dx, float *dA, float *dB, const float *dy, const float *x, const float *u, const float *A, const float *B, const int32_t *group, int n, int in, int out, int r, float scale);

void fs_cpu_adamw_ref(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups, long per_group, float lr, float beta1, float beta2, float eps, float weight_decay);
void fs_cpu_adamw(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups, long per_group, float lr, float beta1, float beta2, float eps, float weight_decay);

void fs_cpu_lora_fisher_accum_ref(float *FA, float *FB, const float *dy, const float *x, const float *u, const float *B, const int32_t *sample_of_row, const int32_t *group_of_sample, const float *sample_weight, int n, int nsamples, int in, int out, int r, float scale);
void fs_cpu_lora_fisher_accum(float *FA, float *FB, const float *dy, const float *x, const float *u, const float *B, const int32_t *sample_of_row, const int32_t *group_of_sample, const float *sample_weight, int n, int nsamples, int in, int out, int r, float scale);

void fs_cpu_scale_rows_ref(float *y, const float *x, const float *s, int n, int dim);
void fs_cpu_scale_rows(float *y, const float *x, const float *s, int n, int dim);

/* The reference is also the op: the Q-Former's attention is small (32 queries). */
void fs_cpu_cross_attention_fwd(float *out, const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H, int D);

#endif
