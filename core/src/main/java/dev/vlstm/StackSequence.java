package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * A whole sequence through every layer and direction of a stack, as {@link StackRunner} and {@link StackTrainer}
 * run it: layer by layer, each direction by its own {@link LayerDriver} and {@link LayerState} on one
 * {@link VariableLengths} for every part, with the copies that the reverse direction (time-reversed input and
 * output) and the joining of directions ({@code [T][B][D·S]} rows, S = P with projection, else H) need, through
 * scratch allocated up front for {@code maxSteps × maxBatch}. The parts get whole scratch buffers and use only the
 * sizes they are given, so no call allocates, whatever its shape. A stack without a cell state (a GRU) has no c:
 * its calls pass null for c0 and cT, and its parts get null for them.
 */
final class StackSequence {

    private final RnnShape shape;
    private final String owner;
    private final int maxBatch;
    private final int maxSteps;
    /** Outputs of the layers below the top, alternating: layer k writes one while it reads layer k-1's. */
    private final MemorySegment[] layerOutputs = new MemorySegment[2];
    /** The input of a reverse direction, time-reversed: layer 0's {@code [T][B][I]} or a layer output. */
    private final MemorySegment reversedInput;
    /** One direction's {@code [T][B][S]} output (S = P or H), before it joins the layer's rows. */
    private final MemorySegment directionOutput;
    private final MemorySegment hidden;
    private final MemorySegment cell;
    /** The layout, T, B and lengths of the last {@link #run} and the order its rows ran in, the same for every part. */
    private final VariableLengths plan;

    /**
     * @param cellState whether the layers carry a cell state c (LSTM) or only h (GRU: no scratch for c, and every
     *                  call passes null c0 and cT)
     * @param owner     the class that runs sequences, for messages, e.g. "Runner"
     */
    StackSequence(RnnShape shape, boolean cellState, int maxBatch, int maxSteps, String owner, OffHeap memory) {
        this.shape = shape;
        this.owner = owner;
        this.maxBatch = Checks.positive("maxBatch", maxBatch);
        this.maxSteps = Checks.positive("maxSteps", maxSteps);
        long rows = Math.multiplyExact((long) maxBatch, maxSteps);
        long layerFloats = Math.multiplyExact(rows, shape.outputSize());
        if (shape.layers() > 1) {
            layerOutputs[0] = memory.floats(layerFloats);
            layerOutputs[1] = memory.floats(layerFloats);
        }
        if (shape.direction() == Direction.BIDIRECTIONAL) {
            reversedInput = memory.floats(rows * Math.max(shape.inputSize(), shape.outputSize()));
            directionOutput = memory.floats(rows * shape.hiddenStateSize());
        } else {
            reversedInput = null;
            directionOutput = null;
        }
        hidden = memory.floats((long) maxBatch * shape.hiddenStateSize());
        cell = cellState ? memory.floats((long) maxBatch * shape.hiddenSize()) : null;
        plan = new VariableLengths(maxBatch);
    }

    int maxBatch() {
        return maxBatch;
    }

    int maxSteps() {
        return maxSteps;
    }

    /** The call and plan of the last {@link #run}, which its parts ran and a training backward reads. */
    VariableLengths plan() {
        return plan;
    }

    /**
     * Checks T and B against the limits, the lengths (if not null) and then every segment of a forward against its
     * shape, with x and y in {@code layout}.
     */
    void checkArguments(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0,
                        MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        Checks.notNull("layout", layout);
        checkSizes(steps, batch);
        if (lengths != null) {
            VariableLengths.check(lengths, steps, batch);
        }
        String outer = layout.outerName();
        String inner = layout.innerName();
        int outerSize = layout.outerSize(steps, batch);
        int innerSize = layout.innerSize(steps, batch);
        int states = shape.stateCount();
        int hiddenSize = shape.hiddenSize();
        String width = shape.projectionSize() > 0 ? "P" : "H";
        // A constant, not "D*" + width: a concatenation allocates a String on every call once C2 stops inlining it.
        String outputWidth = shape.projectionSize() > 0 ? "D*P" : "D*H";
        int stateSize = shape.hiddenStateSize();
        Checks.floats("x", x, outer, outerSize, inner, innerSize, "I", shape.inputSize());
        Checks.optionalFloats("h0", h0, "L*D", states, "B", batch, width, stateSize);
        Checks.optionalFloats("c0", c0, "L*D", states, "B", batch, "H", hiddenSize);
        Checks.optionalOutput("y", y, outer, outerSize, inner, innerSize, outputWidth, shape.outputSize());
        Checks.optionalOutput("hT", hT, "L*D", states, "B", batch, width, stateSize);
        Checks.optionalOutput("cT", cT, "L*D", states, "B", batch, "H", hiddenSize);
    }

    void checkSizes(int steps, int batch) {
        Checks.positive("steps", steps);
        Checks.positive("batch", batch);
        if (steps > maxSteps) {
            throw new IllegalArgumentException("steps " + steps + " exceeds this " + owner + "'s maxSteps " + maxSteps);
        }
        if (batch > maxBatch) {
            throw new IllegalArgumentException("batch " + batch + " exceeds this " + owner + "'s maxBatch " + maxBatch);
        }
    }

    /**
     * Runs the checked arguments of a forward through every layer, applying {@code dropout} (if not null) to the
     * output of every layer but the top one. Without lengths the call is time-major and every sequence runs T
     * steps; with them, x, y and every layer's output are in {@code layout}, and each sequence runs its own length
     * in every layer and direction (the reverse direction over the sequence reversed within that length). h0 and
     * c0 may be the same memory as hT and cT.
     */
    void run(LayerDriver[] drivers, LayerState[] states, InterLayerDropout dropout, MemorySegment x,
             SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0, MemorySegment c0,
             MemorySegment y, MemorySegment hT, MemorySegment cT) {
        if (lengths == null) {
            plan.setFull(steps, batch);
        } else {
            plan.set(layout, lengths, steps, batch);
        }
        int hiddenSize = shape.hiddenSize();
        int stateSize = shape.hiddenStateSize();
        int directions = shape.direction().count();
        long rows = (long) steps * batch;
        long hiddenBytes = (long) batch * stateSize * Float.BYTES;
        long cellBytes = (long) batch * hiddenSize * Float.BYTES;
        MemorySegment input = x;
        for (int layer = 0; layer < shape.layers(); layer++) {
            boolean top = layer == shape.layers() - 1;
            MemorySegment output = top ? y : layerOutputs[layer % 2];
            int inputSize = shape.layerInputSize(layer);
            for (int direction = 0; direction < directions; direction++) {
                int index = layer * directions + direction;
                boolean reverse = direction == 1;
                MemorySegment partInput = input;
                if (reverse) {
                    partInput = reversedInput;
                    DirectionRows.reverseSequences(input, partInput, plan, (long) inputSize * Float.BYTES);
                }
                MemorySegment partOutput = directions == 1 || output == null ? output : directionOutput;
                if (h0 != null) {
                    MemorySegment.copy(h0, index * hiddenBytes, hidden, 0, hiddenBytes);
                }
                if (c0 != null) {
                    MemorySegment.copy(c0, index * cellBytes, cell, 0, cellBytes);
                }
                drivers[index].forward(partInput, plan, states[index], h0 == null ? null : hidden,
                        c0 == null ? null : cell, partOutput, hT == null ? null : hidden, cT == null ? null : cell);
                if (hT != null) {
                    MemorySegment.copy(hidden, 0, hT, index * hiddenBytes, hiddenBytes);
                }
                if (cT != null) {
                    MemorySegment.copy(cell, 0, cT, index * cellBytes, cellBytes);
                }
                if (partOutput != output) {
                    DirectionRows.intoLayer(partOutput, output, plan, stateSize, directions, direction, reverse);
                }
            }
            if (!top && dropout != null) {
                dropout.forward(layer, output, rows * shape.outputSize());
            }
            input = output;
        }
    }
}
