#!/usr/bin/env python3
"""Writes the register tiles of the packed GEMM: FloatTiles.java, Bfloat16Tiles.java and Int8Tiles.java.

Each class holds, for one weight format and for blocks of 4 gates (LSTM) and of 3 gates (GRU, CIFG), a tile of four
rows and a tile of one row over one or two blocks. The tiles are unrolled by hand on purpose (every accumulator a
local, every vector operation written out, see FloatTiles' class comment), so they are generated here from one
template rather than written six times. Run it from this directory after changing it, and commit its output:

    python3 gen_tiles.py          # rewrites the three classes
    python3 gen_tiles.py --check  # exits 1 if a committed class differs from what this script writes
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GATE_COUNTS = (4, 3)
# The gate count whose one-row tiles and whose INT8 four-row tile take x's column stride as a parameter (always
# Float.BYTES: the driver's calls read x's columns contiguous); every other tile has the constant stride. The INT8
# four-row tile at a constant stride allocated on every call at 128-bit vectors (C2 never settled on it).
STRIDED_GATES = 4
INDENT = "    "


def offset(base, add):
    return base if add == "0" else f"{base} + {add}"


class Format:
    """What a weight format changes in a tile: the class, its constants, the weight loads and the epilogue."""

    scaled = False

    def group_bytes(self, gates):
        raise NotImplementedError

    def weight_lines(self, gates, base, names):
        """Lines declaring the weight vectors `names` of one (block, k) group at byte `base` of `panel`."""
        raise NotImplementedError

    def weight_expressions(self, gates, base):
        """Expressions for the weight vectors of one group, used inline where a tile loads each once."""
        raise NotImplementedError


class Float32(Format):
    name = "FloatTiles"
    imports = []
    static_imports = []

    def constants(self):
        return []

    def group_bytes(self, gates):
        return f"GROUP{gates}_BYTES"

    def weight_expressions(self, gates, base):
        return [f"fromMemorySegment(SPECIES, panel, {offset(base, v(g))}, ORDER)" for g in range(gates)]

    def weight_lines(self, gates, base, names):
        return [f"FloatVector {n} = {e};" for n, e in zip(names, self.weight_expressions(gates, base))]


class Bfloat16(Format):
    name = "Bfloat16Tiles"
    imports = ["jdk.incubator.vector.IntVector", "jdk.incubator.vector.VectorSpecies"]
    static_imports = ["jdk.incubator.vector.VectorOperators.LSHL"]

    def constants(self):
        return [
            "/** Ints of the same width as the float species: one holds a pair of gates of every lane. */",
            "private static final VectorSpecies<Integer> PAIRS = SPECIES.withLanes(int.class);",
            "private static final int HIGH_HALF = 0xFFFF0000;",
            "/** Bytes of one (block, k) group of 4 gates: two int vectors. */",
            "private static final long PAIRS4_BYTES = 2 * VECTOR_BYTES;",
            "/** Bytes of one (block, k) group of 3 gates: two int vectors, the high half of the second zero. */",
            "private static final long PAIRS3_BYTES = 2 * VECTOR_BYTES;",
        ]

    def group_bytes(self, gates):
        return f"PAIRS{gates}_BYTES"

    def pair_lines(self, gates, base, prefix):
        pairs = (gates + 1) // 2
        return [f"IntVector {prefix}{p} = IntVector.fromMemorySegment(PAIRS, panel, {offset(base, v(p))}, ORDER);"
                for p in range(pairs)]

    def widen(self, gate, prefix):
        pair = f"{prefix}{gate // 2}"
        if gate % 2 == 0:
            return f"{pair}.lanewise(LSHL, Short.SIZE).reinterpretAsFloats()"
        return f"{pair}.and(HIGH_HALF).reinterpretAsFloats()"

    def weight_lines(self, gates, base, names):
        return self.pair_lines(gates, base, "pair") + [
            f"FloatVector {n} = {self.widen(g, 'pair')};" for g, n in enumerate(names)]


class Int8(Format):
    name = "Int8Tiles"
    imports = ["jdk.incubator.vector.ByteVector", "jdk.incubator.vector.VectorShape",
               "jdk.incubator.vector.VectorSpecies"]
    static_imports = ["dev.vlstm.kernel.VectorShape.LANES", "jdk.incubator.vector.VectorOperators.B2F"]
    scaled = True

    def constants(self):
        return [
            "/**",
            " * One gate's bytes, or two gates' where a gate's are fewer than the narrowest byte vector (8 bytes, at 4"
            " float",
            " * lanes): a pair's second gate is then the conversion's part 1. A third gate with no partner is read as"
            " the",
            " * second part of the window that ends with it, so no load reaches past its group.",
            " */",
            "private static final VectorSpecies<Byte> GATE_BYTES =",
            "        VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(LANES, 8) * Byte.SIZE));",
            "private static final boolean PAIRED = LANES < 8;",
            "private static final int SECOND_PART = PAIRED ? 1 : 0;",
            "private static final long ODD_GATE = PAIRED ? 0 : LANES;",
            "/** Where gate 2 of 3 is read from: the window of gates 1 and 2 when paired. */",
            "private static final long LAST_OF_THREE = PAIRED ? LANES : 2L * LANES;",
            "private static final long LAST_OF_FOUR = PAIRED ? 2L * LANES : 3L * LANES;",
            "/** Bytes of one (block, k) group of 4 gates: a quarter of a float group. */",
            "private static final long BYTES4 = 4L * LANES;",
            "/** Bytes of one (block, k) group of 3 gates. */",
            "private static final long BYTES3 = 3L * LANES;",
        ]

    def group_bytes(self, gates):
        return f"BYTES{gates}"

    def placement(self, gates, gate):
        """(byte offset in the group, conversion part) of a gate's bytes."""
        if gate == 0:
            return "0", "0"
        if gate == 1:
            return "ODD_GATE", "SECOND_PART"
        if gate == 2 and gates == 4:
            return "2L * LANES", "0"
        if gate == 2:
            return "LAST_OF_THREE", "SECOND_PART"
        return "LAST_OF_FOUR", "SECOND_PART"

    def weight_expressions(self, gates, base):
        out = []
        for g in range(gates):
            at, part = self.placement(gates, g)
            out.append(f"((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, {offset(base, at)}, ORDER)"
                       f"\n.convertShape(B2F, SPECIES, {part}))")
        return out

    def weight_lines(self, gates, base, names):
        return [f"FloatVector {n} = {e[1:-1]};" for n, e in zip(names, self.weight_expressions(gates, base))]


def v(index):
    return "0" if index == 0 else f"V{index}"


def acc(gate, row):
    return f"s{gate}{row}"


class Writer:
    def __init__(self):
        self.lines = []
        self.depth = 0

    def line(self, text=""):
        if not text:
            self.lines.append("")
            return
        parts = text.split("\n")
        self.lines.append(INDENT * self.depth + parts[0])
        for part in parts[1:]:
            self.lines.append(INDENT * (self.depth + 2) + part)

    def open(self, text):
        self.line(text + " {")
        self.depth += 1

    def close(self, suffix=""):
        self.depth -= 1
        self.line("}" + suffix)


def grouped(statements, per_line):
    """Joins short statements `per_line` to a line, as the hand-written tiles did."""
    return ["; ".join(s.rstrip(";") for s in statements[i:i + per_line]) + ";"
            for i in range(0, len(statements), per_line)]


def load_bias(w, fmt, gates, targets, base, declare):
    for g, target in enumerate(targets):
        prefix = "FloatVector " if declare else ""
        w.line(f"{prefix}{target} = fromMemorySegment(SPECIES, bias, {offset(base, v(g))}, ORDER);")


def scale_and_bias(w, gates, names, scale_base, bias_base):
    """INT8's epilogue: the sums times the rows' scales, then the bias if any."""
    for g, n in enumerate(names):
        w.line(f"{n} = {n}.mul(fromMemorySegment(SPECIES, panel, {offset(scale_base, v(g))}, ORDER));")
    w.open("if (bias != null)")
    for g, n in enumerate(names):
        w.line(f"{n} = {n}.add(fromMemorySegment(SPECIES, bias, {offset(bias_base, v(g))}, ORDER));")
    w.close()


def store(w, names, base):
    statements = [f"{n}.intoMemorySegment(out, {offset(base, v(g))}, ORDER);" for g, n in enumerate(names)]
    for text in grouped(statements, 2):
        w.line(text)


def rows4(w, fmt, gates, strided):
    scale = "long scaleOffset, " if fmt.scaled else ""
    w.line("/**")
    w.line(f" * Four rows of one block of {gates} gates: {4 * gates} accumulators, {gates} weight vectors and a"
           " broadcast per")
    w.line(f" * row and k. x(r, k) is at {{@code xOffset + r * xRowBytes + k * {column_bytes(strided)}}};"
           " {@code bias} is the gate row")
    w.line(" * holding this block at {@code biasOffset}, or null for none"
           + ("; the block's scales are at {@code scaleOffset}" if fmt.scaled else "") + ".")
    w.line(" */")
    w.open(f"static void rows4Gates{gates}(MemorySegment panel, long panelOffset, {scale}int depth,\n"
           f"   MemorySegment x, long xOffset, long xRowBytes,{column_parameter(strided)}\n"
           "   MemorySegment bias, long biasOffset, MemorySegment out, long outOffset, long outRowBytes)")
    biases = [f"b{g}" for g in range(gates)]
    if fmt.scaled:
        w.line(f"FloatVector {acc(0, 0)} = FloatVector.zero(SPECIES);")
        for row in range(4):
            names = [acc(g, row) for g in range(gates) if (g, row) != (0, 0)]
            w.line("FloatVector " + ", ".join(f"{n} = {acc(0, 0)}" for n in names) + ";")
    else:
        w.line(f"FloatVector {biases[0]} = FloatVector.zero(SPECIES)"
               + "".join(f", {b} = {biases[0]}" for b in biases[1:]) + ";")
        w.open("if (bias != null)")
        load_bias(w, fmt, gates, biases, "biasOffset", False)
        w.close()
        for row in range(4):
            w.line("FloatVector " + ", ".join(f"{acc(g, row)} = {biases[g]}" for g in range(gates)) + ";")
    w.open("for (int k = 0; k < depth; k++)")
    w.line(f"long w = panelOffset + k * {fmt.group_bytes(gates)};")
    weights = [f"w{g}" for g in range(gates)]
    for text in fmt.weight_lines(gates, "w", weights):
        w.line(text)
    w.line(f"long xk = xOffset + {column_offset(strided)};")
    for row in range(4):
        w.line(f"FloatVector a{row} = broadcast(SPECIES, x.get(FLOAT, {offset('xk', row_bytes(row))}));")
    for row in range(4):
        w.line(" ".join(f"{acc(g, row)} = {weights[g]}.fma(a{row}, {acc(g, row)});" for g in range(gates)))
    w.close()
    if fmt.scaled:
        scales = [f"scale{g}" for g in range(gates)]
        for g, s in enumerate(scales):
            w.line(f"FloatVector {s} = fromMemorySegment(SPECIES, panel, {offset('scaleOffset', v(g))}, ORDER);")
        for row in range(4):
            w.line(" ".join(f"{acc(g, row)} = {acc(g, row)}.mul({scales[g]});" for g in range(gates)))
        w.open("if (bias != null)")
        load_bias(w, fmt, gates, biases, "biasOffset", True)
        for row in range(4):
            w.line(" ".join(f"{acc(g, row)} = {acc(g, row)}.add({biases[g]});" for g in range(gates)))
        w.close()
    for row in range(1, 4):
        w.line(f"long row{row} = outOffset + {row_bytes(row, 'outRowBytes')};")
    for row in range(4):
        store(w, [acc(g, row) for g in range(gates)], "outOffset" if row == 0 else f"row{row}")
    w.close()


def column_bytes(strided):
    """Bytes between x's columns: a parameter, or a constant so that C2 hoists the bounds checks out of the k loop."""
    return "xColumnBytes" if strided else "Float.BYTES"


def column_parameter(strided):
    return " long xColumnBytes," if strided else ""


def column_offset(strided):
    return "k * xColumnBytes" if strided else "(long) k * Float.BYTES"


def row_bytes(row, name="xRowBytes"):
    return "0" if row == 0 else (name if row == 1 else f"{row} * {name}")


def rows1(w, fmt, gates, strided):
    group = f"GROUP{gates}_BYTES"
    scale = "long scaleOffset, " if fmt.scaled else ""
    w.line("/**")
    w.line(f" * One row over one block of {gates} gates, or over two adjacent blocks ({{@code twoBlocks}}) for"
           f" {2 * gates} independent")
    w.line(" * FMA chains from one broadcast per k. Each lane's arithmetic is that of {@link #rows4Gates"
           f"{gates}}} (one FMA chain, k in")
    w.line(" * order), so a row's result does not depend on the tile that computed it. The second block's panel"
           " starts")
    w.line(" * {@code panelBytes} after the first, its bias"
           + (", scales" if fmt.scaled else "") + f" and output {{@code {group}}} after the first's.")
    w.line(" *")
    w.line(" * <p>Both cases live in one method on purpose: a one-block tile alone is small enough for C2 to inline"
           " into")
    w.line(" * the driver, and inlined there its vectors were boxed; this method is too large to be inlined.")
    w.line(" */")
    w.open(f"static void rows1Gates{gates}(MemorySegment panel, long panelOffset, long panelBytes,"
           f" {scale}boolean twoBlocks,\n"
           f"   int depth, MemorySegment x, long xOffset,{column_parameter(strided)} MemorySegment bias,"
           " long biasOffset,\n"
           "   MemorySegment out, long outOffset)")
    names = [[acc(g, b) for g in range(gates)] for b in range(2)]
    if isinstance(fmt, Float32):
        for blocks in (1, 2):
            if blocks == 1:
                w.open("if (!twoBlocks)")
            zero_accumulators(w, names[:blocks])
            w.open("if (bias != null)")
            for b in range(blocks):
                load_bias(w, fmt, gates, names[b], second(w, b, "nextBias", "biasOffset", group), False)
            w.close()
            depth_loop(w, fmt, gates, names[:blocks], strided)
            for b in range(blocks):
                store(w, names[b], second(w, b, "second", "outOffset", group))
            if blocks == 1:
                w.line("return;")
                w.close()
    elif isinstance(fmt, Bfloat16):
        zero_accumulators(w, names)
        w.open("if (bias != null)")
        load_bias(w, fmt, gates, names[0], "biasOffset", False)
        w.open("if (twoBlocks)")
        load_bias(w, fmt, gates, names[1], second(w, 1, "nextBias", "biasOffset", group), False)
        w.close()
        w.close()
        w.open("if (!twoBlocks)")
        depth_loop(w, fmt, gates, names[:1], strided)
        store(w, names[0], "outOffset")
        w.line("return;")
        w.close()
        depth_loop(w, fmt, gates, names, strided)
        for b in range(2):
            store(w, names[b], second(w, b, "second", "outOffset", group))
    else:
        zero_accumulators(w, names)
        w.open("if (!twoBlocks)")
        depth_loop(w, fmt, gates, names[:1], strided)
        w.close(" else {")
        w.depth += 1
        depth_loop(w, fmt, gates, names, strided)
        w.close()
        for b in range(2):
            scale_and_bias(w, gates, names[b], second(w, b, "nextScale", "scaleOffset", group),
                           second(w, b, "nextBias", "biasOffset", group))
            store(w, names[b], second(w, b, "second", "outOffset", group))
            if b == 0:
                w.open("if (!twoBlocks)")
                w.line("return;")
                w.close()
    w.close()


def second(w, block, name, base, group):
    """`base` for the first block; for the second, a local `name` that holds `base + group`, declared here."""
    if block == 0:
        return base
    w.line(f"long {name} = {base} + {group};")
    return name


def zero_accumulators(w, names):
    first = names[0][0]
    w.line(f"FloatVector {first} = FloatVector.zero(SPECIES)" + "".join(f", {n} = {first}" for n in names[0][1:]) + ";")
    for block in names[1:]:
        w.line("FloatVector " + ", ".join(f"{n} = {first}" for n in block) + ";")


def depth_loop(w, fmt, gates, names, strided):
    """The k loop of a one-row tile over len(names) blocks, one broadcast per k."""
    w.open("for (int k = 0; k < depth; k++)")
    w.line(f"long w = panelOffset + k * {fmt.group_bytes(gates)};")
    if len(names) == 2:
        w.line("long u = w + panelBytes;")
    w.line(f"FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + {column_offset(strided)}));")
    for b in range(len(names)):
        base = "w" if b == 0 else "u"
        if isinstance(fmt, Bfloat16):
            for text in fmt.pair_lines(gates, base, "pq"[b]):
                w.line(text)
            expressions = [fmt.widen(g, "pq"[b]) for g in range(gates)]
        else:
            expressions = fmt.weight_expressions(gates, base)
        for g in range(gates):
            w.line(f"{names[b][g]} = {expressions[g]}.fma(a, {names[b][g]});")
    w.close()


HEADER = {
    "FloatTiles": """/**
 * Register tiles of {@code out = bias + x · Wᵀ} for one block of hidden units on {@link WeightFormat#FLOAT32}
 * panels, the GEMM of both the input projection and the recurrent step: each k broadcasts one input value per row
 * and does one FMA per gate and row against the block's gate vectors. Without a bias ({@code bias == null}) the
 * accumulators start at +0.0; the recurrent step uses that for its sums {@code hPrev · Uᵀ}, and {@link Postgemm}
 * then adds the input pre-activations and finishes each row's cell while both rows are still in L1.
 * x's rows are {@code xRowBytes} apart. The four-row tiles read x's columns contiguous: with a constant stride C2
 * checks the bounds of x's loads once, before the k loop, rather than on every load. The one-row 4-gate tiles take
 * the column stride as a parameter ({@code x(r, k)} at {@code xOffset + r * xRowBytes + k * xColumnBytes}), which
 * the driver always passes as {@code Float.BYTES}: they run the steps at batch 1, and measured slower at a constant
 * stride; the measurements behind these choices are in docs/architecture.md.
 *
 * <p>Every vector operation is written out in the tile itself rather than in helpers: these methods are large
 * enough that C2 may refuse to inline further calls (NodeCountInliningCutoff), and a vector passed to or
 * returned from a call that was not inlined is boxed. The JDK's vector operations are force-inlined. The tiles of
 * the three formats are therefore generated from one template, {@code gen_tiles.py} in this directory.
 *
 * <p>Why the recurrent sums pass through L1 instead of going straight from the accumulators into the activations:
 * for the same reason, a call with a vector argument from a tile this large may stay a real call, and its vectors
 * are then boxed (allocating on every step). Why they start at zero rather than from the input pre-activations:
 * sixteen more loads made the 4-row tile too large for C1's register allocator, the method never reached C2, and
 * ran as allocating C1 code. Going through L1 costs 16 stores and 32 loads per tile against {@code 16 * H} FMAs,
 * and no vector ever crosses a call.
 */""",
    "Bfloat16Tiles": """/**
 * The register tiles of {@link FloatTiles} on {@link WeightFormat#BFLOAT16} panels: per k, each int vector holds a
 * pair of gates' weights as bfloat16 (gates 0 and 1, then 2 and 3; the first of a pair in the low half of each int;
 * with 3 gates the second pair's high half is zero). A left shift by 16 widens the low halves to floats, a mask of
 * the low bits the high halves, exactly; then the same FMA chain as the float tiles, so the results equal the float
 * kernel's on the rounded weights, bit for bit. Half the bytes of float weights per FMA, which is what a
 * memory-bound step at batch 1 pays for. Generated by {@code gen_tiles.py}, for the reasons given in
 * {@link FloatTiles}.
 */""",
    "Int8Tiles": """/**
 * The register tiles of {@link FloatTiles} on {@link WeightFormat#INT8} panels: per k and gate, one byte vector holds
 * the gate's signed bytes of every lane, and one conversion (a sign extension and an int-to-float conversion in
 * AVX-512) widens it to q as floats, exactly; the FMA chain then sums {@code x_k * q_k} in k order and the row's
 * scale multiplies the sum once, before the bias is added: {@code out = (Σ x_k q_k) * scale + bias}, as the scalar
 * kernel computes it. A quarter of the bytes of float weights per FMA. The scales of block j lie at
 * {@code scaleOffset + j * GROUP_BYTES} (G vectors) in the same segment as the panels, read after the loop.
 * Generated by {@code gen_tiles.py}, for the reasons given in {@link FloatTiles}.
 */""",
}


def java(fmt):
    w = Writer()
    w.line("// Generated by gen_tiles.py in this directory; edit that script, not this file.")
    w.line("package dev.vlstm.kernel;")
    w.line()
    statics = sorted(["dev.vlstm.kernel.VectorShape.GROUP3_BYTES", "dev.vlstm.kernel.VectorShape.GROUP4_BYTES",
                      "dev.vlstm.kernel.VectorShape.ORDER", "dev.vlstm.kernel.VectorShape.SPECIES",
                      "dev.vlstm.kernel.VectorShape.VECTOR_BYTES", "jdk.incubator.vector.FloatVector.broadcast",
                      "jdk.incubator.vector.FloatVector.fromMemorySegment"] + fmt.static_imports)
    for s in statics:
        w.line(f"import static {s};")
    w.line()
    w.line("import java.lang.foreign.MemorySegment;")
    w.line("import java.lang.foreign.ValueLayout;")
    w.line()
    for i in sorted(["jdk.incubator.vector.FloatVector"] + fmt.imports):
        w.line(f"import {i};")
    w.line()
    for text in HEADER[fmt.name].split("\n"):
        w.line(text)
    w.open(f"final class {fmt.name}")
    w.line()
    for text in fmt.constants():
        w.line(text)
    w.line("private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;")
    w.line("private static final long V1 = VECTOR_BYTES;")
    w.line("private static final long V2 = 2 * VECTOR_BYTES;")
    w.line("private static final long V3 = 3 * VECTOR_BYTES;")
    w.line()
    w.open(f"private {fmt.name}()")
    w.close()
    for gates in GATE_COUNTS:
        w.line()
        rows4(w, fmt, gates, isinstance(fmt, Int8) and gates == STRIDED_GATES)
        w.line()
        rows1(w, fmt, gates, gates == STRIDED_GATES)
    w.close()
    return "\n".join(w.lines) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for fmt in (Float32(), Bfloat16(), Int8()):
        path = os.path.join(HERE, fmt.name + ".java")
        text = java(fmt)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    for path in stale:
        print(f"{path} is not what gen_tiles.py writes: run it and commit the result", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
