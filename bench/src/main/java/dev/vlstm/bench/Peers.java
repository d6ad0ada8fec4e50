package dev.vlstm.bench;

import java.util.Optional;

/** What the comparison's peers (ONNX Runtime, oneDNN) share: why one cannot run in this JVM. */
final class Peers {

    private Peers() {
    }

    /**
     * Empty if {@code load} (what makes the peer usable: loading its native library, binding it) returns; else what it
     * threw and its causes, in one line.
     */
    static Optional<String> unavailableReason(Runnable load) {
        try {
            load.run();
            return Optional.empty();
        } catch (LinkageError | RuntimeException e) {
            StringBuilder reason = new StringBuilder(e.toString());
            for (Throwable cause = e.getCause(); cause != null; cause = cause.getCause()) {
                reason.append(", caused by ").append(cause);
            }
            return Optional.of(reason.toString());
        }
    }
}
