// Chrome trace-event JSON (opened by Perfetto and chrome://tracing) from profiled steps:
// CPU phases (record, submit, wait) on one track, GPU kernels on another. GPU timestamps
// come from the GPU's own clock; each step's kernels are placed from the moment it was
// submitted, which is when the GPU could start at the earliest.
import type { StepRecord } from "./types.js";

/** One event of the trace-event format ("X": a complete event with a duration; "M": metadata). */
export interface TraceEvent {
  name: string;
  cat?: string;
  ph: "X" | "M";
  /** Microseconds. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  metadata?: Record<string, unknown>;
}

const PID = 1;
export const CPU_TRACK = 1;
export const GPU_TRACK = 2;

/** Builds the trace; timestamps start at the first step. */
export function chromeTrace(steps: readonly StepRecord[], metadata: Record<string, unknown> = {}): ChromeTrace {
  const events: TraceEvent[] = [
    { name: "process_name", ph: "M", ts: 0, pid: PID, tid: 0, args: { name: "mnemo" } },
    { name: "thread_name", ph: "M", ts: 0, pid: PID, tid: CPU_TRACK, args: { name: "CPU (record, submit, wait)" } },
    { name: "thread_name", ph: "M", ts: 0, pid: PID, tid: GPU_TRACK, args: { name: "GPU kernels (timestamp queries)" } },
  ];
  const origin = steps.length ? steps[0].startMs : 0;
  const us = (ms: number) => (ms - origin) * 1000;
  let gpuFree = 0;
  steps.forEach((s, i) => {
    const args = { step: i, kind: s.kind, tokens: s.tokens };
    const recordAt = us(s.startMs);
    const submitAt = recordAt + s.recordMs * 1000;
    const waitAt = submitAt + s.submitMs * 1000;
    events.push(
      { name: `${s.kind}: record`, cat: "cpu", ph: "X", ts: recordAt, dur: s.recordMs * 1000, pid: PID, tid: CPU_TRACK, args },
      { name: `${s.kind}: submit`, cat: "cpu", ph: "X", ts: submitAt, dur: s.submitMs * 1000, pid: PID, tid: CPU_TRACK, args },
      { name: `${s.kind}: wait for GPU`, cat: "cpu", ph: "X", ts: waitAt, dur: s.waitMs * 1000, pid: PID, tid: CPU_TRACK, args },
    );
    // Kernels of one step keep their GPU-clock offsets; steps never overlap on the track.
    const base = Math.max(submitAt, gpuFree);
    for (const d of s.gpu ?? []) {
      const ts = base + d.beginNs / 1000;
      const dur = Math.max(0, (d.endNs - d.beginNs) / 1000);
      events.push({ name: d.kernel, cat: "gpu", ph: "X", ts, dur, pid: PID, tid: GPU_TRACK, args: { ...args, layer: d.layer, flops: d.flops, bytes: d.bytes } });
      gpuFree = Math.max(gpuFree, ts + dur);
    }
  });
  return { traceEvents: events, displayTimeUnit: "ms", metadata };
}
