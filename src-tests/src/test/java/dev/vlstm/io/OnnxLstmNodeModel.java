package dev.vlstm.io;

/**
 * An ONNX model of one {@code LSTM} node, serialised by hand (as the bench's OnnxLstmModel, without a protobuf
 * library), with every optional input ONNX's LSTM has: graph inputs {@code X [T][B][I]}, {@code sequence_lens [B]}
 * (int32), {@code initial_h} and {@code initial_c [D][B][H]}; the weights {@code W [D][4H][I]}, {@code R [D][4H][H]},
 * {@code B [D][8H]} and {@code P [D][3H]} as initializers, in ONNX's gate order; attributes {@code hidden_size},
 * {@code direction} and, if finite, {@code clip}; outputs {@code Y [T][D][B][H]}, {@code Y_h} and
 * {@code Y_c [D][B][H]}. Opset 14, default {@code layout} 0 (time-major).
 */
final class OnnxLstmNodeModel {

    private static final int IR_VERSION = 8;
    private static final int OPSET = 14;
    private static final int FLOAT = 1;
    private static final int INT32 = 6;

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
    private static final int ATTRIBUTE_F = 2;
    private static final int ATTRIBUTE_I = 3;
    private static final int ATTRIBUTE_S = 4;
    private static final int ATTRIBUTE_TYPE = 20;
    private static final int ATTRIBUTE_TYPE_FLOAT = 1;
    private static final int ATTRIBUTE_TYPE_INT = 2;
    private static final int ATTRIBUTE_TYPE_STRING = 3;
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

    private OnnxLstmNodeModel() {
    }

    /**
     * The serialised {@code ModelProto}.
     *
     * @param direction "forward" or "bidirectional" (D = 1 or 2)
     * @param w         W, {@code [D][4H][I]}, ONNX's gate order
     * @param r         R, {@code [D][4H][H]}
     * @param b         B, {@code [D][8H]}
     * @param p         P, {@code [D][3H]}
     * @param clip      the clip attribute, or +∞ for none (the attribute left out)
     */
    static byte[] bytes(int inputSize, int hiddenSize, int steps, int batch, String direction, float[] w, float[] r,
                        float[] b, float[] p, float clip) {
        int directions = direction.equals("bidirectional") ? 2 : 1;
        ProtobufWriter node = new ProtobufWriter()
                .string(NODE_INPUT, "X").string(NODE_INPUT, "W").string(NODE_INPUT, "R").string(NODE_INPUT, "B")
                .string(NODE_INPUT, "sequence_lens").string(NODE_INPUT, "initial_h").string(NODE_INPUT, "initial_c")
                .string(NODE_INPUT, "P")
                .string(NODE_OUTPUT, "Y").string(NODE_OUTPUT, "Y_h").string(NODE_OUTPUT, "Y_c")
                .string(NODE_NAME, "lstm").string(NODE_OP_TYPE, "LSTM")
                .message(NODE_ATTRIBUTE, new ProtobufWriter().string(ATTRIBUTE_NAME, "hidden_size")
                        .varint(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INT).varint(ATTRIBUTE_I, hiddenSize))
                .message(NODE_ATTRIBUTE, new ProtobufWriter().string(ATTRIBUTE_NAME, "direction")
                        .varint(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_STRING).string(ATTRIBUTE_S, direction));
        if (clip < Float.POSITIVE_INFINITY) {
            node.message(NODE_ATTRIBUTE, new ProtobufWriter().string(ATTRIBUTE_NAME, "clip")
                    .varint(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_FLOAT).fixed32(ATTRIBUTE_F, clip));
        }
        ProtobufWriter graph = new ProtobufWriter()
                .message(GRAPH_NODE, node)
                .string(GRAPH_NAME, "vlstm-test-" + direction)
                .message(GRAPH_INITIALIZER, tensor("W", w, directions, 4 * hiddenSize, inputSize))
                .message(GRAPH_INITIALIZER, tensor("R", r, directions, 4 * hiddenSize, hiddenSize))
                .message(GRAPH_INITIALIZER, tensor("B", b, directions, 8 * hiddenSize))
                .message(GRAPH_INITIALIZER, tensor("P", p, directions, 3 * hiddenSize))
                .message(GRAPH_INPUT, value("X", FLOAT, steps, batch, inputSize))
                .message(GRAPH_INPUT, value("sequence_lens", INT32, batch))
                .message(GRAPH_INPUT, value("initial_h", FLOAT, directions, batch, hiddenSize))
                .message(GRAPH_INPUT, value("initial_c", FLOAT, directions, batch, hiddenSize))
                .message(GRAPH_OUTPUT, value("Y", FLOAT, steps, directions, batch, hiddenSize))
                .message(GRAPH_OUTPUT, value("Y_h", FLOAT, directions, batch, hiddenSize))
                .message(GRAPH_OUTPUT, value("Y_c", FLOAT, directions, batch, hiddenSize));
        return new ProtobufWriter()
                .varint(MODEL_IR_VERSION, IR_VERSION)
                .string(MODEL_PRODUCER_NAME, "vlstm-tests")
                .message(MODEL_GRAPH, graph)
                .message(MODEL_OPSET_IMPORT, new ProtobufWriter().varint(OPSET_VERSION, OPSET))
                .toByteArray();
    }

    private static ProtobufWriter tensor(String name, float[] values, long... dims) {
        ProtobufWriter tensor = new ProtobufWriter();
        for (long dim : dims) {
            tensor.varint(TENSOR_DIMS, dim);
        }
        return tensor.varint(TENSOR_DATA_TYPE, FLOAT).string(TENSOR_NAME, name)
                .bytes(TENSOR_RAW_DATA, ProtobufWriter.littleEndian(values));
    }

    /** A graph input or output: a tensor of {@code elementType} and fixed shape. */
    private static ProtobufWriter value(String name, int elementType, long... dims) {
        ProtobufWriter shape = new ProtobufWriter();
        for (long dim : dims) {
            shape.message(SHAPE_DIM, new ProtobufWriter().varint(DIM_VALUE, dim));
        }
        ProtobufWriter tensorType = new ProtobufWriter().varint(TENSOR_TYPE_ELEM_TYPE, elementType)
                .message(TENSOR_TYPE_SHAPE, shape);
        return new ProtobufWriter().string(VALUE_NAME, name)
                .message(VALUE_TYPE, new ProtobufWriter().message(TYPE_TENSOR, tensorType));
    }
}
