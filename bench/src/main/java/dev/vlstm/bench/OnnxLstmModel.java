package dev.vlstm.bench;

/**
 * A {@link RandomLstm}'s layer as an ONNX model with one {@code LSTM} node, serialised by hand (the bench has no
 * protobuf library): inputs {@code X [T][B][I]}, {@code initial_h} and {@code initial_c [1][B][H]}; the weights
 * {@code W [1][4H][I]}, {@code R [1][4H][H]} and {@code B [1][8H]} as initializers, so that ONNX Runtime knows
 * them constant and may prepack them; outputs {@code Y [T][1][B][H]}, {@code Y_h} and {@code Y_c [1][B][H]}.
 * T and B are fixed by the shape. Opset 14, the first with the LSTM node's {@code layout} attribute (left at 0:
 * time-major, as vlstm).
 */
final class OnnxLstmModel {

    /**
     * For each PyTorch gate (i, f, g, o), its index in ONNX's order (i, o, f, c): the inverse of what
     * {@code dev.vlstm.io.GateConventions} applies when it loads an ONNX model.
     */
    private static final int[] ONNX_GATE = {0, 2, 3, 1};
    private static final int IR_VERSION = 8;
    private static final int OPSET = 14;
    private static final int FLOAT = 1;

    // Field numbers from onnx.proto.
    private static final int MODEL_IR_VERSION = 1;
    private static final int MODEL_PRODUCER_NAME = 2;
    private static final int MODEL_GRAPH = 7;
    private static final int MODEL_OPSET_IMPORT = 8;
    private static final int OPSET_VERSION = 2;
    private static final int GRAPH_NODE = 1;
    private static final int GRAPH_NAME = 2;
    private static final int GRAPH_INITIALIZER = 5;
    private static final int GRAPH_INPUT = 11;
    private static final int GRAPH_OUTPUT = 12;
    private static final int NODE_INPUT = 1;
    private static final int NODE_OUTPUT = 2;
    private static final int NODE_NAME = 3;
    private static final int NODE_OP_TYPE = 4;
    private static final int NODE_ATTRIBUTE = 5;
    private static final int ATTRIBUTE_NAME = 1;
    private static final int ATTRIBUTE_I = 3;
    private static final int ATTRIBUTE_TYPE = 20;
    private static final int ATTRIBUTE_TYPE_INT = 2;
    private static final int TENSOR_DIMS = 1;
    private static final int TENSOR_DATA_TYPE = 2;
    private static final int TENSOR_NAME = 8;
    private static final int TENSOR_RAW_DATA = 9;
    private static final int VALUE_NAME = 1;
    private static final int VALUE_TYPE = 2;
    private static final int TYPE_TENSOR = 1;
    private static final int TENSOR_TYPE_ELEM_TYPE = 1;
    private static final int TENSOR_TYPE_SHAPE = 2;
    private static final int SHAPE_DIM = 1;
    private static final int DIM_VALUE = 1;

    private OnnxLstmModel() {
    }

    /** The serialised {@code ModelProto} of {@code model}'s layer over {@code steps} time steps. */
    static byte[] bytes(RandomLstm model, int steps) {
        int input = model.shape().size();
        int hidden = model.shape().size();
        int batch = model.shape().batch();
        float[] bias = new float[8 * hidden];
        System.arraycopy(toOnnxGateOrder(model.biasIh(), 1, hidden), 0, bias, 0, 4 * hidden);
        System.arraycopy(toOnnxGateOrder(model.biasHh(), 1, hidden), 0, bias, 4 * hidden, 4 * hidden);

        ProtobufWriter node = new ProtobufWriter()
                .string(NODE_INPUT, "X").string(NODE_INPUT, "W").string(NODE_INPUT, "R").string(NODE_INPUT, "B")
                .string(NODE_INPUT, "").string(NODE_INPUT, "initial_h").string(NODE_INPUT, "initial_c")
                .string(NODE_OUTPUT, "Y").string(NODE_OUTPUT, "Y_h").string(NODE_OUTPUT, "Y_c")
                .string(NODE_NAME, "lstm").string(NODE_OP_TYPE, "LSTM")
                .message(NODE_ATTRIBUTE, new ProtobufWriter().string(ATTRIBUTE_NAME, "hidden_size")
                        .varint(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INT).varint(ATTRIBUTE_I, hidden));
        ProtobufWriter graph = new ProtobufWriter()
                .message(GRAPH_NODE, node)
                .string(GRAPH_NAME, "vlstm-bench-" + model.shape().name())
                .message(GRAPH_INITIALIZER, tensor("W", toOnnxGateOrder(model.weightIh(), input, hidden),
                        1, 4 * hidden, input))
                .message(GRAPH_INITIALIZER, tensor("R", toOnnxGateOrder(model.weightHh(), hidden, hidden),
                        1, 4 * hidden, hidden))
                .message(GRAPH_INITIALIZER, tensor("B", bias, 1, 8 * hidden))
                .message(GRAPH_INPUT, value("X", steps, batch, input))
                .message(GRAPH_INPUT, value("initial_h", 1, batch, hidden))
                .message(GRAPH_INPUT, value("initial_c", 1, batch, hidden))
                .message(GRAPH_OUTPUT, value("Y", steps, 1, batch, hidden))
                .message(GRAPH_OUTPUT, value("Y_h", 1, batch, hidden))
                .message(GRAPH_OUTPUT, value("Y_c", 1, batch, hidden));
        return new ProtobufWriter()
                .varint(MODEL_IR_VERSION, IR_VERSION)
                .string(MODEL_PRODUCER_NAME, "vlstm-bench")
                .message(MODEL_GRAPH, graph)
                .message(MODEL_OPSET_IMPORT, new ProtobufWriter().varint(OPSET_VERSION, OPSET))
                .toByteArray();
    }

    /** PyTorch's gate blocks (i, f, g, o; each H rows of {@code columns}) into ONNX's order (i, o, f, c). */
    static float[] toOnnxGateOrder(float[] pytorch, int columns, int hidden) {
        float[] onnx = new float[pytorch.length];
        int block = hidden * columns;
        for (int gate = 0; gate < 4; gate++) {
            System.arraycopy(pytorch, gate * block, onnx, ONNX_GATE[gate] * block, block);
        }
        return onnx;
    }

    private static ProtobufWriter tensor(String name, float[] values, long... dims) {
        ProtobufWriter tensor = new ProtobufWriter();
        for (long dim : dims) {
            tensor.varint(TENSOR_DIMS, dim);
        }
        return tensor.varint(TENSOR_DATA_TYPE, FLOAT).string(TENSOR_NAME, name)
                .bytes(TENSOR_RAW_DATA, ProtobufWriter.littleEndian(values));
    }

    /** A graph input or output: a float tensor of fixed shape. */
    private static ProtobufWriter value(String name, long... dims) {
        ProtobufWriter shape = new ProtobufWriter();
        for (long dim : dims) {
            shape.message(SHAPE_DIM, new ProtobufWriter().varint(DIM_VALUE, dim));
        }
        ProtobufWriter tensorType = new ProtobufWriter().varint(TENSOR_TYPE_ELEM_TYPE, FLOAT)
                .message(TENSOR_TYPE_SHAPE, shape);
        return new ProtobufWriter().string(VALUE_NAME, name)
                .message(VALUE_TYPE, new ProtobufWriter().message(TYPE_TENSOR, tensorType));
    }
}
