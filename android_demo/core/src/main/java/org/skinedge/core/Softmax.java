package org.skinedge.core;

/** Softmax in double precision, as skinedge's numpy code computes it. */
final class Softmax {
    private Softmax() {
    }

    /**
     * {@code exp(z - max - log(sum(exp(z - max))))}: calibration.log_softmax then exp
     * (a -inf entry, log of an underflowed probability, gives 0).
     */
    static double[] of(double[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (double v : z) {
            sum += Math.exp(v - max);
        }
        double logSum = Math.log(sum);
        double[] out = new double[z.length];
        for (int i = 0; i < z.length; i++) {
            out[i] = Math.exp(z[i] - max - logSum);
        }
        return out;
    }

    /** {@code exp(z - max) / sum}: api.softmax, the model's own probabilities from its logits. */
    static double[] ofLogits(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double[] e = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        for (int i = 0; i < e.length; i++) {
            e[i] /= sum;
        }
        return e;
    }
}
