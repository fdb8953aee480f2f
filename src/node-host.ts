// The Node implementation of the host: Dawn through the `webgpu` package and model files
// from disk. Only the Node entry (src/node.ts) imports this module.
import type { NodeHost } from "./host.js";
import { requestNodeAdapter } from "./gpu/node-webgpu.js";
import { nodeModelFiles } from "./loading/node-files.js";

export const NODE_HOST: NodeHost = {
  requestAdapter: requestNodeAdapter,
  modelFiles: nodeModelFiles,
};
