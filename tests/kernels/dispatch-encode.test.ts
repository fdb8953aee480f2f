// encodeDispatches (src/gpu/dispatch.ts) sets a pipeline only when it changes: a model's
// layers repeat the same kernels, so most dispatches reuse the previous pipeline.
import { describe, it, expect } from "vitest";
import { encodeDispatches, type KernelDispatch } from "../../src/gpu/dispatch.js";

/** A pass encoder that records its calls. */
function recordingEncoder() {
  const calls: string[] = [];
  const pass = {
    setPipeline: (p: { label: string }) => calls.push(`pipeline ${p.label}`),
    setBindGroup: (_i: number, g: { label: string }) => calls.push(`bind ${g.label}`),
    dispatchWorkgroups: (x: number) => calls.push(`dispatch ${x}`),
    end: () => calls.push("end"),
  };
  const encoder = { beginComputePass: () => pass } as unknown as GPUCommandEncoder;
  return { encoder, calls };
}

function dispatch(pipeline: { label: string }, group: string): KernelDispatch {
  return {
    kernel: group,
    layer: -1,
    pipeline: pipeline as unknown as GPUComputePipeline,
    bindGroup: { label: group } as unknown as GPUBindGroup,
    workgroups: [1, 1, 1],
    flops: 0,
    bytes: 0,
    owned: [],
  };
}

describe("encodeDispatches", () => {
  it("sets a pipeline only when it differs from the previous dispatch's", () => {
    const [a, b] = [{ label: "a" }, { label: "b" }];
    const { encoder, calls } = recordingEncoder();
    encodeDispatches(encoder, [dispatch(a, "1"), dispatch(a, "2"), dispatch(b, "3"), dispatch(a, "4"), dispatch(a, "5")]);
    expect(calls.filter((c) => c.startsWith("pipeline"))).toEqual(["pipeline a", "pipeline b", "pipeline a"]);
    // Every dispatch still gets its own bind group, in order.
    expect(calls.filter((c) => c.startsWith("bind"))).toEqual(["bind 1", "bind 2", "bind 3", "bind 4", "bind 5"]);
    expect(calls.at(-1)).toBe("end");
  });
});
