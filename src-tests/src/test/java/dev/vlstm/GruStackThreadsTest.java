package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GRU stacks on several threads give the one-thread stack's results bit for bit: every layer and direction runs on
 * the stack's one set of threads, which split each GEMM by output blocks as {@link GruThreadsTest} checks for one
 * layer. Checked for 2 and 3 threads on bidirectional and unidirectional stacks of odd sizes: sequences (plain and
 * variable lengths, batch-first), streams, and the trainer's outputs and every gradient, with dropout between
 * layers. The one-thread stacks are held to the reference in {@link StackVsReferenceTest} and
 * {@link TrainerVsReferenceTest}; equal bits carry that over.
 */
class GruStackThreadsTest {

    @ParameterizedTest(name = "I={0} H={1} L={2} T={3} B={4} threads={5}")
    @CsvSource({"5, 17, 2, 6, 3, 2", "9, 33, 2, 5, 5, 3", "17, 100, 3, 4, 4, 2", "3, 1, 2, 3, 2, 3"})
    void sequencesStreamsAndTrainingEqualOneThreadBitForBit(int inputSize, int hiddenSize, int layers, int steps,
                                                            int batch, int threads) {
        for (boolean bidirectional : new boolean[] {true, false}) {
            try (TestGruStack model = new TestGruStack(980 + hiddenSize, inputSize, hiddenSize, layers,
                    bidirectional)) {
                float[] x = model.input(steps, batch);
                float[] h0 = model.states(batch);
                float[] dy = model.outputGradient(steps, batch);
                float[] dhT = model.states(batch);
                int[] lengths = VariableLengthTest.lengths(steps * 13L + batch, steps, batch);
                List<String> names = new ArrayList<>(List.of("y", "hT", "variable-length y", "variable-length hT"));
                if (!bidirectional) {
                    names.add("streamed h");
                }
                names.addAll(List.of("training y", "training hT", "dx", "dh0"));
                float[][] expected = allOutputs(model, 1, x, steps, batch, h0, lengths, dy, dhT);
                float[][] actual = allOutputs(model, threads, x, steps, batch, h0, lengths, dy, dhT);
                assertEquals(expected.length, actual.length);
                for (int n = 0; n < expected.length; n++) {
                    String name = n < names.size() ? names.get(n) : "gradient tensor " + (n - names.size());
                    assertArrayEquals(expected[n], actual[n], name + ", bidirectional " + bidirectional + ", "
                            + threads + " threads");
                }
            }
        }
    }

    /**
     * A stack runner's sequence outputs (plain and batch-first with lengths), a streamed unidirectional stack's h,
     * and a training step with dropout: y, hT, dx, dh0 and every part's four weight and bias gradients.
     */
    private static float[][] allOutputs(TestGruStack model, int threads, float[] x, int steps, int batch, float[] h0,
                                        int[] lengths, float[] dy, float[] dhT) {
        LstmStackShape shape = model.shape;
        int outputFloats = steps * batch * shape.outputSize();
        int stateFloats = shape.stateCount() * batch * shape.hiddenSize();
        List<float[]> outputs = new ArrayList<>();
        try (GruStackRunner runner = new GruStackRunner(model.weights, batch, steps, threads)) {
            assertEquals(threads, runner.threads());
            float[] y = new float[outputFloats];
            float[] hT = new float[stateFloats];
            runner.forward(x, steps, batch, h0, y, hT);
            float[] variableY = new float[outputFloats];
            float[] variableHT = new float[stateFloats];
            runner.forward(MemorySegment.ofArray(x), SequenceLayout.BATCH_FIRST, steps, batch, lengths,
                    MemorySegment.ofArray(h0), MemorySegment.ofArray(variableY), MemorySegment.ofArray(variableHT));
            outputs.addAll(List.of(y, hT, variableY, variableHT));
            if (!shape.bidirectional()) {
                float[] streamed = new float[batch * shape.hiddenSize()];
                try (GruStackState state = new GruStackState(model.weights, batch)) {
                    state.setHidden(h0);
                    int frame = batch * shape.inputSize();
                    for (int t = 0; t < steps; t++) {
                        runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, streamed);
                    }
                }
                outputs.add(streamed);
            }
        }
        try (GruStackTrainer trainer = new GruStackTrainer(model.weights, batch, steps, 0.3, 7, threads);
             GruStackGradients gradients = new GruStackGradients(model.weights)) {
            assertEquals(threads, trainer.threads());
            float[] y = new float[outputFloats];
            float[] hT = new float[stateFloats];
            float[] dx = new float[x.length];
            float[] dh0 = new float[stateFloats];
            trainer.forward(x, steps, batch, h0, y, hT);
            trainer.backward(dy, dhT, gradients, GradientMode.OVERWRITE, dx, dh0);
            outputs.addAll(List.of(y, hT, dx, dh0));
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int direction = 0; direction < shape.directions(); direction++) {
                    GruGradients part = gradients.layer(layer, direction);
                    outputs.add(part.weightIh().toArray(ValueLayout.JAVA_FLOAT));
                    outputs.add(part.weightHh().toArray(ValueLayout.JAVA_FLOAT));
                    outputs.add(part.biasIh().toArray(ValueLayout.JAVA_FLOAT));
                    outputs.add(part.biasHh().toArray(ValueLayout.JAVA_FLOAT));
                }
            }
        }
        return outputs.toArray(new float[0][]);
    }

    /** A stack starts one set of workers for all its parts, and close() ends them; one thread starts none. */
    @Test
    void aStackSharesOneSetOfWorkersAndCloseEndsThem() {
        try (TestGruStack model = new TestGruStack(990, 6, 40, 2, true)) {
            GruStackRunner runner = new GruStackRunner(model.weights, 2, 4, 3);
            GruStackTrainer trainer = new GruStackTrainer(model.weights, 2, 4, 2);
            List<Thread> workers = new ArrayList<>(runner.workerThreads());
            assertEquals(2, workers.size(), "one set of workers for the stack's 4 parts");
            assertEquals(1, trainer.workerThreads().size(), "one set of workers for the stack's 4 parts");
            workers.addAll(trainer.workerThreads());
            for (Thread worker : workers) {
                assertTrue(worker.isAlive(), worker.getName());
                assertTrue(worker.getName().startsWith("vlstm-kernel-"), worker.getName());
            }
            runner.forward(model.input(4, 2), 4, 2, null, null, new float[4 * 2 * 40]);
            runner.close();
            trainer.close();
            for (Thread worker : workers) {
                assertFalse(worker.isAlive(), worker.getName() + " still runs after close()");
            }
            runner.close();
            trainer.close();
            try (GruStackRunner single = new GruStackRunner(model.weights, 2, 4);
                 GruStackTrainer singleTrainer = new GruStackTrainer(model.weights, 2, 4)) {
                assertEquals(1, single.threads());
                assertEquals(List.of(), single.workerThreads());
                assertEquals(List.of(), singleTrainer.workerThreads());
            }
            for (int threads : new int[] {0, LstmRunner.MAX_THREADS + 1}) {
                List<IllegalArgumentException> refusals = List.of(
                        assertThrows(IllegalArgumentException.class,
                                () -> new GruStackRunner(model.weights, 1, 1, threads)),
                        assertThrows(IllegalArgumentException.class,
                                () -> new GruStackTrainer(model.weights, 1, 1, threads)),
                        assertThrows(IllegalArgumentException.class,
                                () -> new GruStackTrainer(model.weights, 1, 1, 0.5, 1, threads)));
                for (IllegalArgumentException e : refusals) {
                    assertTrue(e.getMessage().startsWith("threads must be"), e.getMessage());
                    assertTrue(e.getMessage().endsWith("got " + threads), e.getMessage());
                }
            }
        }
    }
}
