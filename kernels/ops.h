/* The backend-neutral op table: every numeric operation fedsim needs, once.
 *
 * Conventions (all backends):
 *  - Tensors are dense, row-major. Pointers passed to ops are backend memory
 *    (host memory for the CPU backend, device memory for CUDA) unless a
 *    parameter says "host".
 *  - Forward ops overwrite their outputs.
 *  - Backward ops ACCUMULATE (+=) into every gradient output, so residual
 *    branches and shared parameters need no extra adds. Any gradient output may
 *    be NULL to skip it: the federated path needs input gradients only and
 *    passes NULL for every frozen weight.
 *  - Weights of linear layers and embedding tables are fs_tensor: F32 on every
 *    backend, also BF16 and F16 on the CPU (converted in row blocks, f32
 *    arithmetic) and BF16 on CUDA (bf16 GEMM inputs, f32 accumulation). Norm
 *    weights and biases are F32 on the CPU; CUDA also takes BF16/F16 ones.
 *  - Row index arrays (ids, targets, positions, group) are int32 in backend
 *    memory.
 */
#ifndef FEDSIM_OPS_H
#define FEDSIM_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { FS_F32 = 0, FS_BF16 = 1, FS_F16 = 2 } fs_dtype;

#define FS_MAX_DIMS 4

/* A view of weight memory owned by someone else (the model). */
typedef struct {
    void *data;
    fs_dtype dtype;
    int ndim;
    int64_t shape[FS_MAX_DIMS];
} fs_tensor;

size_t fs_dtype_size(fs_dtype t);
const char *fs_dtype_name(fs_dtype t);
int64_t fs_tensor_numel(const fs_tensor *t);
float fs_bf16_to_f32(uint16_t h);
uint16_t fs_f32_to_bf16(float f); /* round to nearest even */
float fs_f16_to_f32(uint16_t h);
/* Converts n values of dtype src to f32 (host memory). */
void fs_convert_to_f32(float *dst, const void *src, fs_dtype src_dtype, size_t n);

typedef struct fs_ops {
    const char *name;

    /* ---- memory ---- */
    void *(*alloc)(size_t bytes); /* zero-filled; NULL on out-of-memory */
    void (*free)(void *p);
    void (*zero)(void *p, size_t bytes);
    void (*to_device)(void *dst, const void *host_src, size_t bytes);
    void (*to_host)(void *host_dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*synchronize)(void);
    /* Free and total bytes of this backend's memory (host: available RAM,
     * bounded by an address-space limit; CUDA: cudaMemGetInfo), for
     * out-of-memory messages. 0, or -1 when unknown. */
    int (*mem_info)(size_t *free_bytes, size_t *total_bytes);

    /* ---- dense algebra ---- */
    /* For b in [0,batch): C_b = alpha * op(A_b) op(B_b) + beta * C_b, with
     * op(A_b) M x K, op(B_b) K x N, C_b M x N; X_b = X + b * strideX. */
    void (*matmul)(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                   bool transA, bool transB, float alpha, float beta, long strideA, long strideB,
                   long strideC);
    /* y[n, o] = sum_i x[n, i] W[o, i] + bias[o]; W is [out, in] (PyTorch layout), bias may be NULL. */
    void (*linear_fwd)(float *y, const float *x, const fs_tensor *W, const fs_tensor *bias, int n,
                       int in, int out);
    void (*linear_bwd)(float *dx, float *dW, float *dbias, const float *dy, const float *x,
                       const fs_tensor *W, int n, int in, int out);
    /* y = a + b elementwise (y may alias a or b). */
    void (*add)(float *y, const float *a, const float *b, long n);
    /* y += alpha * x */
    void (*axpy)(float *y, float alpha, const float *x, long n);
    /* Sum of x, returned to the host (synchronises). */
    double (*sum)(const float *x, long n);

    /* ---- embeddings and norms ---- */
    /* y[n, :] = table[ids[n], :]; table is [vocab, dim]. An id outside
     * [0, vocab) (forward and backward alike) is a bug upstream: every
     * backend reports "embedding: token id ... is outside [0, vocab)" as an
     * FS_OP_BAD_INPUT error (fs_op_error). */
    void (*embedding_fwd)(float *y, const int32_t *ids, const fs_tensor *table, int n, int dim);
    /* dtable[ids[n], :] += dy[n, :]; dtable is [vocab, dim]. */
    void (*embedding_bwd)(float *dtable, const float *dy, const int32_t *ids, int n, int dim,
                          int vocab);
    /* mean and rstd ([n]) are saved for the backward pass. */
    void (*layernorm_fwd)(float *y, float *mean, float *rstd, const float *x, const fs_tensor *w,
                          const fs_tensor *b, int n, int dim, float eps);
    void (*layernorm_bwd)(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const fs_tensor *w, const float *mean, const float *rstd, int n, int dim);
    /* y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) (LLaMA RMSNorm). */
    void (*rmsnorm_fwd)(float *y, float *rstd, const float *x, const fs_tensor *w, int n, int dim,
                        float eps);
    void (*rmsnorm_bwd)(float *dx, float *dw, const float *dy, const float *x, const fs_tensor *w,
                        const float *rstd, int n, int dim);

    /* ---- positional ---- */
    /* Rotary embedding, Hugging Face LLaMA "rotate_half" convention: x is
     * [ntok, nheads, head_dim], element j < head_dim/2 pairs with j + head_dim/2,
     * inv_freq[j] = theta^(-2j/head_dim), angle = pos[tok] * inv_freq[j].
     * y may alias x. */
    void (*rope_fwd)(float *y, const float *x, const int32_t *pos, int ntok, int nheads,
                     int head_dim, float theta);
    void (*rope_bwd)(float *dx, const float *dy, const int32_t *pos, int ntok, int nheads,
                     int head_dim, float theta);

    /* ---- attention ---- */
    /* q: [B, T, Hq, D]; k, v: [B, T, Hkv, D] (Hq % Hkv == 0, query head h uses
     * kv head h / (Hq/Hkv)); out: [B, T, Hq, D]; lse: [B, Hq, T], the
     * log-sum-exp of the scaled scores of each query row, kept so the backward
     * recomputes probabilities instead of storing a T x T matrix.
     * Scale 1/sqrt(D). causal: query t sees keys 0..t. */
    void (*attention_fwd)(float *out, float *lse, const float *q, const float *k, const float *v,
                          int B, int T, int Hq, int Hkv, int D, bool causal);
    void (*attention_bwd)(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *out, const float *lse,
                          int B, int T, int Hq, int Hkv, int D, bool causal);

    /* ---- activations ---- */
    void (*gelu_fwd)(float *y, const float *x, long n); /* exact: 0.5 x (1 + erf(x/sqrt2)) */
    void (*gelu_bwd)(float *dx, const float *dy, const float *x, long n);
    void (*quick_gelu_fwd)(float *y, const float *x, long n); /* x * sigmoid(1.702 x) */
    void (*quick_gelu_bwd)(float *dx, const float *dy, const float *x, long n);
    /* y = silu(gate) * up */
    void (*swiglu_fwd)(float *y, const float *gate, const float *up, long n);
    void (*swiglu_bwd)(float *dgate, float *dup, const float *dy, const float *gate,
                       const float *up, long n);

    /* ---- loss ---- */
    /* loss[i] = -log softmax(logits[i, :])[targets[i]]; rows with targets[i] < 0 give 0. */
    void (*xent_fwd)(float *loss, const float *logits, const int32_t *targets, int n, int V);
    /* dlogits[i] += dloss[i] * (softmax(logits[i]) - onehot(targets[i])); rows with targets < 0 skipped. */
    void (*xent_bwd)(float *dlogits, const float *dloss, const float *logits,
                     const int32_t *targets, int n, int V);

    /* ---- grouped LoRA (one adapter per client, rows tagged by client) ---- */
    /* For each row i with g = group[i] >= 0:
     *   u[i] = A_g x[i]            (A: [G, r, in], u: [n, r], saved for backward)
     *   y[i] += scale * B_g u[i]   (B: [G, out, r])
     * Rows with group < 0 get u = 0 and y untouched. */
    void (*lora_fwd)(float *y, float *u, const float *x, const float *A, const float *B,
                     const int32_t *group, int n, int in, int out, int r, float scale);
    /* dB_g += scale * dy u^T; du = scale * B_g^T dy; dA_g += du x^T; dx += A_g^T du. */
    void (*lora_bwd)(float *dx, float *dA, float *dB, const float *dy, const float *x,
                     const float *u, const float *A, const float *B, const int32_t *group, int n,
                     int in, int out, int r, float scale);

    /* Per-sample squared LoRA gradients, accumulated into a diagonal Fisher
     * without materialising any per-sample gradient. Row i belongs to sample
     * sample_of_row[i] (< 0: skipped); sample j belongs to adapter group
     * group_of_sample[j] (host arrays are NOT used: all four index/weight
     * arrays are backend memory). For each sample j, g = group_of_sample[j]:
     *   dB_j = scale * sum_{i in j} dy_i u_i^T,  dA_j = scale * sum_{i in j} (B_g^T dy_i) x_i^T
     *   FA_g += sample_weight[j] * dA_j^2,  FB_g += sample_weight[j] * dB_j^2   (elementwise)
     * FA: [G, r, in], FB: [G, out, r]; u as saved by lora_fwd. */
    void (*lora_fisher_accum)(float *FA, float *FB, const float *dy, const float *x,
                              const float *u, const float *B, const int32_t *sample_of_row,
                              const int32_t *group_of_sample, const float *sample_weight, int n,
                              int nsamples, int in, int out, int r, float scale);
    /* y[i, :] = s[i] * x[i, :] (y may alias x); s is backend memory [n]. */
    void (*scale_rows)(float *y, const float *x, const float *s, int n, int dim);

    /* ---- optimiser ---- */
    /* AdamW (decoupled weight decay, PyTorch semantics) over ngroups
     * contiguous blocks of per_group parameters (one block per client).
     * step (host array, [ngroups]) is the 1-based step number of each block
     * used for bias correction; step 0 leaves the block untouched. */
    void (*adamw)(float *p, const float *g, float *m, float *v, const int32_t *step, int ngroups,
                  long per_group, float lr, float beta1, float beta2, float eps,
                  float weight_decay);

    /* ---- attention of Tq queries over Tk other tokens (BLIP-2's Q-Former) ---- */
    /* Non-causal, forward only (the Q-Former is frozen): q: [B, Tq, H, D];
     * k, v: [B, Tk, H, D]; out: [B, Tq, H, D];
     *   out_i = sum_j softmax_j(q_i . k_j / sqrt(D)) v_j   over the Tk tokens of the same b.
     * Tq may equal Tk (the Q-Former's self-attention over its queries); Tk >= 1. */
    void (*cross_attention_fwd)(float *out, const float *q, const float *k, const float *v, int B,
                                int Tq, int Tk, int H, int D);
} fs_ops;

/* Always available. */
const fs_ops *fs_backend_cpu(void);
/* NULL when fedsim was built without CUDA or no device is usable; *why (if
 * not NULL) then points at a human-readable reason. */
const fs_ops *fs_backend_cuda(const char **why);
/* The GPU the CUDA backend opens: device (ordinal modulo the device count).
 * Set before the backend's first use; MPI ranks pass their rank within the
 * node, so each drives its own GPU (sim/fed/comm.h). Default 0. */
void fs_backend_set_device(int ordinal);
int fs_backend_device(void);
/* "cpu", "cuda" or "auto" (CUDA when usable, else CPU). NULL for an unknown name
 * or an unusable CUDA backend; *why says which. */
const fs_ops *fs_backend_by_name(const char *name, const char **why);

/* "1.5 GB": bytes in decimal units, as every size message writes them. */
const char *fs_human_bytes(double bytes, char *buf, size_t cap);
/* Out of memory, in the same words everywhere (kernels/oom.c): buf gets
 * "out of memory: cannot allocate <size> for <what> (<memory>: <free> free of
 * <total>)" with the figures of ops->mem_info (ops NULL: host memory). */
void fs_oom_text(char *buf, size_t cap, const fs_ops *ops, size_t bytes, const char *what);
/* For scratch inside an op: reports fs_oom_text and what to change as an
 * FS_OP_OUT_OF_MEMORY error (fs_op_error: by default the process ends with
 * status 1; the results file only ever holds committed rounds). */
void fs_op_oom(const fs_ops *ops, size_t bytes, const char *what);

/* Errors inside an op (kernels/op_error.c). Ops return nothing and may run
 * on OpenMP workers, so an error site calls fs_op_error, which passes the
 * message to the handler in force: by default one that prints it
 * ("fedsim: <message>") and ends the process with status 1 (_Exit: no atexit
 * handlers, possibly on a worker thread). An embedding program installs its
 * own, e.g. one that records the message and longjmps back to the code that
 * called the op (the op's outputs and the backend's state are then
 * undefined: free the model or stop using the backend). A handler must not
 * return; when it does, the default one runs. It is called on the thread
 * that hit the error: a longjmp is only safe on the thread that set the
 * jmp_buf, so such a program runs ops with fs_set_threads(1) or handles
 * the errors of worker threads otherwise. */
typedef enum {
    FS_OP_OUT_OF_MEMORY, /* host or device memory for an op's scratch */
    FS_OP_BAD_INPUT,     /* e.g. a token id outside the vocabulary */
    FS_OP_DEVICE,        /* a CUDA or cuBLAS call failed: the device state is unknown */
    FS_OP_INTERNAL,      /* misuse of the op table by fedsim itself */
} fs_op_error_kind;
typedef void (*fs_op_error_handler)(fs_op_error_kind kind, const char *message, void *ctx);
/* Installs h (NULL: the default) with its ctx; returns the previous handler.
 * Set it before ops run (it is one process-wide setting). */
fs_op_error_handler fs_set_op_error_handler(fs_op_error_handler h, void *ctx);
/* Formats the message and hands it to the handler; never returns. */
__attribute__((noreturn, format(printf, 2, 3))) void fs_op_error(fs_op_error_kind kind,
                                                                 const char *fmt, ...);

/* CPU threading (OpenMP); 0 = all cores. More than FS_THREADS_PER_CORE x the
 * online cores is capped to that, with a one-line warning on stderr. */
#define FS_THREADS_PER_CORE 4
void fs_set_threads(int n);

#endif
