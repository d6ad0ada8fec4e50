package dev.vlstm.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;

/**
 * An input sequence in one of the layouts PyTorch's {@code nn.LSTM} accepts: {@code [T, B, I]}, {@code [B, T, I]}
 * (batch_first) or unbatched {@code [T, I]}; converts it, and tensors shaped after it, to and from the kernels'
 * time-major {@code [T][B][·]} layout. States are {@code [L·D, B, H]} ({@code [L·D, H]} unbatched), as h_n and c_n.
 */
record Sequence(int steps, int batch, int inputSize, boolean batchFirst, boolean unbatched, float[] timeMajor) {

    static Sequence read(Path file, int inputSize, boolean batchFirst) throws IOException {
        FloatTensor x = Npy.read(file);
        long[] shape = x.shape();
        boolean unbatched = shape.length == 2;
        if ((shape.length != 3 && !unbatched) || shape[shape.length - 1] != inputSize) {
            throw new IllegalArgumentException(file + ": input of shape " + Arrays.toString(shape) + ", expected "
                    + (batchFirst ? "[B, T, " : "[T, B, ") + inputSize + "] or [T, " + inputSize + "]");
        }
        finite(file, x.data());
        int steps = (int) (unbatched || !batchFirst ? shape[0] : shape[1]);
        int batch = unbatched ? 1 : (int) (batchFirst ? shape[0] : shape[1]);
        if (steps < 1 || batch < 1) {
            throw new IllegalArgumentException(file + ": the sequence is empty, shape " + Arrays.toString(shape));
        }
        float[] timeMajor = batchFirst && !unbatched ? swap(x.data(), batch, steps, inputSize) : x.data();
        return new Sequence(steps, batch, inputSize, batchFirst, unbatched, timeMajor);
    }

    private static void finite(Path file, float[] values) {
        for (int n = 0; n < values.length; n++) {
            if (!Float.isFinite(values[n])) {
                throw new IllegalArgumentException(file + ": value " + values[n] + " at flat index " + n
                        + " (inputs must be finite)");
            }
        }
    }

    private boolean transposed() {
        return batchFirst && !unbatched;
    }

    /** From the user's layout with rows of {@code width} to time-major. */
    float[] toTimeMajor(float[] values, int width) {
        return transposed() ? swap(values, batch, steps, width) : values;
    }

    /** From time-major rows of {@code width} to the user's layout, shaped. */
    private FloatTensor fromTimeMajor(float[] values, int width) {
        long[] shape = unbatched ? new long[]{steps, width}
                : batchFirst ? new long[]{batch, steps, width} : new long[]{steps, batch, width};
        return new FloatTensor(shape, transposed() ? swap(values, steps, batch, width) : values);
    }

    FloatTensor outputs(float[] y, int hidden) {
        return fromTimeMajor(y, hidden);
    }

    FloatTensor inputsLike(float[] dx) {
        return fromTimeMajor(dx, inputSize);
    }

    /** {@code count} states (L·D: one per layer and direction), shaped as h_n: {@code [count, B, H]}. */
    FloatTensor state(float[] values, int count, int hidden) {
        return new FloatTensor(unbatched ? new long[]{count, hidden} : new long[]{count, batch, hidden}, values);
    }

    /** Reads an h0, c0, dhn or dcn file, which must have the shape of {@link #state}. */
    float[] stateFrom(Path file, String option, int count, int hidden) throws IOException {
        return readShaped(file, option, state(new float[count * batch * hidden], count, hidden).shape());
    }

    /** Reads dy, which must have the shape of the outputs; returns it time-major. */
    float[] sameLayoutAs(Path file, String option, int hidden) throws IOException {
        return toTimeMajor(readShaped(file, option, outputs(new float[steps * batch * hidden], hidden).shape()), hidden);
    }

    private static float[] readShaped(Path file, String option, long[] expected) throws IOException {
        FloatTensor tensor = Npy.read(file);
        if (!Arrays.equals(tensor.shape(), expected)) {
            throw new IllegalArgumentException(file + " (" + option + "): shape " + Arrays.toString(tensor.shape())
                    + ", expected " + Arrays.toString(expected));
        }
        finite(file, tensor.data());
        return tensor.data();
    }

    /** {@code [a][b][width]} to {@code [b][a][width]}. */
    private static float[] swap(float[] values, int a, int b, int width) {
        float[] out = new float[values.length];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) {
                System.arraycopy(values, (i * b + j) * width, out, (j * a + i) * width, width);
            }
        }
        return out;
    }
}
