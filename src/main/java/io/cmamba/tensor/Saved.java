package io.cmamba.tensor;

/**
 * What a forward op keeps for its backward (chunk states of a scan, attention statistics), returned
 * explicitly by the forward and handed back to the backward; closing it frees any memory it holds.
 */
public interface Saved extends AutoCloseable {
    @Override
    void close();
}
