package dev.vlstm.bench;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Optional;

/**
 * oneDNN's C API (the {@code dnnl_*} functions of {@code libdnnl.so.3}) and the two OpenMP functions it runs under,
 * bound through {@link Linker#nativeLinker()}: no JNI, no generated bindings. The native libraries come from the
 * class path (the {@code org.bytedeco:dnnl} and {@code org.bytedeco:opencl} jars of the {@code linux-x86_64}
 * platform; only their shared libraries are used): {@link Library} copies them into a new temporary directory and
 * loads libgomp, then the OpenCL loader that oneDNN's build links against (its GPU engine is never created here),
 * then oneDNN, each by its full path.
 *
 * <p>Every oneDNN call of this process runs on one OpenMP thread: OpenMP's thread count is a property of the calling
 * thread, so {@link #useOneThread()} sets it on each thread before that thread creates or runs a primitive.
 *
 * <p>The constants are the values of oneDNN 3.8's C enums and {@code DNNL_ARG_*} macros
 * ({@code dnnl_common_types.h}, {@code dnnl_types.h}).
 */
final class OneDnn {

    static final int SUCCESS = 0;
    static final int ENGINE_CPU = 1;
    static final int STREAM_IN_ORDER = 1;
    static final int F32 = 3;

    static final int FORMAT_ANY = 1;
    /** {@code [T][B][C]} (time, batch, channels): dnnl_tnc. */
    static final int TNC = 4;
    /** {@code [L][D][B][C]} (layers, directions, batch, channels): dnnl_ldnc. */
    static final int LDNC = 5;
    /** {@code [L][D][G][O]} (layers, directions, gates, outputs), a bias: dnnl_ldgo. */
    static final int LDGO = 5;
    /**
     * Weights of logical dims {@code [L][D][I][G][O]} stored as {@code [L][D][G][O][I]}: PyTorch's {@code [G·H][I]}
     * row-major weights of one layer and direction, as they are: dnnl_ldgoi.
     */
    static final int LDGOI = 31;

    static final int FORWARD_TRAINING = 64;
    static final int FORWARD_INFERENCE = 96;
    static final int BACKWARD = 128;
    static final int UNIDIRECTIONAL_LEFT_TO_RIGHT = 1;
    /** dnnl_rnn_flags_diff_weights_overwrite: the backward writes the weight gradients instead of adding to them. */
    static final int RNN_DIFF_WEIGHTS_OVERWRITE = 1;
    static final int SCRATCHPAD_MODE_USER = 1;

    static final int QUERY_IMPL_INFO_STR = 8;
    static final int QUERY_WORKSPACE_MD = 135;
    static final int QUERY_SCRATCHPAD_MD = 136;
    static final int QUERY_EXEC_ARG_MD = 255;

    static final int ARG_SRC_LAYER = 1;
    static final int ARG_SRC_ITER = 2;
    static final int ARG_SRC_ITER_C = 3;
    static final int ARG_DST_LAYER = 17;
    static final int ARG_DST_ITER = 18;
    static final int ARG_DST_ITER_C = 19;
    static final int ARG_WEIGHTS_LAYER = 33;
    static final int ARG_WEIGHTS_ITER = 34;
    static final int ARG_BIAS = 41;
    static final int ARG_WORKSPACE = 64;
    static final int ARG_SCRATCHPAD = 80;
    static final int ARG_DIFF_SRC_LAYER = 129;
    static final int ARG_DIFF_SRC_ITER = 130;
    static final int ARG_DIFF_SRC_ITER_C = 131;
    static final int ARG_DIFF_DST_LAYER = 145;
    static final int ARG_DIFF_WEIGHTS_LAYER = 161;
    static final int ARG_DIFF_WEIGHTS_ITER = 162;
    static final int ARG_DIFF_BIAS = 169;
    /** A reorder's source and destination: DNNL_ARG_FROM and DNNL_ARG_TO. */
    static final int ARG_FROM = 1;
    static final int ARG_TO = 17;

    /** {@code dnnl_exec_arg_t}: an argument index and the memory object it names. */
    static final MemoryLayout EXEC_ARG = MemoryLayout.structLayout(JAVA_INT.withName("arg"),
            MemoryLayout.paddingLayout(4), ADDRESS.withName("memory"));

    /** Entries of {@code dnnl_dims_t}. */
    private static final int MAX_DIMS = 12;

    private OneDnn() {
    }

    /** Why oneDNN cannot run in this JVM (not Linux on x86-64, a library missing or not loading), or empty. */
    static Optional<String> unavailableReason() {
        return Availability.REASON;
    }

    /** Throws, naming the reason, if oneDNN cannot run in this JVM. */
    static void requireAvailable() {
        unavailableReason().ifPresent(reason -> {
            throw new IllegalStateException("oneDNN is unavailable: " + reason);
        });
    }

    /**
     * Sets the calling thread's OpenMP thread count to one and checks that it took: oneDNN's primitives then run on
     * the calling thread alone, as vlstm's benchmarks do.
     */
    static void useOneThread() {
        try {
            Library.OMP_SET_NUM_THREADS.invokeExact(1);
            int threads = (int) Library.OMP_GET_MAX_THREADS.invokeExact();
            if (threads != 1) {
                throw new IllegalStateException("omp_set_num_threads(1) left omp_get_max_threads() at " + threads);
            }
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    /** oneDNN's version as {@code major.minor.patch}, from {@code dnnl_version()}. */
    static String version() {
        try {
            MemorySegment version = ((MemorySegment) Library.VERSION.invokeExact()).reinterpret(3 * Integer.BYTES);
            return version.get(JAVA_INT, 0) + "." + version.get(JAVA_INT, 4) + "." + version.get(JAVA_INT, 8);
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    /** The instruction set oneDNN's JIT generates code for on this CPU, from {@code dnnl_get_effective_cpu_isa()}. */
    static String effectiveIsa() {
        try {
            return isaName((int) Library.GET_EFFECTIVE_CPU_ISA.invokeExact());
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    /** The name of a {@code dnnl_cpu_isa_t} value, as oneDNN's documentation spells it. */
    static String isaName(int isa) {
        return switch (isa) {
            case 0x0 -> "default";
            case 0x1 -> "sse41";
            case 0x3 -> "avx";
            case 0x7 -> "avx2";
            case 0xf -> "avx2_vnni";
            case 0x1f -> "avx2_vnni_2";
            case 0x27 -> "avx512_core";
            case 0x67 -> "avx512_core_vnni";
            case 0xe7 -> "avx512_core_bf16";
            case 0x1ef -> "avx10_1_512";
            case 0xfef -> "avx10_1_512_amx";
            case 0x1fef -> "avx10_1_512_amx_fp16";
            default -> String.format(Locale.ROOT, "isa 0x%x", isa);
        };
    }

    /** Throws if {@code status} is not dnnl_success, naming the call and oneDNN's name for the status. */
    static void check(int status, String call) {
        if (status != SUCCESS) {
            throw new IllegalStateException(call + " failed: " + statusName(status));
        }
    }

    private static String statusName(int status) {
        try {
            MemorySegment name = (MemorySegment) Library.STATUS2STR.invokeExact(status);
            return name.reinterpret(Long.MAX_VALUE).getString(0) + " (" + status + ")";
        } catch (Throwable e) {
            throw rethrow(e);
        }
    }

    /** A {@code dnnl_dims_t} holding {@code dims}, in {@code arena}. */
    static MemorySegment dims(Arena arena, long... dims) {
        if (dims.length > MAX_DIMS) {
            throw new IllegalArgumentException(dims.length + " dims; oneDNN takes at most " + MAX_DIMS);
        }
        MemorySegment segment = arena.allocate(JAVA_LONG, MAX_DIMS);
        MemorySegment.copy(dims, 0, segment, JAVA_LONG, 0, dims.length);
        return segment;
    }

    /**
     * The value of a {@code T *} that a {@code dnnl_*_create(T *out, ...)} call wrote into {@code out}, a one-pointer
     * segment.
     */
    static MemorySegment created(MemorySegment out) {
        return out.get(ADDRESS, 0);
    }

    /** {@code e} as an unchecked exception, for the {@code invokeExact} calls whose targets throw none of their own. */
    static RuntimeException rethrow(Throwable e) {
        if (e instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (e instanceof Error error) {
            throw error;
        }
        return new IllegalStateException(e);
    }

    /** The outcome of loading and binding, computed once. */
    private static final class Availability {
        static final Optional<String> REASON = Peers.unavailableReason(OneDnn::useOneThread);
    }

    /**
     * The loaded libraries and the bound functions; its initialisation throws (and every later use of the class then
     * throws NoClassDefFoundError) where they cannot be had. Reached only after {@link Availability} found it usable,
     * but for {@link Availability} itself.
     */
    static final class Library {
        /** Class path folder of oneDNN's and libgomp's x86-64 Linux builds. */
        private static final String DNNL_RESOURCES = "org/bytedeco/dnnl/linux-x86_64/";
        /** Class path folder of the OpenCL ICD loader that libdnnl.so.3 names as a dependency. */
        private static final String OPENCL_RESOURCES = "org/bytedeco/opencl/linux-x86_64/";

        private static final Linker LINKER = Linker.nativeLinker();
        private static final SymbolLookup OMP;
        private static final SymbolLookup DNNL;

        static {
            String os = System.getProperty("os.name");
            String arch = System.getProperty("os.arch");
            if (!os.equals("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
                throw new UnsupportedOperationException("oneDNN's native library is packaged here for Linux on "
                        + "x86-64 only; this JVM runs on " + os + " " + arch);
            }
            Path directory = createDirectory();
            try {
                Path omp = extract(directory, DNNL_RESOURCES + "libgomp.so.1");
                Path openCl = extract(directory, OPENCL_RESOURCES + "libOpenCL.so.1");
                Path dnnl = extract(directory, DNNL_RESOURCES + "libdnnl.so.3");
                OMP = SymbolLookup.libraryLookup(omp, Arena.global());
                SymbolLookup.libraryLookup(openCl, Arena.global());
                DNNL = SymbolLookup.libraryLookup(dnnl, Arena.global());
            } finally {
                deleteFiles(directory);
            }
        }

        static final MethodHandle OMP_SET_NUM_THREADS = bind(OMP, "omp_set_num_threads",
                FunctionDescriptor.ofVoid(JAVA_INT));
        static final MethodHandle OMP_GET_MAX_THREADS = bind(OMP, "omp_get_max_threads",
                FunctionDescriptor.of(JAVA_INT));
        static final MethodHandle VERSION = dnnl("dnnl_version", FunctionDescriptor.of(ADDRESS));
        static final MethodHandle GET_EFFECTIVE_CPU_ISA = dnnl("dnnl_get_effective_cpu_isa",
                FunctionDescriptor.of(JAVA_INT));
        static final MethodHandle STATUS2STR = dnnl("dnnl_status2str", FunctionDescriptor.of(ADDRESS, JAVA_INT));

        static final MethodHandle ENGINE_CREATE = dnnl("dnnl_engine_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
        static final MethodHandle ENGINE_DESTROY = dnnl("dnnl_engine_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle STREAM_CREATE = dnnl("dnnl_stream_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        static final MethodHandle STREAM_WAIT = dnnl("dnnl_stream_wait", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle STREAM_DESTROY = dnnl("dnnl_stream_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));

        static final MethodHandle MEMORY_DESC_CREATE_WITH_TAG = dnnl("dnnl_memory_desc_create_with_tag",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        static final MethodHandle MEMORY_DESC_DESTROY = dnnl("dnnl_memory_desc_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle MEMORY_DESC_GET_SIZE = dnnl("dnnl_memory_desc_get_size",
                FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        static final MethodHandle MEMORY_DESC_EQUAL = dnnl("dnnl_memory_desc_equal",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        static final MethodHandle MEMORY_CREATE = dnnl("dnnl_memory_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle MEMORY_DESTROY = dnnl("dnnl_memory_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));

        static final MethodHandle PRIMITIVE_ATTR_CREATE = dnnl("dnnl_primitive_attr_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle PRIMITIVE_ATTR_DESTROY = dnnl("dnnl_primitive_attr_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle PRIMITIVE_ATTR_SET_SCRATCHPAD_MODE = dnnl("dnnl_primitive_attr_set_scratchpad_mode",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));

        /**
         * {@code dnnl_lstm_forward_primitive_desc_create(pd*, engine, prop_kind, direction, src_layer, src_iter,
         * src_iter_c, weights_layer, weights_iter, weights_peephole, weights_projection, bias, dst_layer, dst_iter,
         * dst_iter_c, flags, attr)}.
         */
        static final MethodHandle LSTM_FORWARD_PRIMITIVE_DESC_CREATE = dnnl("dnnl_lstm_forward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        /**
         * {@code dnnl_lstm_backward_primitive_desc_create(pd*, engine, prop_kind, direction}, the eleven descriptors
         * of the forward, {@code diff_src_layer, diff_src_iter, diff_src_iter_c, diff_weights_layer,
         * diff_weights_iter, diff_weights_peephole, diff_weights_projection, diff_bias, diff_dst_layer,
         * diff_dst_iter, diff_dst_iter_c, flags, hint_fwd_pd, attr)}.
         */
        static final MethodHandle LSTM_BACKWARD_PRIMITIVE_DESC_CREATE = dnnl("dnnl_lstm_backward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT,
                        ADDRESS, ADDRESS));
        /**
         * {@code dnnl_lbr_gru_forward_primitive_desc_create(pd*, engine, prop_kind, direction, src_layer, src_iter,
         * weights_layer, weights_iter, bias, dst_layer, dst_iter, flags, attr)}.
         */
        static final MethodHandle LBR_GRU_FORWARD_PRIMITIVE_DESC_CREATE = dnnl(
                "dnnl_lbr_gru_forward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        /**
         * {@code dnnl_lbr_gru_backward_primitive_desc_create(pd*, engine, prop_kind, direction}, the seven
         * descriptors of the forward, {@code diff_src_layer, diff_src_iter, diff_weights_layer, diff_weights_iter,
         * diff_bias, diff_dst_layer, diff_dst_iter, flags, hint_fwd_pd, attr)}.
         */
        static final MethodHandle LBR_GRU_BACKWARD_PRIMITIVE_DESC_CREATE = dnnl(
                "dnnl_lbr_gru_backward_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                        ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        static final MethodHandle REORDER_PRIMITIVE_DESC_CREATE = dnnl("dnnl_reorder_primitive_desc_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle PRIMITIVE_DESC_QUERY = dnnl("dnnl_primitive_desc_query",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
        static final MethodHandle PRIMITIVE_DESC_QUERY_MD = dnnl("dnnl_primitive_desc_query_md",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT));
        static final MethodHandle PRIMITIVE_DESC_DESTROY = dnnl("dnnl_primitive_desc_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle PRIMITIVE_CREATE = dnnl("dnnl_primitive_create",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        static final MethodHandle PRIMITIVE_EXECUTE = dnnl("dnnl_primitive_execute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        static final MethodHandle PRIMITIVE_DESTROY = dnnl("dnnl_primitive_destroy",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));

        private Library() {
        }

        private static MethodHandle dnnl(String name, FunctionDescriptor descriptor) {
            return bind(DNNL, name, descriptor);
        }

        private static MethodHandle bind(SymbolLookup library, String name, FunctionDescriptor descriptor) {
            MemorySegment address = library.find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                    "no symbol " + name + " in the loaded library"));
            return LINKER.downcallHandle(address, descriptor);
        }

        private static Path createDirectory() {
            try {
                Path directory = Files.createTempDirectory("vlstm-onednn-");
                directory.toFile().deleteOnExit();
                return directory;
            } catch (IOException e) {
                throw new UncheckedIOException("creating a directory for oneDNN's native libraries", e);
            }
        }

        /** Copies the class path resource {@code name} into {@code directory}, under its own file name. */
        private static Path extract(Path directory, String name) {
            try (InputStream in = OneDnn.class.getClassLoader().getResourceAsStream(name)) {
                if (in == null) {
                    throw new UnsatisfiedLinkError(name + " is not on the class path");
                }
                Path file = directory.resolve(name.substring(name.lastIndexOf('/') + 1));
                file.toFile().deleteOnExit();
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                return file;
            } catch (IOException e) {
                throw new UncheckedIOException("extracting " + name, e);
            }
        }

        /**
         * Deletes the extracted copies now: a loaded library stays mapped without its file, so nothing is left
         * behind even if the JVM is killed. The exit hooks registered when they were made catch what fails here.
         */
        private static void deleteFiles(Path directory) {
            try (var files = Files.list(directory)) {
                for (Path file : files.toList()) {
                    Files.deleteIfExists(file);
                }
                Files.deleteIfExists(directory);
            } catch (IOException e) {
                // The files stay until the JVM exits (deleteOnExit), which is all the contract promises.
            }
        }
    }
}
