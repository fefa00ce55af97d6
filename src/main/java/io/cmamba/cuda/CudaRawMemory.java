package io.cmamba.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/** Device memory from cuMemAlloc (256-byte aligned, so every vector access of a block start is aligned). */
final class CudaRawMemory implements RawMemory {
    private final CudaContext context;

    CudaRawMemory(CudaContext context) {
        this.context = context;
    }

    @Override
    public Block allocate(long bytes) {
        context.makeCurrent();
        DevicePointer p = new DevicePointer();
        int r = JCudaDriver.cuMemAlloc(p, bytes);
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) return null;
        Cuda.check(r, "cuMemAlloc", "allocating " + CachingAllocator.human(bytes));
        return new Block(p.address(), bytes, p);
    }

    @Override
    public void free(Block block) {
        context.makeCurrent();
        Cuda.check(JCudaDriver.cuMemFree((DevicePointer) block.handle()), "cuMemFree",
                "freeing " + CachingAllocator.human(block.bytes()) + " at 0x" + Long.toHexString(block.address()));
    }

    @Override
    public long[] deviceMemoryInfo() {
        context.makeCurrent();
        long[] free = new long[1], total = new long[1];
        if (JCudaDriver.cuMemGetInfo(free, total) != 0) return new long[]{-1, -1};
        return new long[]{free[0], total[0]};
    }
}
