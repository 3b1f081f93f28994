/* An event-driven forward convolution for binary spike inputs (benchmarks/event_conv.py; issue 15's
 * CPU 2x, a measured candidate, not used by snnbench): a spike adds its weights to the outputs it
 * reaches, so the work goes with the number of spikes instead of the input's size.
 *
 * x [N][Cin][H][W] (values 0 or 1; Cin <= 32), weight_t [Cin][k][k][Cout] (the conv weight moved so
 * that output channels are contiguous), out [N][Cout][H][W]; stride 1, padding k / 2, no bias.
 * Per sample, one bit mask per input position holds which input channels spiked there; per output
 * position, the weight rows of every spike in its receptive field are added in eight-float vectors
 * (taps in order, channels in order: a fixed float order, not oneDNN's). mask: H * W words of scratch.
 * Returns 0, or -1 for an output channel count it has no vector width for (8, 16, 32). */
#include <stdint.h>
#include <string.h>

typedef float f8 __attribute__((vector_size(32), aligned(4)));

#define EVENT_CONV(NV)                                                                             \
    for (long n = 0; n < N; ++n) {                                                                 \
        memset(mask, 0, (size_t)HW * sizeof(uint32_t));                                            \
        const float *xn = x + n * Cin * HW;                                                        \
        for (long ci = 0; ci < Cin; ++ci)                                                          \
            for (long i = 0; i < HW; ++i)                                                          \
                mask[i] |= (uint32_t)(xn[ci * HW + i] != 0.0f) << ci;                              \
        float *on = out + n * Cout * HW;                                                           \
        for (long yo = 0; yo < H; ++yo)                                                            \
            for (long xo = 0; xo < W; ++xo) {                                                      \
                f8 acc[NV];                                                                        \
                for (int v = 0; v < NV; ++v)                                                       \
                    acc[v] = (f8){0};                                                              \
                for (long ky = 0; ky < k; ++ky) {                                                  \
                    long yi = yo + ky - p;                                                         \
                    if (yi < 0 || yi >= H)                                                         \
                        continue;                                                                  \
                    for (long kx = 0; kx < k; ++kx) {                                              \
                        long xi = xo + kx - p;                                                     \
                        if (xi < 0 || xi >= W)                                                     \
                            continue;                                                              \
                        for (uint32_t m = mask[yi * W + xi]; m; m &= m - 1) {                      \
                            const f8 *w = (const f8 *)(wt + ((__builtin_ctz(m) * k + ky) * k + kx) * Cout); \
                            for (int v = 0; v < NV; ++v)                                           \
                                acc[v] += w[v];                                                    \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                float row[NV * 8];                                                                 \
                memcpy(row, acc, sizeof(row));                                                     \
                for (long co = 0; co < Cout; ++co)                                                 \
                    on[co * HW + yo * W + xo] = row[co];                                           \
            }                                                                                      \
    }

int event_conv_forward(const float *x, const float *wt, float *out, long N, long Cin, long Cout, long H, long W,
                       long k, uint32_t *mask) {
    long HW = H * W, p = k / 2;
    if (Cin > 32)
        return -1;
    if (Cout == 8) {
        EVENT_CONV(1)
    } else if (Cout == 16) {
        EVENT_CONV(2)
    } else if (Cout == 32) {
        EVENT_CONV(4)
    } else {
        return -1;
    }
    return 0;
}
