// The `mnemo-webgpu/ai-sdk` entry: a Vercel AI SDK provider for Mnemo models. It needs the
// `ai` package (and its `@ai-sdk/provider`) installed beside Mnemo.
export { mnemo, type MnemoChatModel, type MnemoProviderSettings } from "./provider.js";
