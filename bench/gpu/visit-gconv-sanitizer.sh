#!/bin/bash
# compute-sanitizer memcheck and racecheck over the global convolution GPU tests (racecheck on lengths
# up to 1000: it instruments every shared-memory access). From the project root on the GPU host.
out=${OUT:-/tmp/cmamba-gpu}
mkdir -p "$out"
launcher=$(ls .gpu-bundle/launcher/junit-platform-console-standalone-*.jar)
for tool in memcheck racecheck; do
  timeout 200 bash .gpu-bundle/run.sh sh "compute-sanitizer --tool $tool --target-processes all \$JAVA -Dcmamba.gconv.maxTestLength=1000 -jar $launcher execute --class-path \"\$CP\" --select-class io.cmamba.cuda.GlobalConvGpuTest --include-tag gpu --details=none --disable-banner" > "$out/gconv-$tool.log" 2>&1
  echo "$tool: $(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY|tests (successful|failed)' "$out/gconv-$tool.log" | tr '\n' ' ')"
done
