/**
 * Internal: the command-line tool ({@code info}, {@code run}, {@code grad}) that this module's jar runs. Not an
 * API; not exported from the module.
 */
package dev.vlstm.cli;
