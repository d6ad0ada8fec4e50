package dev.vlstm.onnxmodels;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;

/**
 * An ONNX model of one {@code LSTM} or {@code GRU} node, written with the ONNX protobuf classes that Tribuo's
 * {@code tribuo-util-onnx} ships (generated from ONNX's {@code onnx-ml.proto}). Opset 14, the first with the
 * recurrent nodes' {@code layout} attribute, left at 0: time-major, as vlstm. With G gates (4 for an LSTM, 3 for a
 * GRU) and D directions (1, or 2 if bidirectional), all shapes fixed:
 * <ul>
 *   <li>initializers, so that ONNX Runtime knows them constant and may prepack them: {@code W [D][G·H][I]},
 *       {@code R [D][G·H][H]}, {@code B [D][2G·H]}, all in ONNX's gate order (LSTM i, o, f, c; GRU z, r, h), and
 *       with {@link Builder#peepholes} an LSTM's {@code P [D][3H]};</li>
 *   <li>graph inputs {@code X [T][B][I]}, with {@link Builder#sequenceLengths} {@code sequence_lens [B]} (int32),
 *       {@code initial_h} and an LSTM's {@code initial_c}, {@code [D][B][H]};</li>
 *   <li>graph outputs {@code Y [T][D][B][H]}, {@code Y_h} and an LSTM's {@code Y_c}, {@code [D][B][H]};</li>
 *   <li>attributes {@code hidden_size} and those the builder is given; ONNX's default holds for the others.</li>
 * </ul>
 */
public final class OnnxRnnModel {

    /**
     * For each PyTorch LSTM gate (i, f, g, o), its index in ONNX's order (i, o, f, c): the inverse of what
     * {@code dev.vlstm.io.GateConventions} applies when it loads an ONNX LSTM.
     */
    private static final int[] ONNX_LSTM_GATE = {0, 2, 3, 1};
    /** For each PyTorch GRU gate (r, z, n), its index in ONNX's order (z, r, h). */
    private static final int[] ONNX_GRU_GATE = {1, 0, 2};
    private static final int IR_VERSION = 8;
    private static final int OPSET = 14;

    private OnnxRnnModel() {
    }

    /** An {@code LSTM} node over {@code steps} time steps of {@code batch} sequences. */
    public static Builder lstm(int inputSize, int hiddenSize, int steps, int batch) {
        return new Builder("LSTM", 4, inputSize, hiddenSize, steps, batch);
    }

    /** A {@code GRU} node over {@code steps} time steps of {@code batch} sequences. */
    public static Builder gru(int inputSize, int hiddenSize, int steps, int batch) {
        return new Builder("GRU", 3, inputSize, hiddenSize, steps, batch);
    }

    /**
     * PyTorch's gate blocks of one direction (LSTM: {@code gates} = 4, i, f, g, o; GRU: 3, r, z, n; each
     * {@code hidden} rows of {@code columns}) in ONNX's order (LSTM i, o, f, c; GRU z, r, h): {@code columns} = I
     * for W, H for R, 1 for either half of B.
     *
     * @throws IllegalArgumentException {@code gates} neither 4 nor 3
     */
    public static float[] toOnnxGateOrder(float[] pytorch, int gates, int columns, int hidden) {
        int[] onnxGate = onnxGateOrder(gates);
        float[] onnx = new float[pytorch.length];
        int block = hidden * columns;
        for (int gate = 0; gate < gates; gate++) {
            System.arraycopy(pytorch, gate * block, onnx, onnxGate[gate] * block, block);
        }
        return onnx;
    }

    /**
     * One direction's ONNX bias B {@code [2G·H]}: PyTorch's {@code bias_ih} then {@code bias_hh} ({@code [G·H]}
     * each), each in ONNX's gate order.
     */
    public static float[] toOnnxBias(float[] biasIh, float[] biasHh, int gates, int hidden) {
        float[] bias = new float[2 * gates * hidden];
        System.arraycopy(toOnnxGateOrder(biasIh, gates, 1, hidden), 0, bias, 0, gates * hidden);
        System.arraycopy(toOnnxGateOrder(biasHh, gates, 1, hidden), 0, bias, gates * hidden, gates * hidden);
        return bias;
    }

    private static int[] onnxGateOrder(int gates) {
        return switch (gates) {
            case 4 -> ONNX_LSTM_GATE;
            case 3 -> ONNX_GRU_GATE;
            default -> throw new IllegalArgumentException("an LSTM has 4 gates and a GRU 3, not " + gates);
        };
    }

    /** A node's weights, inputs and attributes; {@link #bytes} writes the model. */
    public static final class Builder {
        private final String type;
        private final int gates;
        private final int inputSize;
        private final int hiddenSize;
        private final int steps;
        private final int batch;
        private String direction;
        private float[] w;
        private float[] r;
        private float[] b;
        private float[] p;
        private boolean sequenceLengths;
        private Boolean inputForget;
        private float clip = Float.POSITIVE_INFINITY;
        private Integer linearBeforeReset;

        private Builder(String type, int gates, int inputSize, int hiddenSize, int steps, int batch) {
            this.type = type;
            this.gates = gates;
            this.inputSize = inputSize;
            this.hiddenSize = hiddenSize;
            this.steps = steps;
            this.batch = batch;
        }

        /** The {@code direction} attribute, "forward" or "bidirectional" (D = 1 or 2); without it, forward. */
        public Builder direction(String direction) {
            this.direction = direction;
            return this;
        }

        /** W {@code [D][G·H][I]}, R {@code [D][G·H][H]} and B {@code [D][2G·H]}, in ONNX's gate order. */
        public Builder weights(float[] w, float[] r, float[] b) {
            this.w = w;
            this.r = r;
            this.b = b;
            return this;
        }

        /** An LSTM's peepholes P {@code [D][3H]} (i, o, f), an initializer and the node's eighth input. */
        public Builder peepholes(float[] p) {
            requireLstm("peepholes");
            this.p = p;
            return this;
        }

        /** Adds the graph input {@code sequence_lens [B]} (int32), each sequence's length. */
        public Builder sequenceLengths() {
            this.sequenceLengths = true;
            return this;
        }

        /** An LSTM's {@code input_forget} attribute: true couples the forget gate to the input gate, f = 1 − i. */
        public Builder inputForget(boolean inputForget) {
            requireLstm("input_forget");
            this.inputForget = inputForget;
            return this;
        }

        /** The {@code clip} attribute; +∞ leaves it out (no clip). */
        public Builder clip(float clip) {
            this.clip = clip;
            return this;
        }

        /** A GRU's {@code linear_before_reset} attribute, 0 or 1. */
        public Builder linearBeforeReset(int linearBeforeReset) {
            if (gates != 3) {
                throw new IllegalStateException("linear_before_reset is a GRU's attribute, not an " + type + "'s");
            }
            this.linearBeforeReset = linearBeforeReset;
            return this;
        }

        /**
         * The serialised {@code ModelProto}.
         *
         * @param producer  the model's {@code producer_name}
         * @param graphName the graph's name
         */
        public byte[] bytes(String producer, String graphName) {
            if (w == null) {
                throw new IllegalStateException("the node needs its weights");
            }
            boolean lstm = gates == 4;
            int directions = "bidirectional".equals(direction) ? 2 : 1;
            NodeProto.Builder node = NodeProto.newBuilder().setName(type.toLowerCase(Locale.ROOT)).setOpType(type)
                    .addInput("X").addInput("W").addInput("R").addInput("B")
                    .addInput(sequenceLengths ? "sequence_lens" : "").addInput("initial_h")
                    .addOutput("Y").addOutput("Y_h")
                    .addAttribute(AttributeProto.newBuilder().setName("hidden_size")
                            .setType(AttributeProto.AttributeType.INT).setI(hiddenSize));
            if (direction != null) {
                node.addAttribute(AttributeProto.newBuilder().setName("direction")
                        .setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(direction)));
            }
            if (inputForget != null) {
                node.addAttribute(AttributeProto.newBuilder().setName("input_forget")
                        .setType(AttributeProto.AttributeType.INT).setI(inputForget ? 1 : 0));
            }
            if (clip < Float.POSITIVE_INFINITY) {
                node.addAttribute(AttributeProto.newBuilder().setName("clip")
                        .setType(AttributeProto.AttributeType.FLOAT).setF(clip));
            }
            if (linearBeforeReset != null) {
                node.addAttribute(AttributeProto.newBuilder().setName("linear_before_reset")
                        .setType(AttributeProto.AttributeType.INT).setI(linearBeforeReset));
            }
            GraphProto.Builder graph = GraphProto.newBuilder()
                    .setName(graphName)
                    .addInitializer(tensor("W", w, directions, gates * hiddenSize, inputSize))
                    .addInitializer(tensor("R", r, directions, gates * hiddenSize, hiddenSize))
                    .addInitializer(tensor("B", b, directions, 2 * gates * hiddenSize))
                    .addInput(value("X", TensorProto.DataType.FLOAT, steps, batch, inputSize))
                    .addOutput(value("Y", TensorProto.DataType.FLOAT, steps, directions, batch, hiddenSize))
                    .addOutput(value("Y_h", TensorProto.DataType.FLOAT, directions, batch, hiddenSize));
            if (sequenceLengths) {
                graph.addInput(value("sequence_lens", TensorProto.DataType.INT32, batch));
            }
            graph.addInput(value("initial_h", TensorProto.DataType.FLOAT, directions, batch, hiddenSize));
            if (lstm) {
                node.addInput("initial_c").addOutput("Y_c");
                graph.addInput(value("initial_c", TensorProto.DataType.FLOAT, directions, batch, hiddenSize))
                        .addOutput(value("Y_c", TensorProto.DataType.FLOAT, directions, batch, hiddenSize));
            }
            if (p != null) {
                node.addInput("P");
                graph.addInitializer(tensor("P", p, directions, 3 * hiddenSize));
            }
            return ModelProto.newBuilder()
                    .setIrVersion(IR_VERSION)
                    .setProducerName(producer)
                    .setGraph(graph.addNode(node))
                    .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(OPSET))
                    .build()
                    .toByteArray();
        }

        private void requireLstm(String what) {
            if (gates != 4) {
                throw new IllegalStateException(what + " is an LSTM's, not a " + type + "'s");
            }
        }
    }

    /** A float initializer, its values as {@code raw_data}: little-endian IEEE 754, as ONNX stores them. */
    private static TensorProto tensor(String name, float[] values, long... dims) {
        ByteBuffer raw = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(values);
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(raw.array()));
        for (long dim : dims) {
            tensor.addDims(dim);
        }
        return tensor.build();
    }

    /** A graph input or output: a tensor of {@code elementType} and fixed shape. */
    private static ValueInfoProto value(String name, TensorProto.DataType elementType, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long dim : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(dim));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(elementType.getNumber()).setShape(shape)))
                .build();
    }
}
