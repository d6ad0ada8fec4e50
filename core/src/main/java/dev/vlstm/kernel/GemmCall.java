package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The arguments of one {@link PackedGemm#multiply} call: {@code out(r, q) = bias(q) + Σ_{k < depth} a(r, k)·B(q, k)}
 * for the rows {@code r < rows} and every output q of the blocks a call names. B is a packed matrix
 * ({@link PackedMatrix}: its data, format and layout); the outputs of a row are one gate row of B's layout,
 * {@code [block][gate][lane]}. Mutable and reused: its owner allocates it once and sets it before each call, so a
 * call allocates nothing, and the shares of a split call (each on its own blocks) read the same object.
 */
public final class GemmCall {

    WeightFormat format;
    GateLayout layout;
    MemorySegment b;
    int depth;
    MemorySegment bias;
    MemorySegment a;
    long aOffset;
    long aRowBytes;
    int rows;
    MemorySegment out;
    long outOffset;

    /**
     * Sets every argument of the next call.
     *
     * @param format       how B's values are stored
     * @param layout       B's packing: its gates, blocks and lanes, and the outputs' gate row
     * @param b            B, packed as {@code [block][k < depth][gate][lane]} in {@code format}
     * @param depth        terms per output, &ge; 1 (B's columns; the weight gradients' rows change per call)
     * @param bias         one gate row added to every output row, or null to start every output at +0.0 and add
     *                     nothing
     * @param a            the left operand, its columns contiguous: {@code a(r, k)} is the float at byte
     *                     {@code aOffset + r * aRowBytes + k * Float.BYTES} (a caller with a's transpose at hand
     *                     transposes it first: read down its columns, every broadcast of a tile would touch a new
     *                     cache line)
     * @param aOffset      byte offset of {@code a(0, 0)}
     * @param aRowBytes    bytes between rows of a
     * @param rows         rows of a and of out, &ge; 0
     * @param out          output, {@code [rows][layout.gateRowFloats()]} floats from {@code outOffset} bytes
     * @param outOffset    byte offset of row 0 of out
     * @return this call
     */
    public GemmCall set(WeightFormat format, GateLayout layout, MemorySegment b, int depth, MemorySegment bias,
                        MemorySegment a, long aOffset, long aRowBytes, int rows, MemorySegment out, long outOffset) {
        this.format = format;
        this.layout = layout;
        this.b = b;
        this.depth = depth;
        this.bias = bias;
        this.a = a;
        this.aOffset = aOffset;
        this.aRowBytes = aRowBytes;
        this.rows = rows;
        this.out = out;
        this.outOffset = outOffset;
        return this;
    }

    /**
     * Sets the next call to multiply the rows of a by the packed matrix {@code b}, over its depth.
     *
     * @param b            B, its format, layout and depth
     * @param bias         one gate row added to every output row, or null to start every output at +0.0
     * @param a            the left operand: {@code a(r, k)} is the float at byte
     *                     {@code aOffset + r * aRowBytes + k * Float.BYTES}
     * @param aOffset      byte offset of {@code a(0, 0)}
     * @param aRowBytes    bytes between rows of a
     * @param rows         rows of a and of out, &ge; 0
     * @param out          output, {@code [rows][gateRowFloats]} floats of b's layout from {@code outOffset} bytes
     * @param outOffset    byte offset of row 0 of out
     * @return this call
     */
    public GemmCall set(PackedMatrix b, MemorySegment bias, MemorySegment a, long aOffset, long aRowBytes, int rows,
                        MemorySegment out, long outOffset) {
        return set(b.format(), b.layout(), b.data(), b.depth(), bias, a, aOffset, aRowBytes, rows, out, outOffset);
    }

    /**
     * Sets the next call to multiply dense rows of a ({@code [rows][depth]} floats from {@code aOffset} bytes) by the
     * packed matrix {@code b}; the other arguments as {@link #set(PackedMatrix, MemorySegment, MemorySegment, long,
     * long, int, MemorySegment, long)}.
     *
     * @return this call
     */
    public GemmCall set(PackedMatrix b, MemorySegment bias, MemorySegment a, long aOffset, int rows, MemorySegment out,
                        long outOffset) {
        return set(b, bias, a, aOffset, (long) b.depth() * Float.BYTES, rows, out, outOffset);
    }
}
