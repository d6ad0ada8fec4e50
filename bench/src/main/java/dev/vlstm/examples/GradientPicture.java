package dev.vlstm.examples;

import java.util.Locale;

/** The vanishing-gradient picture: ||dL/dx_t|| against t for the LSTM and the tanh RNN, log scale, as SVG. */
final class GradientPicture {

    private static final int WIDTH = 720;
    private static final int HEIGHT = 420;
    private static final int LEFT = 80;
    private static final int RIGHT = 30;
    private static final int TOP = 40;
    private static final int BOTTOM = 60;
    /** Norms below this (or zero) are drawn at it: the RNN's can underflow. */
    private static final double FLOOR = 1e-30;

    private GradientPicture() {
    }

    /** Mean over the batch of the L2 norm of dL/dx_t, from {@code dx [T][B][I]}. */
    static double[] normsPerStep(float[] dx, int batch, int inputs) {
        int steps = dx.length / (batch * inputs);
        double[] norms = new double[steps];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                double sum = 0;
                for (int i = 0; i < inputs; i++) {
                    double value = dx[(t * batch + b) * inputs + i];
                    sum += value * value;
                }
                norms[t] += Math.sqrt(sum) / batch;
            }
        }
        return norms;
    }

    static String svg(double[] lstm, double[] rnn) {
        double low = Double.MAX_VALUE;
        double high = FLOOR;
        for (double[] series : new double[][]{lstm, rnn}) {
            for (double value : series) {
                low = Math.min(low, Math.max(value, FLOOR));
                high = Math.max(high, value);
            }
        }
        double lowExponent = Math.floor(Math.log10(low));
        double highExponent = Math.ceil(Math.log10(high));
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"13\">%n", WIDTH, HEIGHT));
        out.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        out.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"15\">Adding problem, T = %d, at "
                + "initialisation: ||dL/dx_t|| (loss at the last step)</text>%n", LEFT, lstm.length));
        for (double exponent = lowExponent; exponent <= highExponent; exponent += Math.max(1,
                Math.ceil((highExponent - lowExponent) / 8))) {
            double y = y(Math.pow(10, exponent), lowExponent, highExponent);
            out.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>%n", LEFT, y, WIDTH - RIGHT, y,
                    LEFT - 6, y + 4, (int) exponent));
        }
        for (int t = 0; t < lstm.length; t += 10) {
            out.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>%n",
                    x(t, lstm.length), HEIGHT - BOTTOM + 18, t));
        }
        out.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time step t</text>%n",
                (LEFT + WIDTH - RIGHT) / 2, HEIGHT - 18));
        out.append(polyline(lstm, "#1f77b4", lowExponent, highExponent));
        out.append(polyline(rnn, "#d62728", lowExponent, highExponent));
        out.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">LSTM (vlstm)</text>"
                + "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">tanh RNN</text>%n", LEFT + 10, TOP + 16, LEFT + 130,
                TOP + 16));
        out.append("</svg>\n");
        return out.toString();
    }

    private static String polyline(double[] series, String colour, double lowExponent, double highExponent) {
        StringBuilder points = new StringBuilder();
        for (int t = 0; t < series.length; t++) {
            points.append(String.format(Locale.ROOT, "%.1f,%.1f ", x(t, series.length),
                    y(Math.max(series[t], FLOOR), lowExponent, highExponent)));
        }
        return "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" points=\"" + points.toString().strip()
                + "\"/>\n";
    }

    private static double x(int t, int steps) {
        return LEFT + (WIDTH - LEFT - RIGHT) * t / (double) (steps - 1);
    }

    private static double y(double value, double lowExponent, double highExponent) {
        double fraction = (Math.log10(value) - lowExponent) / (highExponent - lowExponent);
        return HEIGHT - BOTTOM - fraction * (HEIGHT - TOP - BOTTOM);
    }
}
