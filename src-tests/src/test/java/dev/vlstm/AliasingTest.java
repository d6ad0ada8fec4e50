package dev.vlstm;

import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The runner promises that h0 and c0 are read before any output is written, so that a caller may pass the same
 * memory as hT and cT (a stream carried in one buffer): the aliased call must give the bits of the call with
 * separate buffers, with and without lengths, on the paths that copy states row by row (projection, variable
 * lengths, stacks, GRU).
 */
class AliasingTest {

    /** A model, T, B, and the lengths of the sequences in {@code layout}, or null lengths for the time-major call. */
    static Stream<Arguments> calls() {
        RnnShape projected = RnnShape.of(Cell.LSTM, 5, 17).withProjection(6);
        Stream<Arguments> stacks = Stream.of(Cell.values()).map(cell -> Arguments.of(RnnShape.of(cell, 3, 9)
                .withLayers(2).withDirection(Direction.BIDIRECTIONAL), 6, 4, new int[] {2, 6, 0, 5},
                SequenceLayout.TIME_MAJOR));
        return Stream.concat(Stream.of(
                Arguments.of(projected, 7, 5, new int[] {7, 0, 3, 7, 1}, SequenceLayout.BATCH_FIRST),
                Arguments.of(RnnShape.of(Cell.GRU, 7, 33), 5, 6, null, SequenceLayout.TIME_MAJOR)), stacks);
    }

    @ParameterizedTest(name = "{0} T={1} B={2} lengths={3} {4}")
    @MethodSource("calls")
    void theFinalStatesMayOverwriteTheInitialStates(RnnShape shape, int steps, int batch, int[] lengths,
                                                    SequenceLayout layout) {
        try (TestRnn rnn = new TestRnn(61 + shape.hiddenSize(), shape, Options.DEFAULT);
             Runner runner = rnn.runner(batch, steps)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            VariableLengthTest.Outputs separate = new VariableLengthTest.Outputs(shape, steps, batch);
            float[] h = h0.clone();
            float[] c = c0 == null ? null : c0.clone();
            float[] aliasedY = new float[separate.y().length];
            if (lengths == null) {
                runner.forward(x, steps, batch, h0, c0, separate.y(), separate.hT(), separate.cT());
                runner.forward(x, steps, batch, h, c, aliasedY, h, c);
            } else {
                runner.forward(x, layout, steps, batch, lengths, h0, c0, separate.y(), separate.hT(), separate.cT());
                runner.forward(x, layout, steps, batch, lengths, h, c, aliasedY, h, c);
            }
            separate.assertSame(new VariableLengthTest.Outputs(aliasedY, h, c), "hT and cT written over h0 and c0");
        }
    }
}
