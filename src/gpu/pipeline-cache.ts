import { shaderSource, type ShaderDefines } from "./shader-source.js";

/** What identifies a compute pipeline: the shader file, its variant and override constants. */
export interface PipelineKey {
  /** `shaders/<file>.wgsl` without the extension. */
  file: string;
  entryPoint?: string;
  defines?: ShaderDefines;
  /** WGSL `override` constants (workgroup sizes, tile shapes). */
  constants?: Readonly<Record<string, number>>;
}

function canonical(obj: Readonly<Record<string, unknown>> | undefined): string {
  if (!obj) return "";
  return Object.keys(obj)
    .sort()
    .map((k) => `${k}=${String(obj[k])}`)
    .join(",");
}

/**
 * Creates every compute pipeline once. Models ask for the same pipelines for every layer and
 * every session; the cache hands back the existing object, and `created` lets tests check
 * that nothing is compiled on the decode hot path.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  created = 0;

  constructor(private readonly device: GPUDevice) {}

  get(key: PipelineKey): GPUComputePipeline {
    const entryPoint = key.entryPoint ?? "main";
    const moduleKey = `${key.file}|${canonical(key.defines)}`;
    const id = `${moduleKey}|${entryPoint}|${canonical(key.constants)}`;
    const hit = this.pipelines.get(id);
    if (hit) return hit;
    let module = this.modules.get(moduleKey);
    if (!module) {
      module = this.device.createShaderModule({ code: shaderSource(key.file, key.defines), label: moduleKey });
      this.modules.set(moduleKey, module);
    }
    const pipeline = this.device.createComputePipeline({
      label: id,
      layout: "auto",
      compute: { module, entryPoint, constants: key.constants as Record<string, number> | undefined },
    });
    this.pipelines.set(id, pipeline);
    this.created++;
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }
}
