/** An application module that uses vlstm: it reads only what dev.vlstm.core exports. */
module com.example.consumer {
    requires dev.vlstm.core;
}
