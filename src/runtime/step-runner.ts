// One step runner for everything that runs a model: session prefill and decode, perplexity
// windows and memory-store builds. A step is one command buffer: commands before the
// dispatches (memory appends), the dispatches, commands after (copies of results), then
// one submit. With an observer it also times the CPU phases and, with a profiler, the GPU.
import type { Gpu } from "../gpu/device.js";
import { encodeDispatches, type KernelDispatch } from "../gpu/dispatch.js";
import type { ForwardPlan } from "../models/types.js";
import type { StepObserver, StepRecord } from "./types.js";

/** What one step records. */
export interface StepSpec {
  kind: StepRecord["kind"];
  /** Tokens the step feeds (for the observer). */
  tokens: number;
  dispatches: readonly KernelDispatch[];
  /** Commands recorded before the dispatches. */
  before?(encoder: GPUCommandEncoder): void;
  /** Commands recorded after them (copies of results into staging or session buffers). */
  after?(encoder: GPUCommandEncoder): void;
}

/** A step recorded but not yet submitted. */
export interface RecordedStep {
  readonly spec: StepSpec;
  readonly encoder: GPUCommandEncoder;
  readonly startMs: number;
  readonly recordMs: number;
}

/** A submitted step, until {@link StepRunner.finish} reports it. */
export interface SubmittedStep {
  readonly spec: StepSpec;
  readonly startMs: number;
  readonly recordMs: number;
  readonly submitMs: number;
  /** When the submit returned (the pacer's reference for how long the step takes). */
  readonly submittedAtMs: number;
}

/** Writes the token ids and their positions (from `firstPosition` on) into a plan's inputs. */
export function feedPlan(gpu: Gpu, plan: ForwardPlan, ids: readonly number[], firstPosition: number): void {
  gpu.write(plan.ids, Uint32Array.from(ids));
  gpu.write(
    plan.positions,
    Uint32Array.from(ids, (_, i) => firstPosition + i),
  );
}

export class StepRunner {
  /** Steps submitted so far (the tests count submits through it). */
  submitted = 0;

  constructor(
    private readonly gpu: Gpu,
    readonly observer?: StepObserver,
  ) {}

  /** True when steps must complete one by one (GPU timestamps are collected per step). */
  get profiling(): boolean {
    return !!this.observer?.profiler;
  }

  /** Records and submits one step; returns at once (nothing waits for the GPU). */
  submit(spec: StepSpec): SubmittedStep {
    return this.submitRecorded(this.record(spec));
  }

  /** Records one step into a command encoder (not yet finished or submitted). */
  record(spec: StepSpec): RecordedStep {
    const gpu = this.gpu;
    gpu.assertAlive();
    const profiler = this.observer?.profiler;
    const t0 = performance.now();
    const encoder = gpu.device.createCommandEncoder({ label: spec.kind });
    spec.before?.(encoder);
    encodeDispatches(encoder, spec.dispatches, profiler);
    spec.after?.(encoder);
    profiler?.resolve(encoder);
    return { spec, encoder, startMs: t0, recordMs: performance.now() - t0 };
  }

  /** Finishes and submits a recorded step. */
  submitRecorded(recorded: RecordedStep): SubmittedStep {
    this.gpu.assertAlive();
    const t1 = performance.now();
    this.gpu.device.queue.submit([recorded.encoder.finish()]);
    this.submitted++;
    const t2 = performance.now();
    return { spec: recorded.spec, startMs: recorded.startMs, recordMs: recorded.recordMs, submitMs: t2 - t1, submittedAtMs: t2 };
  }

  /**
   * Waits for `begin`'s GPU promise (a readback of `step`, or a queue sync after it) through
   * the device's pacer, which learns per dispatch list how long such a step takes.
   */
  wait<T>(step: SubmittedStep, begin: () => Promise<T>): Promise<T> {
    return this.gpu.pacer.wait(step.spec.dispatches, step.submittedAtMs, begin);
  }

  /**
   * Reports a submitted step to the observer once `result` (the step's own readback, or a
   * queue sync when there is none) has resolved. Without an observer it only awaits `result`.
   */
  async finish<T>(step: SubmittedStep, result: Promise<T>): Promise<T> {
    const observer = this.observer;
    if (!observer) return result;
    const t0 = performance.now();
    const value = await result;
    const waitMs = performance.now() - t0;
    const gpu = observer.profiler ? await observer.profiler.collect() : undefined;
    const { kind, tokens } = step.spec;
    observer.onStep({ kind, tokens, startMs: step.startMs, recordMs: step.recordMs, submitMs: step.submitMs, waitMs, gpu });
    return value;
  }

  /** Submits a step; with an observer, waits for the GPU and reports it. */
  async run(spec: StepSpec): Promise<SubmittedStep> {
    const step = this.submit(spec);
    if (this.observer) await this.finish(step, this.settle(step));
    return step;
  }

  /** Waits until the queue has finished `step` and everything before it. */
  settle(step: SubmittedStep): Promise<void> {
    return this.wait(step, () => this.gpu.sync());
  }
}
