/**
 * An application module that uses vlstm: it reads only what dev.vlstm.core exports, and checks its one forward
 * against the double-precision oracle.
 */
// README-BEGIN
module com.example.consumer {
    requires dev.vlstm.core;
    // Only for checking results against the oracle (artifact vlstm-reference).
    requires dev.vlstm.reference;
}
// README-END
