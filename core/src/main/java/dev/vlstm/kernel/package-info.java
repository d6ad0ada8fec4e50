/**
 * Internal: the kernels behind {@code dev.vlstm} (packed layout, Vector API tiles, scalar fallback, activations).
 * Not an API; its types may change in any release and are public only so that the root package can use them.
 */
package dev.vlstm.kernel;
