// `mnemo chat`: a conversation in the terminal. One session holds the whole conversation;
// each line typed is a user turn, and only that turn is prefilled.
import { MnemoError } from "../errors.js";
import { renderChat, type ChatMessage } from "../runtime/chat.js";
import { Session } from "../runtime/session.js";
import { UsageError, num, parseFlags } from "./args.js";
import { defaultIo, openModel, type CliIo } from "./common.js";

const HELP = "Type a message and press Enter. /reset forgets the conversation, /usage shows memory use, /exit (or end of input) quits.\n";

export async function chatCommand(argv: string[], io: CliIo): Promise<number> {
  const flags = parseFlags(argv, {
    values: ["model", "system", "max-tokens", "temperature", "top-k", "top-p", "repetition-penalty", "seed", "quant", "cache"],
    booleans: ["greedy", "keep-token-table-f16"],
  });
  const cacheType = (flags.cache ?? "f32") as string;
  if (cacheType !== "f32" && cacheType !== "f16") throw new UsageError("--cache must be f32 or f16.");
  const model = await openModel(flags);
  if (model.info.type !== "gpt2") {
    model.dispose();
    throw new MnemoError("UNSUPPORTED_MODEL", "mnemo chat needs a GPT-2 model (a recurrent model has no chat format); use mnemo generate.");
  }
  const system: ChatMessage[] = typeof flags.system === "string" ? [{ role: "system", content: flags.system }] : [];
  // On overflow, keep the system turn (as rendered) and the most recent tokens.
  const keepFirst = system.length ? model.tokenizer.encode(renderChat(system, { ...model.tokenizer.chat, addGenerationPrompt: false })).length : 0;
  const session = new Session(model, { cacheType, overflowPolicy: { keepFirst } });
  const options = {
    maxTokens: num(flags, "max-tokens", 96),
    temperature: num(flags, "temperature", 0.8),
    topK: num(flags, "top-k", 40),
    topP: num(flags, "top-p", 0.95),
    repetitionPenalty: num(flags, "repetition-penalty", 1.1),
    seed: num(flags, "seed"),
    greedy: flags.greedy === true,
  };
  // Ctrl-C stops a reply in progress; at the prompt it quits.
  let controller: AbortController | null = null;
  const onSigint = () => (controller ? controller.abort() : process.exit(130));
  process.on("SIGINT", onSigint);
  io.stderr(HELP);
  let pending = [...system];
  try {
    for await (const raw of (io.lines ?? defaultIo.lines!)()) {
      const line = raw.trim();
      if (line === "/exit") break;
      if (line === "") continue;
      if (line === "/reset") {
        session.reset();
        pending = [...system];
        io.stderr("[conversation forgotten]\n");
        continue;
      }
      if (line === "/usage") {
        const u = session.usage();
        io.stderr(`[${u.tokens}/${u.contextLength} tokens, ${(u.stateBytes / 1e6).toFixed(1)} MB of KV cache, ${u.droppedTokens} dropped]\n`);
        continue;
      }
      controller = new AbortController();
      io.stdout("assistant: ");
      // Leading whitespace and trailing whitespace (the blank line that ends a reply) are not printed.
      let held = "";
      let started = false;
      try {
        for await (const t of session.chat([...pending, { role: "user", content: line }], { ...options, signal: controller.signal })) {
          const text: string = started ? held + t.text : t.text.trimStart();
          started ||= text.length > 0;
          const cut = text.length - /\s*$/.exec(text)![0].length;
          io.stdout(text.slice(0, cut));
          held = text.slice(cut);
        }
        pending = [];
      } catch (e) {
        if (!(e instanceof MnemoError && e.code === "ABORTED")) throw e;
        pending = [];
        io.stderr(" [stopped]");
      }
      controller = null;
      io.stdout("\n");
      const tm = session.lastTimings;
      if (tm) io.stderr(`[${tm.promptTokens} new prompt tokens, ${tm.generatedTokens} generated, ${tm.tokensPerSecond.toFixed(1)} tokens/s]\n`);
    }
    return 0;
  } finally {
    process.off("SIGINT", onSigint);
    session.dispose();
    model.dispose();
  }
}
