package io.cmamba.cpu;

import io.cmamba.tensor.Storage;

/** Host memory of the CPU backend: every dtype is held as doubles (exact for F32 and I32). */
final class CpuStorage implements Storage {
    double[] data;

    CpuStorage(long elements) {
        if (elements > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("CPU tensor of " + elements + " elements exceeds the JVM array limit");
        this.data = new double[(int) elements];
    }

    @Override
    public long capacity() {
        return data == null ? 0 : data.length;
    }

    @Override
    public void release() {
        data = null;
    }

    @Override
    public boolean released() {
        return data == null;
    }
}
