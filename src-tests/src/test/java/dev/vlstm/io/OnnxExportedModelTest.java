package dev.vlstm.io;

import static dev.vlstm.io.OnnxRuntimeParityTest.assertClose;
import static dev.vlstm.io.OnnxRuntimeParityTest.floats;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.Runner;

/**
 * ONNX files as users have them: every case of {@code src-tests/golden/make_onnx_exported.py}, an nn.LSTM or nn.GRU
 * of one layer (forward or bidirectional) exported by PyTorch's own {@code torch.onnx.export} (PyTorch 1.13, opset
 * 14). The test reads the recurrent node's weights and attributes out of the file, loads them with
 * {@link GateConventions#onnxLstm} or {@link GateConventions#onnxGru}, and runs the packed model: its y, hT (and cT)
 * must be PyTorch's within {@link OnnxRuntimeParityTest#assertClose}'s tolerance (1e-5 of the largest value; float32
 * on both sides). ONNX Runtime running the same file must agree with PyTorch too, so that the expected outputs are
 * those of the file the test reads.
 */
class OnnxExportedModelTest {

    private static final Path EXPORTED = Path.of("src/test/resources/onnx-exported");

    static Stream<String> cases() throws IOException {
        try (Stream<Path> list = Files.list(EXPORTED)) {
            return list.map(path -> path.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void anExportedNodeLoadsAndRunsToPyTorchsOutputs(String name) throws IOException {
        Path folder = EXPORTED.resolve(name);
        ModelProto onnx = ModelProto.parseFrom(Files.readAllBytes(folder.resolve("model.onnx")));
        List<NodeProto> recurrent = onnx.getGraph().getNodeList().stream()
                .filter(node -> node.getOpType().equals("LSTM") || node.getOpType().equals("GRU")).toList();
        assertEquals(1, recurrent.size(), "recurrent nodes in " + name);
        NodeProto node = recurrent.getFirst();
        boolean lstm = node.getOpType().equals("LSTM");
        Map<String, TensorProto> initializers = new HashMap<>();
        for (TensorProto tensor : onnx.getGraph().getInitializerList()) {
            initializers.put(tensor.getName(), tensor);
        }
        TensorProto wTensor = initializers.get(node.getInput(1));
        float[] w = values(wTensor);
        float[] r = values(initializers.get(node.getInput(2)));
        float[] b = values(initializers.get(node.getInput(3)));
        int inputSize = (int) wTensor.getDims(2);
        int hiddenSize = (int) attribute(node, "hidden_size").orElseThrow().getI();
        String direction = attribute(node, "direction").map(value -> value.getS().toStringUtf8()).orElse("forward");

        FloatTensor x = Npy.read(folder.resolve("x.npy"));
        int steps = (int) x.shape()[0];
        int batch = (int) x.shape()[1];
        float[] h0 = npy(folder, "h0");
        float[] c0 = lstm ? npy(folder, "c0") : null;
        float[] y = new float[npy(folder, "expected_y").length];
        float[] hT = new float[h0.length];
        float[] cT = lstm ? new float[c0.length] : null;
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        try (Parameters parameters = lstm
                     ? GateConventions.onnxLstm(inputSize, hiddenSize, direction, w, r, b, null)
                     : GateConventions.onnxGru(inputSize, hiddenSize, direction,
                             attribute(node, "linear_before_reset").orElseThrow().getI(), w, r, b);
             Model model = Model.pack(parameters, options);
             Runner runner = model.runner()) {
            runner.forward(x.data(), steps, batch, h0, c0, y, hT, cT);
        }
        assertClose(name + " y", npy(folder, "expected_y"), y);
        assertClose(name + " hT", npy(folder, "expected_hn"), hT);
        if (lstm) {
            assertClose(name + " cT", npy(folder, "expected_cn"), cT);
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void onnxRuntimeRunsTheFileToPyTorchsOutputs(String name) throws IOException, OrtException {
        Path folder = EXPORTED.resolve(name);
        boolean lstm = Files.exists(folder.resolve("c0.npy"));
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(1);
            try (OrtSession session = environment.createSession(Files.readAllBytes(folder.resolve("model.onnx")),
                    options);
                 OnnxTensor x = tensor(environment, folder, "x");
                 OnnxTensor h0 = tensor(environment, folder, "h0");
                 OnnxTensor c0 = lstm ? tensor(environment, folder, "c0") : null) {
                Map<String, OnnxTensor> inputs = new HashMap<>(Map.of("x", x, "h0", h0));
                if (lstm) {
                    inputs.put("c0", c0);
                }
                try (OrtSession.Result result = session.run(inputs)) {
                    assertClose(name + " y", npy(folder, "expected_y"), floats(result, "y"));
                    assertClose(name + " hn", npy(folder, "expected_hn"), floats(result, "hn"));
                    if (lstm) {
                        assertClose(name + " cn", npy(folder, "expected_cn"), floats(result, "cn"));
                    }
                }
            }
        }
    }

    /** The node's attribute {@code name}, or empty if the exporter left it at ONNX's default. */
    private static Optional<AttributeProto> attribute(NodeProto node, String name) {
        return node.getAttributeList().stream().filter(attribute -> attribute.getName().equals(name)).findFirst();
    }

    /** A float tensor's values, from {@code raw_data} (little-endian) or {@code float_data}. */
    private static float[] values(TensorProto tensor) {
        assertEquals(TensorProto.DataType.FLOAT_VALUE, tensor.getDataType(), tensor.getName() + " element type");
        if (tensor.getRawData().isEmpty()) {
            float[] values = new float[tensor.getFloatDataCount()];
            for (int n = 0; n < values.length; n++) {
                values[n] = tensor.getFloatData(n);
            }
            return values;
        }
        FloatBuffer raw = tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] values = new float[raw.remaining()];
        raw.get(values);
        return values;
    }

    private static float[] npy(Path folder, String name) throws IOException {
        return Npy.read(folder.resolve(name + ".npy")).data();
    }

    private static OnnxTensor tensor(OrtEnvironment environment, Path folder, String name)
            throws IOException, OrtException {
        FloatTensor values = Npy.read(folder.resolve(name + ".npy"));
        return OnnxTensor.createTensor(environment, FloatBuffer.wrap(values.data()), values.shape());
    }
}
