package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.JCudaDriver;

/**
 * One kernel of a {@link CudaModule}, launched with checked arguments:
 * <pre>
 *   CudaFunction f = backend.kernel("elementwise.cu", "axpby_f32");
 *   f.launch(backend.stream(), Dim3.of(blocks), Dim3.of(256), 0, out, n, alpha, a, beta, b);
 * </pre>
 * Arguments map to kernel parameters by Java type: a {@link Tensor} (CUDA) or {@link DeviceBuffer}
 * is the device pointer of its first element, null a null pointer, Integer int, Long long long (or
 * a raw device address), Float float, Double double, Boolean int 0/1, byte[] a struct passed by
 * value (its bytes in the kernel's layout). The launch shape is checked
 * against the device's and the kernel's limits first, and every error names the kernel and its
 * launch shape. With -Dcmamba.cudaSync=true each launch is followed by a stream synchronisation,
 * so that a fault inside a kernel is reported against that kernel.
 */
public final class CudaFunction {
    static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("cmamba.cudaSync");
    private static final int DEFAULT_SHARED_LIMIT = 48 * 1024;

    private final CudaDevice device;
    private final String fileName;
    private final String name;
    private final CUfunction handle;
    private final int maxThreads;
    private final int staticShared;
    private final int registers;
    private int dynamicSharedOptIn = DEFAULT_SHARED_LIMIT;

    CudaFunction(CudaDevice device, String fileName, String name, CUfunction handle) {
        this.device = device;
        this.fileName = fileName;
        this.name = name;
        this.handle = handle;
        this.maxThreads = attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
        this.staticShared = attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
        this.registers = attribute(CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS);
    }

    private int attribute(int a) {
        int[] v = new int[1];
        Cuda.check(JCudaDriver.cuFuncGetAttribute(v, a, handle), "cuFuncGetAttribute", "reading attribute " + a + " of " + name);
        return v[0];
    }

    public String name() {
        return name;
    }

    /** Most threads per block this kernel can be launched with (registers limit it). */
    public int maxThreadsPerBlock() {
        return maxThreads;
    }

    public int registers() {
        return registers;
    }

    public int staticSharedBytes() {
        return staticShared;
    }

    /** "kernel axpby_f32 of kernels/elementwise.cu with grid [..], block [..], shared N B". */
    public String describe(Dim3 grid, Dim3 block, int sharedBytes) {
        return "kernel " + name + " of " + fileName + " with grid " + grid + ", block " + block + ", shared " + sharedBytes + " B";
    }

    /** Launches on {@code stream}; see the class comment for the argument types. */
    public void launch(CudaStream stream, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        String what = describe(grid, block, sharedBytes);
        checkShape(grid, block, sharedBytes, what);
        if (sharedBytes + staticShared > DEFAULT_SHARED_LIMIT && sharedBytes > dynamicSharedOptIn) {
            // beyond 48 KiB a kernel must opt in to its dynamic shared memory size
            Cuda.check(JCudaDriver.cuFuncSetAttribute(handle, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    sharedBytes), "cuFuncSetAttribute", "raising the dynamic shared memory of " + what);
            dynamicSharedOptIn = sharedBytes;
        }
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) params[i] = parameter(args[i], i, what);
        Cuda.check(JCudaDriver.cuLaunchKernel(handle, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                sharedBytes, stream.handle(), Pointer.to(params), null), "cuLaunchKernel", "launching " + what);
        if (SYNC_EACH_LAUNCH)
            Cuda.check(JCudaDriver.cuStreamSynchronize(stream.handle()), "cuStreamSynchronize", "running " + what);
    }

    private void checkShape(Dim3 grid, Dim3 block, int sharedBytes, String what) {
        int[] g = {grid.x(), grid.y(), grid.z()}, b = {block.x(), block.y(), block.z()};
        for (int i = 0; i < 3; i++) {
            if (g[i] < 1 || g[i] > device.maxGridDim()[i])
                throw new IllegalArgumentException("cannot launch " + what + ": grid dimension " + i + " is " + g[i]
                        + ", allowed 1.." + device.maxGridDim()[i]);
            if (b[i] < 1 || b[i] > device.maxBlockDim()[i])
                throw new IllegalArgumentException("cannot launch " + what + ": block dimension " + i + " is " + b[i]
                        + ", allowed 1.." + device.maxBlockDim()[i]);
        }
        if (block.volume() > maxThreads)
            throw new IllegalArgumentException("cannot launch " + what + ": " + block.volume() + " threads per block, the kernel allows "
                    + maxThreads + " (" + registers + " registers per thread)");
        int sharedLimit = Math.max(device.maxSharedPerBlockOptin(), device.maxSharedPerBlock());
        if (sharedBytes < 0 || sharedBytes + staticShared > sharedLimit)
            throw new IllegalArgumentException("cannot launch " + what + ": " + sharedBytes + " B of dynamic shared memory plus "
                    + staticShared + " B static exceed the device's " + sharedLimit + " B per block");
    }

    private static Pointer parameter(Object a, int index, String what) {
        if (a == null) return Pointer.to(new long[]{0L});
        if (a instanceof Tensor t) return Pointer.to(new long[]{CudaStorage.address(t)});
        if (a instanceof DeviceBuffer b) return Pointer.to(new long[]{b.address()});
        if (a instanceof Integer i) return Pointer.to(new int[]{i});
        if (a instanceof Long l) return Pointer.to(new long[]{l});
        if (a instanceof Float f) return Pointer.to(new float[]{f});
        if (a instanceof Double d) return Pointer.to(new double[]{d});
        if (a instanceof Boolean z) return Pointer.to(new int[]{z ? 1 : 0});
        if (a instanceof byte[] struct) return Pointer.to(struct);
        throw new IllegalArgumentException("argument " + index + " of " + what + " has unsupported type "
                + a.getClass().getName() + " (expected Tensor, DeviceBuffer, Integer, Long, Float, Double, Boolean or byte[])");
    }
}
