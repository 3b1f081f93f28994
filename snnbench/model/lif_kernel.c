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

/* h[t] = v + (x[t] - v) / tau;  s[t] = h[t] >= threshold;  v = h[t] - h[t] * s[t] (hard reset to 0).
 * Writes spikes, shifted = h - threshold (the surrogate's argument) and the last membrane into v_out. */
void snnbench_lif_forward(const float *x, const float *v_in, float *spikes, float *shifted, float *v_out,
                          long outer, long steps, long inner, float tau, float threshold) {
    if (v_out != v_in)
        memcpy(v_out, v_in, (size_t)(outer * inner) * sizeof(float));
    for (long o = 0; o < outer; ++o) {
        float *vo = v_out + o * inner;
        for (long t = 0; t < steps; ++t) {
            long at = (o * steps + t) * inner;
            const float *xt = x + at;
            float *st = spikes + at, *ht = shifted + at;
            for (long i = 0; i < inner; ++i) {
                float v = vo[i];
                float h = v + (xt[i] - v) / tau;
                float s = h >= threshold ? 1.0f : 0.0f;
                st[i] = s;
                ht[i] = h - threshold;
                vo[i] = h - h * s;
            }
        }
    }
}

/* Backward of the above (ATan surrogate, detached reset). grad_spikes and grad_v may be NULL (no
 * gradient reaches them). scale = (float)(pi / 2 * alpha), half_alpha = (float)(alpha / 2).
 * Returns 1 when a gradient reaches the initial membrane (written into carry), 0 when none does. */
int snnbench_lif_backward(const float *spikes, const float *shifted, const float *grad_spikes,
                          const float *grad_v, float *grad_x, float *carry, long outer, long steps,
                          long inner, float tau, float scale, float half_alpha) {
    int has_carry = 0;
    for (long o = 0; o < outer; ++o) {
        float *co = carry + o * inner;
        has_carry = grad_v != NULL;
        if (has_carry)
            memcpy(co, grad_v + o * inner, (size_t)inner * sizeof(float));
        for (long t = steps - 1; t >= 0; --t) {
            long at = (o * steps + t) * inner;
            const float *st = spikes + at, *ht = shifted + at;
            float *gx = grad_x + at;
            if (grad_spikes == NULL && !has_carry) {
                memset(gx, 0, (size_t)inner * sizeof(float));
                continue;
            }
            const float *gs = grad_spikes == NULL ? NULL : grad_spikes + at;
            for (long i = 0; i < inner; ++i) {
                float grad_h;
                if (gs != NULL) {
                    float z = ht[i] * scale;
                    float denominator = z * z + 1.0f;
                    float surrogate = (1.0f / denominator) * half_alpha;  /* reciprocal, then the scalar */
                    grad_h = gs[i] * surrogate;
                    if (has_carry) {
                        float through = co[i] * (1.0f - st[i]);
                        grad_h = grad_h + through;
                    }
                } else {
                    grad_h = co[i] * (1.0f - st[i]);
                }
                float g = grad_h / tau;
                gx[i] = g;
                co[i] = grad_h - g;
            }
            has_carry = 1;
        }
    }
    return has_carry;
}
