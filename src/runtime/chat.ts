import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { MnemoError } from "../errors.js";

/** One chat message, as in OpenAI-style chat APIs. */
export interface ChatMessage {
  /** Who speaks; any role the template knows is accepted. */
  role: "system" | "user" | "assistant" | (string & {});
  /** What they say. */
  content: string;
}

/**
 * The template used when a model ships no `chat_template` (GPT-2 has none). Each turn is
 * "Role: content" followed by a blank line; with a generation prompt, "Assistant:" ends the
 * text so the model writes the assistant's turn.
 */
export const DEFAULT_CHAT_TEMPLATE = "{% for message in messages %}{{ message.role | capitalize }}: {{ message.content }}\n\n{% endfor %}" + "{% if add_generation_prompt %}Assistant:{% endif %}";

/** Upper bounds that keep a hostile template from running away. */
export const CHAT_TEMPLATE_LIMITS = {
  /** Longest template source accepted. */
  maxTemplateChars: 64 * 1024,
  /** Most elements all `range()` calls of one render may produce together. */
  maxRangeElements: 100_000,
  /** Longest rendered text accepted. */
  maxOutputChars: 4 * 1024 * 1024,
} as const;

/** Options of {@link renderChat}. */
export interface ChatTemplateOptions {
  /** The model's `chat_template` from tokenizer_config.json; the default when absent. */
  template?: string;
  /** The text of the beginning-of-sequence token, for templates that use it. */
  bosToken?: string;
  /** The text of the end-of-sequence token, for templates that use it. */
  eosToken?: string;
  /** End with the opening of the assistant's reply (default true). */
  addGenerationPrompt?: boolean;
}

/**
 * Renders `messages` through a Jinja chat template with @huggingface/jinja (an interpreter:
 * model-provided strings are never evaluated as JavaScript). `range()` is replaced by a
 * bounded version and the output length is capped, so a hostile template fails with
 * BAD_INPUT instead of looping or exhausting memory.
 */
export function renderChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const source = opts.template ?? DEFAULT_CHAT_TEMPLATE;
  if (source.length > CHAT_TEMPLATE_LIMITS.maxTemplateChars) {
    throw new MnemoError("BAD_INPUT", `The chat template is ${source.length} characters; the limit is ${CHAT_TEMPLATE_LIMITS.maxTemplateChars}.`);
  }
  for (const [i, m] of messages.entries()) {
    if (typeof m?.role !== "string" || typeof m?.content !== "string") {
      throw new MnemoError("BAD_INPUT", `Chat message ${i} needs a string "role" and a string "content".`);
    }
  }
  let template: Template;
  try {
    template = new Template(source);
  } catch (cause) {
    throw new MnemoError("BAD_INPUT", `The chat template does not parse: ${String((cause as Error).message ?? cause)}`, { cause });
  }
  let budget: number = CHAT_TEMPLATE_LIMITS.maxRangeElements;
  const range = (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    const count = step === 0 ? Infinity : Math.max(0, Math.ceil((stop - start) / step));
    budget -= count;
    if (budget < 0) throw new MnemoError("BAD_INPUT", "The chat template asked for too many loop iterations (range limit reached).");
    return Array.from({ length: count }, (_, i) => start + i * step);
  };
  let text: string;
  try {
    // Our own environment instead of Template.render's, so that `range` is the bounded one.
    const env = new Environment();
    const globals: Record<string, unknown> = {
      true: true,
      false: false,
      none: null,
      True: true,
      False: false,
      None: null,
      range,
      raise_exception: (msg: string) => {
        throw new MnemoError("BAD_INPUT", `The chat template refused the messages: ${msg}`);
      },
      strftime_now: () => new Date().toISOString().slice(0, 10),
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: opts.bosToken ?? "",
      eos_token: opts.eosToken ?? "",
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    };
    for (const [k, v] of Object.entries(globals)) env.set(k, v);
    text = String(new Interpreter(env).run(template.parsed).value);
  } catch (cause) {
    if (cause instanceof MnemoError) throw cause;
    throw new MnemoError("BAD_INPUT", `The chat template failed to render: ${String((cause as Error).message ?? cause)}`, { cause });
  }
  if (text.length > CHAT_TEMPLATE_LIMITS.maxOutputChars) {
    throw new MnemoError("BAD_INPUT", `The chat template produced ${text.length} characters; the limit is ${CHAT_TEMPLATE_LIMITS.maxOutputChars}.`);
  }
  return text;
}

/** Stop strings for the default template: a reply is one paragraph. */
export const DEFAULT_CHAT_STOP: readonly string[] = ["\n\n"];

/** A conversation as a session remembers it: the messages, and the text it has fed for them. */
export interface ChatState {
  /** The conversation, oldest first. */
  messages: ChatMessage[];
  /** Every character the session has consumed for this conversation (rendered turns and replies). */
  fed: string;
}

/** One turn about to run: what to feed, and what the conversation becomes. */
export interface ChatTurn {
  messages: ChatMessage[];
  /** Text to append to the session: only what follows the text already fed. */
  feed: string;
  rendered: string;
  /**
   * True when the template rendered earlier turns differently from what was fed (a template
   * whose output depends on later messages): the session must forget and feed `feed` whole.
   */
  restart: boolean;
  stop: readonly string[];
}

/**
 * Plans a chat turn: renders the whole conversation with the new messages and a generation
 * prompt, and keeps only the text after what the session already holds.
 */
export function planChatTurn(state: ChatState | null, added: readonly ChatMessage[], info: ChatTemplateOptions): ChatTurn {
  const messages = [...(state?.messages ?? []), ...added];
  const rendered = renderChat(messages, { ...info, addGenerationPrompt: true });
  const stop = info.template ? [] : DEFAULT_CHAT_STOP;
  if (state && !rendered.startsWith(state.fed)) return { messages, feed: rendered, rendered, restart: true, stop };
  return { messages, feed: rendered.slice(state?.fed.length ?? 0), rendered, restart: false, stop };
}

/** The conversation after a turn whose reply text was `reply` (a stop string included). */
export function finishChatTurn(turn: ChatTurn, reply: string, stop: readonly string[]): ChatState {
  const hit = stop.find((s) => s.length > 0 && reply.endsWith(s));
  const content = (hit ? reply.slice(0, -hit.length) : reply).trim();
  return { messages: [...turn.messages, { role: "assistant", content }], fed: turn.rendered + reply };
}
