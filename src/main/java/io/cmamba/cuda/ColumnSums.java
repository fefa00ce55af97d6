package io.cmamba.cuda;

/**
 * How a sum over rows is split for the two-pass column reduction of common.cuh: blocks of 32
 * columns by chunks of rows, enough blocks to fill the GPU, each chunk long enough to be worth a
 * block. The partition depends only on the shape and the SM count, so results are reproducible.
 *
 * @param chunks        chunks of rows (grid y); 0 when there are no rows (the finish pass writes zeros)
 * @param rowsPerChunk  rows per chunk
 */
record ColumnSums(int chunks, long rowsPerChunk, int strips) {
    static final int MAX_CHUNKS = 1024;

    static ColumnSums plan(long rows, int cols, int smCount) {
        int strips = Math.max(1, (cols + 31) / 32);
        if (rows == 0) return new ColumnSums(0, 1, strips);
        long want = Math.max(1, (long) smCount * 8 / strips);
        long byRows = Math.max(1, (rows + 63) / 64);
        int chunks = (int) Math.min(Math.min(want, byRows), MAX_CHUNKS);
        long per = (rows + chunks - 1) / chunks;
        chunks = (int) ((rows + per - 1) / per);
        return new ColumnSums(chunks, per, strips);
    }
}
