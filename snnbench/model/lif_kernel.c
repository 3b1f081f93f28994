/* The multi-step LIF of snn._LIFSequence in plain C, one pass over memory per timestep instead of a
 * dozen dispatched tensor operations. Every element goes through the same float32 operations, in
 * the same order, as the tensor expressions of _LIFSequence's forward and backward (which are those
 * of spikingjelly's reference LIF): compiled without fast-math and without contraction into fused
 * multiply-adds, each operation rounds as torch's CPU kernels round it, so results are bit for bit
 * the same (tests/model/test_lif_kernel.py checks it). Compiled and loaded by lif_kernel.py.
 *
 * Layout: x, spikes, shifted, grad_spikes, grad_x are float32 arrays [outer][T][inner] (outer 1: a
 * contiguous [T, ...] tensor; outer B: a [T, B, ...] tensor stored batch-major, as BatchNorm's output
 * is); v, grad_v and carry are [outer][inner] (contiguous [B, ...]). */
#include <stddef.h>
#include <string.h>

/* Four lanes at a time with the compiler's vector extensions (GCC, Clang): the spike is the
 * comparison's lane mask ANDed with the bits of 1.0f, so no lane takes a branch (a scalar loop
 * branches on every spike and mispredicts half the time). Each lane computes exactly what the scalar
 * code below computes for the elements left over. */
typedef float f4 __attribute__((vector_size(16), aligned(4)));
typedef int i4 __attribute__((vector_size(16), aligned(4)));

/* h[t] = v + (x[t] - v) / tau;  s[t] = h[t] >= threshold;  v = h[t] - h[t] * s[t] (hard reset to 0).
 * Writes spikes, shifted = h - threshold (the surrogate's argument) and the last membrane into v_out. */
void snnbench_lif_forward(const float *restrict x, const float *v_in, float *restrict spikes,
                          float *restrict shifted, float *v_out, long outer, long steps, long inner,
                          float tau, float threshold) {
    const f4 tau4 = {tau, tau, tau, tau}, threshold4 = {threshold, threshold, threshold, threshold};
    const float one = 1.0f;
    int one_bits;
    memcpy(&one_bits, &one, sizeof one_bits);
    const i4 one4 = {one_bits, one_bits, one_bits, one_bits};
    if (v_out != v_in)
        memcpy(v_out, v_in, (size_t)(outer * inner) * sizeof(float));
    for (long o = 0; o < outer; ++o) {
        float *restrict vo = v_out + o * inner;
        for (long t = 0; t < steps; ++t) {
            long at = (o * steps + t) * inner;
            const float *restrict xt = x + at;
            float *restrict st = spikes + at, *restrict ht = shifted + at;
            long i = 0;
            for (; i + 4 <= inner; i += 4) {
                f4 v = *(const f4 *)(vo + i);
                f4 h = v + (*(const f4 *)(xt + i) - v) / tau4;
                f4 spike = (f4)((h >= threshold4) & one4);
                *(f4 *)(st + i) = spike;
                *(f4 *)(ht + i) = h - threshold4;
                *(f4 *)(vo + i) = h - h * spike;
            }
            for (; i < inner; ++i) {
                float v = vo[i];
                float h = v + (xt[i] - v) / tau;
                float spike = h >= threshold ? 1.0f : 0.0f;
                st[i] = spike;
                ht[i] = h - threshold;
                vo[i] = h - h * spike;
            }
        }
    }
}

/* The backward pass of one timestep at element I of a row (T: f4 for four lanes, float for one), in
 * one of the cases fixed for the whole row: whether a gradient arrives through the spikes (gs) and
 * whether one is carried in the membrane from the timestep after (has_carry). */
#define LIF_BACKWARD_STEP(T, LOAD, STORE, I)                                                       \
    do {                                                                                       \
        T grad_h;                                                                              \
        if (gs != NULL) {                                                                      \
            T z = LOAD(ht, I) * scale_v;                                                       \
            T denominator = z * z + one_v;                                                     \
            T surrogate = (one_v / denominator) * half_alpha_v; /* reciprocal, then the scalar */ \
            grad_h = LOAD(gs, I) * surrogate;                                                  \
            if (has_carry)                                                                     \
                grad_h = grad_h + LOAD(co, I) * (one_v - LOAD(st, I));                         \
        } else {                                                                               \
            grad_h = LOAD(co, I) * (one_v - LOAD(st, I));                                      \
        }                                                                                      \
        T g = grad_h / tau_v;                                                                  \
        STORE(gx, I, g);                                                                       \
        STORE(co, I, grad_h - g);                                                              \
    } while (0)
#define LOAD4(p, i) (*(const f4 *)((p) + (i)))
#define STORE4(p, i, value) (*(f4 *)((p) + (i)) = (value))
#define LOAD1(p, i) ((p)[i])
#define STORE1(p, i, value) ((p)[i] = (value))

static void backward_row(const float *restrict st, const float *restrict ht, const float *restrict gs,
                         int has_carry, float *restrict gx, float *restrict co, long inner, float tau,
                         float scale, float half_alpha) {
    long i = 0;
    {
        const f4 one_v = {1.0f, 1.0f, 1.0f, 1.0f}, tau_v = {tau, tau, tau, tau};
        const f4 scale_v = {scale, scale, scale, scale};
        const f4 half_alpha_v = {half_alpha, half_alpha, half_alpha, half_alpha};
        for (; i + 4 <= inner; i += 4)
            LIF_BACKWARD_STEP(f4, LOAD4, STORE4, i);
    }
    {
        const float one_v = 1.0f, tau_v = tau, scale_v = scale, half_alpha_v = half_alpha;
        for (; i < inner; ++i)
            LIF_BACKWARD_STEP(float, LOAD1, STORE1, i);
    }
}

/* Backward of the above (ATan surrogate, detached reset). grad_spikes and grad_v may be NULL (no
 * gradient reaches them). scale = (float)(pi / 2 * alpha), half_alpha = (float)(alpha / 2).
 * Returns 1 when a gradient reaches the initial membrane (written into carry), 0 when none does. */
int snnbench_lif_backward(const float *restrict spikes, const float *restrict shifted,
                          const float *restrict grad_spikes, const float *restrict grad_v,
                          float *restrict grad_x, float *restrict carry, long outer, long steps,
                          long inner, float tau, float scale, float half_alpha) {
    int has_carry = 0;
    for (long o = 0; o < outer; ++o) {
        float *restrict co = carry + o * inner;
        has_carry = grad_v != NULL;
        if (has_carry)
            memcpy(co, grad_v + o * inner, (size_t)inner * sizeof(float));
        for (long t = steps - 1; t >= 0; --t) {
            long at = (o * steps + t) * inner;
            if (grad_spikes == NULL && !has_carry) {
                memset(grad_x + at, 0, (size_t)inner * sizeof(float));
                continue;
            }
            backward_row(spikes + at, shifted + at, grad_spikes == NULL ? NULL : grad_spikes + at, has_carry,
                         grad_x + at, co, inner, tau, scale, half_alpha);
            has_carry = 1;
        }
    }
    return has_carry;
}
