/**
 * The command-line tool ({@code info}, {@code run}, {@code grad}, {@code bench}), the main class of the vlstm-cli
 * jar, which {@code bin/vlstm} runs with the vlstm-core jar. An application of vlstm-core's public API, not an API
 * itself.
 */
package dev.vlstm.cli;
