// Reads what a model's files say about chat: `chat_template`, `bos_token` and `eos_token` in
// Hugging Face's tokenizer_config.json, or `tokenizer.chat_template` in GGUF metadata.
import { MnemoError } from "../errors.js";
import type { ChatTemplateInfo } from "./types.js";

/** A special token is a string or an AddedToken object (`{ content: "..." }`). */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

/**
 * The chat template of a tokenizer_config.json. `chat_template` is either one Jinja string or
 * a list of named templates (`[{ name, template }]`), of which "default" is the chat one.
 */
export function chatTemplateFromConfig(config: unknown): ChatTemplateInfo {
  if (!config || typeof config !== "object" || Array.isArray(config)) {
    throw new MnemoError("BAD_MODEL_FILE", "tokenizer_config.json must hold a JSON object.");
  }
  const c = config as Record<string, unknown>;
  const info: ChatTemplateInfo = { bosToken: tokenText(c.bos_token), eosToken: tokenText(c.eos_token) };
  const t = c.chat_template;
  if (typeof t === "string") {
    info.template = t;
  } else if (Array.isArray(t)) {
    const named = t.find((x) => x && typeof x === "object" && (x as { name?: unknown }).name === "default") ?? t[0];
    const source = (named as { template?: unknown } | undefined)?.template;
    if (typeof source !== "string") throw new MnemoError("BAD_MODEL_FILE", "tokenizer_config.json: chat_template is a list without a usable template.");
    info.template = source;
  } else if (t !== undefined && t !== null) {
    throw new MnemoError("BAD_MODEL_FILE", "tokenizer_config.json: chat_template must be a string or a list of named templates.");
  }
  return info;
}
