package io.cmamba.cuda;

import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

import java.util.HashMap;
import java.util.Map;

/** A loaded CUBIN (one kernels/*.cu file) and the functions looked up in it. */
public final class CudaModule implements AutoCloseable {
    private final CudaContext context;
    private final String fileName;
    private final CUmodule module = new CUmodule();
    private final Map<String, CudaFunction> functions = new HashMap<>();
    private boolean closed;

    public CudaModule(CudaContext context, String fileName, byte[] cubin) {
        this.context = context;
        this.fileName = fileName;
        context.makeCurrent();
        Cuda.check(JCudaDriver.cuModuleLoadData(module, cubin), "cuModuleLoadData", "loading the CUBIN of " + fileName
                + " (" + cubin.length + " bytes) on " + context.device().describe());
    }

    public String fileName() {
        return fileName;
    }

    /** The kernel named {@code name} (declare it extern "C" so that its name is not mangled). */
    public synchronized CudaFunction function(String name) {
        if (closed) throw new IllegalStateException("module " + fileName + " is unloaded");
        CudaFunction f = functions.get(name);
        if (f == null) {
            context.makeCurrent();
            CUfunction h = new CUfunction();
            Cuda.check(JCudaDriver.cuModuleGetFunction(h, module, name), "cuModuleGetFunction",
                    "looking up kernel " + name + " in " + fileName + " (is it extern \"C\"?)");
            f = new CudaFunction(context.device(), fileName, name, h);
            functions.put(name, f);
        }
        return f;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        context.makeCurrent();
        Cuda.check(JCudaDriver.cuModuleUnload(module), "cuModuleUnload", "unloading " + fileName);
    }
}
