package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;

/**
 * How the processor is named from what each operating system says: {@code /proc/cpuinfo} of an x86 and an ARM
 * Linux machine (the first processor's fields), macOS's brand string, Windows' identifier, and the fallback when
 * none says anything.
 */
class CpuModelTest {

    /** The head of an AMD EPYC machine's /proc/cpuinfo, two processors; "model" comes before "model name". */
    private static final List<String> X86 = List.of(
            "processor\t: 0",
            "vendor_id\t: AuthenticAMD",
            "cpu family\t: 25",
            "model\t\t: 17",
            "model name\t: AMD EPYC 9R14 96-Core Processor",
            "stepping\t: 1",
            "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov avx512f",
            "",
            "processor\t: 1",
            "vendor_id\t: GenuineIntel",
            "cpu family\t: 6",
            "model\t\t: 85",
            "model name\t: another processor");

    /** An AWS Graviton 2 (Neoverse N1) machine's: no vendor or model name, ARM's implementer and part codes. */
    private static final List<String> ARM = List.of(
            "processor\t: 0",
            "BogoMIPS\t: 243.75",
            "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop",
            "CPU implementer\t: 0x41",
            "CPU architecture: 8",
            "CPU variant\t: 0x3",
            "CPU part\t: 0xd0c",
            "CPU revision\t: 1",
            "",
            "processor\t: 1",
            "CPU implementer\t: 0x42",
            "CPU variant\t: 0x0",
            "CPU part\t: 0x516");

    /** For machines that must not run sysctl. */
    private static final Supplier<Optional<String>> NO_SYSCTL = () -> fail("sysctl asked on another system");

    @Test
    void x86LinuxIsNamedByTheFirstProcessorsModelNameVendorFamilyAndModel() {
        assertEquals("AMD EPYC 9R14 96-Core Processor (AuthenticAMD family 25 model 17)",
                CpuModel.name(X86, "Linux", "amd64", NO_SYSCTL, null));
    }

    @Test
    void armLinuxIsNamedByTheFirstProcessorsImplementerPartAndVariant() {
        assertEquals("aarch64 (implementer 0x41 part 0xd0c variant 0x3)",
                CpuModel.name(ARM, "Linux", "aarch64", NO_SYSCTL, null));
    }

    @Test
    void missingFieldsShowAsQuestionMarks() {
        assertEquals("? (AuthenticAMD family ? model ?)",
                CpuModel.name(List.of("vendor_id : AuthenticAMD"), "Linux", "amd64", NO_SYSCTL, null));
        assertEquals("aarch64 (implementer 0x41 part ? variant ?)",
                CpuModel.name(List.of("CPU implementer : 0x41"), "Linux", "aarch64", NO_SYSCTL, null));
    }

    @Test
    void macOsIsNamedBySysctlsBrandString() {
        assertEquals("Apple M2 (aarch64)",
                CpuModel.name(List.of(), "Mac OS X", "aarch64", () -> Optional.of("Apple M2"), null));
    }

    @Test
    void windowsIsNamedByProcessorIdentifier() {
        assertEquals("Intel64 Family 6 Model 85 Stepping 7, GenuineIntel", CpuModel.name(List.of(), "Windows 11",
                "amd64", NO_SYSCTL, " Intel64 Family 6 Model 85 Stepping 7, GenuineIntel "));
    }

    @Test
    void withoutAnyAnswerTheArchitectureAndSystemAreNamedAndTheModelIsUnknown() {
        assertEquals("amd64 on Linux (model unknown)", CpuModel.name(List.of(), "Linux", "amd64", NO_SYSCTL, null));
        assertEquals("aarch64 on Mac OS X (model unknown)",
                CpuModel.name(List.of(), "Mac OS X", "aarch64", Optional::empty, null));
        assertEquals("amd64 on Windows 11 (model unknown)",
                CpuModel.name(List.of(), "Windows 11", "amd64", NO_SYSCTL, " "));
        assertEquals("riscv64 on FreeBSD (model unknown)",
                CpuModel.name(List.of(), "FreeBSD", "riscv64", NO_SYSCTL, null));
    }

    @Test
    void thisMachinesIdentityEndsWithItsCpuCount() {
        String identity = CpuModel.current().identity();
        assertTrue(identity.endsWith(", " + Runtime.getRuntime().availableProcessors() + " CPUs"), identity);
    }
}
