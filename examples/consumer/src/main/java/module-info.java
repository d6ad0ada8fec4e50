/** An application module that uses vlstm: it reads only what dev.vlstm.core exports. */
// README-BEGIN
module com.example.consumer {
    requires dev.vlstm.core;
}
// README-END
