package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The gate's baselines file: one machine's baseline replaced without touching another's, bad values named. */
class GateBaselineTest {

    @TempDir
    Path directory;

    @Test
    void aMissingFileHoldsNoBaseline() throws IOException {
        GateBaseline baselines = GateBaseline.read(directory.resolve("absent.properties"));
        assertTrue(baselines.machines().isEmpty());
        assertTrue(baselines.of("AuthenticAMD-25-17-vector-512").isEmpty());
    }

    @Test
    void updatingOneMachineKeepsTheOthers() throws IOException {
        Path file = directory.resolve("baseline.properties");
        GateBaseline.read(file)
                .with("AuthenticAMD-25-17-vector-512", new GateBaseline.Machine("first: rounds 1, 2, 3",
                        Map.of("step-H256", 14.37, "seq-B1-T100-H256", 21.95)))
                .with("GenuineIntel-6-143-vector-512", new GateBaseline.Machine("second", Map.of("step-H256", 9.5)))
                .write(file, "two machines");
        GateBaseline.read(file)
                .with("AuthenticAMD-25-17-vector-512", new GateBaseline.Machine("again",
                        Map.of("step-H256", 15.0, "seq-B1-T100-H256", 22.0)))
                .write(file, "header\nof two lines");

        GateBaseline reread = GateBaseline.read(file);
        assertEquals(List.of("AuthenticAMD-25-17-vector-512", "GenuineIntel-6-143-vector-512"), reread.machines());
        GateBaseline.Machine amd = reread.of("AuthenticAMD-25-17-vector-512").orElseThrow();
        assertEquals("again", amd.note());
        assertEquals(Map.of("step-H256", 15.0, "seq-B1-T100-H256", 22.0), amd.speedups());
        assertEquals(Map.of("step-H256", 9.5), reread.of("GenuineIntel-6-143-vector-512").orElseThrow().speedups());
        assertTrue(Files.readString(file).startsWith("# header\n# of two lines\n"));
    }

    @Test
    void aSpeedupThatIsNotAPositiveNumberIsRefusedByKey() throws IOException {
        Path file = directory.resolve("bad.properties");
        Files.writeString(file, "m.step-H256=fast\n");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> GateBaseline.read(file));
        assertTrue(error.getMessage().contains("m.step-H256"), error.getMessage());
        Files.writeString(file, "m.step-H256=-2\n");
        assertThrows(IllegalArgumentException.class, () -> GateBaseline.read(file));
        Files.writeString(file, "no-machine-here=2\n");
        assertThrows(IllegalArgumentException.class, () -> GateBaseline.read(file));
    }
}
