package dev.vlstm.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

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
 * An ONNX model of one {@code LSTM} or {@code GRU} node, built with the ONNX protobuf classes that Tribuo's
 * {@code tribuo-util-onnx} ships (as the bench's OnnxLstmModel), with every optional input the node has: graph
 * inputs {@code X [T][B][I]}, {@code sequence_lens [B]} (int32), {@code initial_h} (and an LSTM's
 * {@code initial_c}) {@code [D][B][H]}; the weights {@code W [D][G·H][I]}, {@code R [D][G·H][H]},
 * {@code B [D][2G·H]} (and an LSTM's {@code P [D][3H]}) as initializers, in ONNX's gate order; attributes
 * {@code hidden_size}, {@code direction}, an LSTM's {@code input_forget}, a GRU's {@code linear_before_reset}
 * and, if finite, {@code clip}; outputs {@code Y [T][D][B][H]}, {@code Y_h} (and an LSTM's {@code Y_c})
 * {@code [D][B][H]}. Opset 14, default {@code layout} 0 (time-major).
 */
final class OnnxNodeModel {

    private static final int IR_VERSION = 8;
    private static final int OPSET = 14;

    private OnnxNodeModel() {
    }

    /**
     * The serialised {@code ModelProto} of an {@code LSTM} node.
     *
     * @param direction "forward" or "bidirectional" (D = 1 or 2)
     * @param w         W, {@code [D][4H][I]}, ONNX's gate order
     * @param r         R, {@code [D][4H][H]}
     * @param b         B, {@code [D][8H]}
     * @param p         P, {@code [D][3H]}
     * @param clip      the clip attribute, or +∞ for none (the attribute left out)
     * @param inputForget the input_forget attribute: true couples the forget gate to the input gate, f = 1 - i
     */
    static byte[] lstm(int inputSize, int hiddenSize, int steps, int batch, String direction, float[] w, float[] r,
                       float[] b, float[] p, float clip, boolean inputForget) {
        int directions = directions(direction);
        NodeProto.Builder node = node("LSTM", hiddenSize, direction)
                .addInput("X").addInput("W").addInput("R").addInput("B")
                .addInput("sequence_lens").addInput("initial_h").addInput("initial_c").addInput("P")
                .addOutput("Y").addOutput("Y_h").addOutput("Y_c")
                .addAttribute(AttributeProto.newBuilder().setName("input_forget")
                        .setType(AttributeProto.AttributeType.INT).setI(inputForget ? 1 : 0));
        clip(node, clip);
        GraphProto.Builder graph = graph(node, 4, inputSize, hiddenSize, steps, batch, directions, w, r, b)
                .addInitializer(tensor("P", p, directions, 3 * hiddenSize))
                .addInput(value("initial_c", TensorProto.DataType.FLOAT, directions, batch, hiddenSize))
                .addOutput(value("Y_c", TensorProto.DataType.FLOAT, directions, batch, hiddenSize));
        return model(graph);
    }

    /**
     * The serialised {@code ModelProto} of a {@code GRU} node.
     *
     * @param direction         "forward" or "bidirectional" (D = 1 or 2)
     * @param linearBeforeReset the linear_before_reset attribute
     * @param w                 W, {@code [D][3H][I]}, ONNX's gate order z, r, h
     * @param r                 R, {@code [D][3H][H]}
     * @param b                 B, {@code [D][6H]}
     * @param clip              the clip attribute, or +∞ for none (the attribute left out)
     */
    static byte[] gru(int inputSize, int hiddenSize, int steps, int batch, String direction, int linearBeforeReset,
                      float[] w, float[] r, float[] b, float clip) {
        NodeProto.Builder node = node("GRU", hiddenSize, direction)
                .addInput("X").addInput("W").addInput("R").addInput("B")
                .addInput("sequence_lens").addInput("initial_h")
                .addOutput("Y").addOutput("Y_h")
                .addAttribute(AttributeProto.newBuilder().setName("linear_before_reset")
                        .setType(AttributeProto.AttributeType.INT).setI(linearBeforeReset));
        clip(node, clip);
        return model(graph(node, 3, inputSize, hiddenSize, steps, batch, directions(direction), w, r, b));
    }

    /** Adds the {@code clip} attribute to {@code node} if {@code clip} is finite. */
    private static void clip(NodeProto.Builder node, float clip) {
        if (clip < Float.POSITIVE_INFINITY) {
            node.addAttribute(AttributeProto.newBuilder().setName("clip")
                    .setType(AttributeProto.AttributeType.FLOAT).setF(clip));
        }
    }

    private static int directions(String direction) {
        return direction.equals("bidirectional") ? 2 : 1;
    }

    private static NodeProto.Builder node(String type, int hiddenSize, String direction) {
        return NodeProto.newBuilder().setName(type.toLowerCase(java.util.Locale.ROOT)).setOpType(type)
                .addAttribute(AttributeProto.newBuilder().setName("hidden_size")
                        .setType(AttributeProto.AttributeType.INT).setI(hiddenSize))
                .addAttribute(AttributeProto.newBuilder().setName("direction")
                        .setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(direction)));
    }

    /** The graph of {@code node} with what LSTM and GRU nodes share: W, R, B, X, sequence_lens, initial_h, Y, Y_h. */
    private static GraphProto.Builder graph(NodeProto.Builder node, int gates, int inputSize, int hiddenSize,
                                            int steps, int batch, int directions, float[] w, float[] r, float[] b) {
        return GraphProto.newBuilder()
                .addNode(node)
                .setName("vlstm-test-" + node.getOpType() + "-" + directions)
                .addInitializer(tensor("W", w, directions, gates * hiddenSize, inputSize))
                .addInitializer(tensor("R", r, directions, gates * hiddenSize, hiddenSize))
                .addInitializer(tensor("B", b, directions, 2 * gates * hiddenSize))
                .addInput(value("X", TensorProto.DataType.FLOAT, steps, batch, inputSize))
                .addInput(value("sequence_lens", TensorProto.DataType.INT32, batch))
                .addInput(value("initial_h", TensorProto.DataType.FLOAT, directions, batch, hiddenSize))
                .addOutput(value("Y", TensorProto.DataType.FLOAT, steps, directions, batch, hiddenSize))
                .addOutput(value("Y_h", TensorProto.DataType.FLOAT, directions, batch, hiddenSize));
    }

    private static byte[] model(GraphProto.Builder graph) {
        return ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .setProducerName("vlstm-tests")
                .setGraph(graph)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(OPSET))
                .build()
                .toByteArray();
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
