package dev.vlstm.bench;

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
 * A {@link RandomLstm}'s layer as an ONNX model with one {@code LSTM} node, built with the ONNX protobuf classes
 * that Tribuo's {@code tribuo-util-onnx} ships (generated from ONNX's {@code onnx-ml.proto}): inputs
 * {@code X [T][B][I]}, {@code initial_h} and {@code initial_c [1][B][H]}; the weights {@code W [1][4H][I]},
 * {@code R [1][4H][H]} and {@code B [1][8H]} as initializers, so that ONNX Runtime knows them constant and may
 * prepack them; outputs {@code Y [T][1][B][H]}, {@code Y_h} and {@code Y_c [1][B][H]}. T and B are fixed by the
 * shape. Opset 14, the first with the LSTM node's {@code layout} attribute (left at 0: time-major, as vlstm).
 */
final class OnnxLstmModel {

    /**
     * For each PyTorch gate (i, f, g, o), its index in ONNX's order (i, o, f, c): the inverse of what
     * {@code dev.vlstm.io.GateConventions} applies when it loads an ONNX model.
     */
    private static final int[] ONNX_GATE = {0, 2, 3, 1};
    private static final int IR_VERSION = 8;
    private static final int OPSET = 14;

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

        NodeProto node = NodeProto.newBuilder()
                .addInput("X").addInput("W").addInput("R").addInput("B")
                .addInput("").addInput("initial_h").addInput("initial_c")
                .addOutput("Y").addOutput("Y_h").addOutput("Y_c")
                .setName("lstm").setOpType("LSTM")
                .addAttribute(AttributeProto.newBuilder().setName("hidden_size")
                        .setType(AttributeProto.AttributeType.INT).setI(hidden))
                .build();
        GraphProto graph = GraphProto.newBuilder()
                .addNode(node)
                .setName("vlstm-bench-" + model.shape().name())
                .addInitializer(tensor("W", toOnnxGateOrder(model.weightIh(), input, hidden), 1, 4 * hidden, input))
                .addInitializer(tensor("R", toOnnxGateOrder(model.weightHh(), hidden, hidden), 1, 4 * hidden, hidden))
                .addInitializer(tensor("B", bias, 1, 8 * hidden))
                .addInput(value("X", steps, batch, input))
                .addInput(value("initial_h", 1, batch, hidden))
                .addInput(value("initial_c", 1, batch, hidden))
                .addOutput(value("Y", steps, 1, batch, hidden))
                .addOutput(value("Y_h", 1, batch, hidden))
                .addOutput(value("Y_c", 1, batch, hidden))
                .build();
        return ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .setProducerName("vlstm-bench")
                .setGraph(graph)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(OPSET))
                .build()
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

    /** A graph input or output: a float tensor of fixed shape. */
    private static ValueInfoProto value(String name, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long dim : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(dim));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape)))
                .build();
    }
}
