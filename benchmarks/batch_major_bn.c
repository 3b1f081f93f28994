/* The BatchNorm of benchmarks/batch_major.py's batch-major layout (a measured candidate for issue 15,
 * not adopted) in plain C: one (timestep, channel) pair is one BatchNorm channel, normalised with
 * its own batch statistics, and one weight and bias per channel serve every timestep
 * (snn.TimeBatchNorm2d's model). A few passes over memory instead of torch's folded batch_norm with
 * its repeated weights, transposes and per-call dispatch; the statistics are accumulated in double,
 * in a fixed order (sample, then position). Not the float order of torch's batch_norm: adopting it
 * would make a new protocol version. Compiled and loaded by batch_major.py (lif_kernel.load).
 *
 * Layout: x, y, grad_y, grad_x are float32 arrays [batch][steps][channels][size] (contiguous
 * [B, T', C, H, W], size = H * W). mean and invstd: [steps][channels]. Running statistics: [steps][channels]
 * rows of their own (per_timestep 1: the rows t0 .. t0+T'-1 of a per-timestep buffer, passed at row
 * t0) or one row [channels] shared by all timesteps (per_timestep 0: updated once per timestep, in
 * timestep order, as a per-timestep loop over one nn.BatchNorm2d updates it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Row sums eight lanes at a time (two four-float vectors, the compiler's vector extensions), each
 * lane summing in float, the lanes and the rest of the row added in double in a fixed order: a
 * scalar double sum waits on every addition's latency. */
typedef float f4 __attribute__((vector_size(16), aligned(4)));

static double lanes(f4 a, f4 b) {
    return ((double)a[0] + (double)b[0] + (double)a[1] + (double)b[1])
         + ((double)a[2] + (double)b[2] + (double)a[3] + (double)b[3]);
}

/* sum of row[i] */
static double row_sum(const float *row, long size) {
    f4 a = {0, 0, 0, 0}, b = a;
    long i = 0;
    for (; i + 8 <= size; i += 8) {
        a += *(const f4 *)(row + i);
        b += *(const f4 *)(row + i + 4);
    }
    double s = lanes(a, b);
    for (; i < size; ++i)
        s += row[i];
    return s;
}

/* sum of (row[i] - m)^2 */
static double row_squares(const float *row, long size, float m) {
    const f4 m4 = {m, m, m, m};
    f4 a = {0, 0, 0, 0}, b = a;
    long i = 0;
    for (; i + 8 <= size; i += 8) {
        f4 d = *(const f4 *)(row + i) - m4, e = *(const f4 *)(row + i + 4) - m4;
        a += d * d;
        b += e * e;
    }
    double s = lanes(a, b);
    for (; i < size; ++i) {
        double d = row[i] - m;
        s += d * d;
    }
    return s;
}

/* sum of g[i] and of g[i] * (x[i] - m) */
static void row_grads(const float *x, const float *g, long size, float m, double *sum_g, double *sum_gx) {
    const f4 m4 = {m, m, m, m};
    f4 a = {0, 0, 0, 0}, b = a, c = a, d = a;
    long i = 0;
    for (; i + 8 <= size; i += 8) {
        f4 g0 = *(const f4 *)(g + i), g1 = *(const f4 *)(g + i + 4);
        a += g0;
        b += g1;
        c += g0 * (*(const f4 *)(x + i) - m4);
        d += g1 * (*(const f4 *)(x + i + 4) - m4);
    }
    double s = lanes(a, b), sx = lanes(c, d);
    for (; i < size; ++i) {
        s += g[i];
        sx += (double)g[i] * (x[i] - m);
    }
    *sum_g += s;
    *sum_gx += sx;
}

/* y = x * scale[r] + shift[r] on every row r of every sample (the normalisation both forwards end in) */
static void apply_rows(const float *restrict x, float *restrict y, const float *scale, const float *shift,
                       long batch, long rows, long size) {
    for (long b = 0; b < batch; ++b)
        for (long r = 0; r < rows; ++r) {
            const float *restrict row = x + (b * rows + r) * size;
            float *restrict out = y + (b * rows + r) * size;
            float a = scale[r], s = shift[r];
            for (long i = 0; i < size; ++i)
                out[i] = row[i] * a + s;
        }
}

/* Training forward: batch statistics per (t, c) (mean, biased variance for normalising, unbiased for
 * the running variance), y = (x - mean) * invstd * weight + bias; the running statistics updated with
 * momentum. Returns 0, or -1 when memory for the sums could not be had. */
int snnbench_bn_train_forward(const float *restrict x, float *restrict y, const float *weight,
                              const float *bias, float *mean_out, float *invstd_out, float *running_mean,
                              float *running_var, long batch, long steps, long channels, long size,
                              double momentum, double eps, int per_timestep) {
    long rows = steps * channels;
    double n = (double)batch * (double)size;
    double *acc = calloc((size_t)(2 * rows), sizeof(double));
    if (acc == NULL)
        return -1;
    double *mean = acc, *sq = acc + rows;
    for (long b = 0; b < batch; ++b)
        for (long r = 0; r < rows; ++r) {
            mean[r] += row_sum(x + (b * rows + r) * size, size);
        }
    for (long r = 0; r < rows; ++r)
        mean[r] /= n;
    for (long b = 0; b < batch; ++b)
        for (long r = 0; r < rows; ++r) {
            sq[r] += row_squares(x + (b * rows + r) * size, size, (float)mean[r]);
        }
    float *scale = malloc((size_t)(2 * rows) * sizeof(float));
    if (scale == NULL) {
        free(acc);
        return -1;
    }
    float *shift = scale + rows;
    for (long r = 0; r < rows; ++r) {
        long c = r % channels;
        double invstd = 1.0 / sqrt(sq[r] / n + eps);
        mean_out[r] = (float)mean[r];
        invstd_out[r] = (float)invstd;
        scale[r] = (float)(weight[c] * invstd);
        shift[r] = (float)(bias[c] - mean[r] * weight[c] * invstd);
        double unbiased = n > 1.0 ? sq[r] / (n - 1.0) : sq[r];
        /* per-timestep rows: each row its own; shared: row c, once per timestep in order (r runs
         * over t outermost) */
        long k = per_timestep ? r : c;
        running_mean[k] = (float)((1.0 - momentum) * running_mean[k] + momentum * mean[r]);
        running_var[k] = (float)((1.0 - momentum) * running_var[k] + momentum * unbiased);
    }
    apply_rows(x, y, scale, shift, batch, rows, size);
    free(scale);
    free(acc);
    return 0;
}

/* Evaluation forward: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, the running
 * statistics of each timestep's row (per_timestep 1) or the shared row. scale_out / shift_out
 * ([steps][channels]) receive the affine map each row got. */
void snnbench_bn_eval_forward(const float *restrict x, float *restrict y, const float *weight,
                              const float *bias, const float *running_mean, const float *running_var,
                              float *scale_out, float *shift_out, long batch, long steps, long channels,
                              long size, double eps, int per_timestep) {
    long rows = steps * channels;
    for (long r = 0; r < rows; ++r) {
        long c = r % channels, k = per_timestep ? r : c;
        double invstd = 1.0 / sqrt((double)running_var[k] + eps);
        scale_out[r] = (float)(weight[c] * invstd);
        shift_out[r] = (float)(bias[c] - running_mean[k] * weight[c] * invstd);
    }
    apply_rows(x, y, scale_out, shift_out, batch, rows, size);
}

/* Training backward, from the forward's mean and invstd: with xhat = (x - mean) * invstd,
 * grad_bias[c] = sum over t, b, i of grad_y; grad_weight[c] = sum of grad_y * xhat;
 * grad_x = weight * invstd * (grad_y - mean_(b,i)(grad_y) - xhat * mean_(b,i)(grad_y * xhat)), the
 * means per (t, c). grad_x may be NULL (no gradient wanted for the input). Returns 0 or -1 (memory). */
int snnbench_bn_train_backward(const float *restrict x, const float *restrict grad_y, const float *weight,
                               const float *mean, const float *invstd, float *restrict grad_x,
                               float *grad_weight, float *grad_bias, long batch, long steps, long channels,
                               long size) {
    long rows = steps * channels;
    double n = (double)batch * (double)size;
    double *acc = calloc((size_t)(2 * rows), sizeof(double));
    if (acc == NULL)
        return -1;
    double *sum_dy = acc, *sum_dy_xhat = acc + rows;
    for (long b = 0; b < batch; ++b)
        for (long r = 0; r < rows; ++r) {
            long at = (b * rows + r) * size;
            row_grads(x + at, grad_y + at, size, mean[r], sum_dy + r, sum_dy_xhat + r);
        }
    for (long r = 0; r < rows; ++r)
        sum_dy_xhat[r] *= invstd[r];
    for (long c = 0; c < channels; ++c) {
        double gw = 0.0, gb = 0.0;
        for (long t = 0; t < steps; ++t) {
            gw += sum_dy_xhat[t * channels + c];
            gb += sum_dy[t * channels + c];
        }
        grad_weight[c] = (float)gw;
        grad_bias[c] = (float)gb;
    }
    if (grad_x != NULL)
        for (long b = 0; b < batch; ++b)
            for (long r = 0; r < rows; ++r) {
                const float *restrict xr = x + (b * rows + r) * size, *restrict gr = grad_y + (b * rows + r) * size;
                float *restrict out = grad_x + (b * rows + r) * size;
                long c = r % channels;
                double k = weight[c] * (double)invstd[r];
                float a = (float)(k), m = mean[r], is = invstd[r];
                float mean_dy = (float)(sum_dy[r] / n), mean_dy_xhat = (float)(sum_dy_xhat[r] / n);
                for (long i = 0; i < size; ++i) {
                    float xhat = (xr[i] - m) * is;
                    out[i] = a * (gr[i] - mean_dy - xhat * mean_dy_xhat);
                }
            }
    free(acc);
    return 0;
}
