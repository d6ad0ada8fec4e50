/**
 * Internal: the engine between the public API and the kernels: a layer packed once
 * ({@link dev.vlstm.engine.PackedLayer}). Not an API; its types are public only so that the root package can use
 * them, and the module does not export it.
 */
package dev.vlstm.engine;
