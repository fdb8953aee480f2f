// Placeholder until the LSTM model lands: refuses clearly instead of failing obscurely.
import { MnemoError } from "../errors.js";
import type { Gpu } from "../gpu/device.js";
import type { ModelFiles } from "../loading/model-files.js";
import type { LanguageModel } from "./types.js";

export async function loadLstm(_gpu: Gpu, files: ModelFiles, _config: Record<string, unknown>): Promise<LanguageModel> {
  throw new MnemoError("UNSUPPORTED_MODEL", `${files.origin} is an LSTM model; LSTM support is not built yet.`);
}
