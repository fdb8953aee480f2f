import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { renderChat, planChatTurn, finishChatTurn, CHAT_TEMPLATE_LIMITS, DEFAULT_CHAT_TEMPLATE, type ChatMessage } from "../../src/runtime/chat.js";
import { chatTemplateFromConfig } from "../../src/tokenizers/chat-config.js";
import { Session } from "../../src/runtime/session.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/runtime/snapshot.js";
import { main } from "../../src/cli/main.js";
import type { LanguageModel } from "../../src/models/types.js";
import { testGpu } from "../helpers/gpu.js";
import { loadModelAt } from "../helpers/models.js";
import { isMnemoError } from "../../src/errors.js";
import { caught } from "../helpers/errors.js";

describe("renderChat", () => {
  it("uses the documented plain template when the model has none", () => {
    const text = renderChat([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello" },
    ]);
    expect(text).toBe("System: Be brief.\n\nUser: Hello\n\nAssistant:");
    expect(DEFAULT_CHAT_TEMPLATE).toContain("add_generation_prompt");
  });

  it("renders a model's own chat_template (ChatML style)", () => {
    const chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    expect(renderChat([{ role: "user", content: "Hi" }], { template: chatml })).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  });

  it("passes bos/eos tokens and raise_exception", () => {
    const t = "{{ bos_token }}{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools') }}{% endif %}{{ m.content }}{{ eos_token }}{% endfor %}";
    expect(renderChat([{ role: "user", content: "a" }], { template: t, bosToken: "<s>", eosToken: "</s>" })).toBe("<s>a</s>");
    let err: unknown;
    try {
      renderChat([{ role: "tool", content: "x" }], { template: t });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(String(err)).toMatch(/no tools/);
  });

  it("stops a hostile template that loops for ever", () => {
    const hi = [{ role: "user", content: "hi" }];
    const hostile = "{% for i in range(1000000000) %}{% for j in range(1000000000) %}x{% endfor %}{% endfor %}";
    const err = caught(() => renderChat(hi, { template: hostile }));
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(String(err)).toMatch(/range limit/);
    // The work is counted, not timed: all range() calls of one render share one budget of
    // elements, so the outer range(1e9) is refused before a single iteration runs.
    const limit = CHAT_TEMPLATE_LIMITS.maxRangeElements;
    const ranges = (a: number, b: number) => `{% set x = range(${a}) %}{% set y = range(${b}) %}done`;
    expect(renderChat(hi, { template: ranges(limit - 1000, 1000) })).toBe("done");
    expect(String(caught(() => renderChat(hi, { template: ranges(limit - 1000, 1001) })))).toMatch(/range limit/);
  });

  it("stops hostile templates that grow strings exponentially, recurse, or multiply a long message", () => {
    const long = [{ role: "user", content: "y".repeat(10_000) }];
    for (const [t, reason] of [
      ['{% set s = "x" %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s }}', /failed to render/],
      // 2^26 characters: refused by the output limit, which names both counts.
      [
        '{% set ns = namespace(s="x") %}{% for i in range(26) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}',
        new RegExp(`produced ${2 ** 26} characters; the limit is ${CHAT_TEMPLATE_LIMITS.maxOutputChars}`),
      ],
      ["{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", /failed to render/],
      ["{% for a in range(300) %}{% for b in range(300) %}{{ messages[0].content }}{% endfor %}{% endfor %}", /failed to render/],
    ] as const) {
      const err = caught(() => renderChat(long, { template: t }));
      expect(isMnemoError(err, "BAD_INPUT"), t).toBe(true);
      expect(String(err), t).toMatch(reason);
    }
  });

  it("refuses malformed messages and templates", () => {
    expect(() => renderChat([{ role: "user" } as never])).toThrow(/string "content"/);
    expect(() => renderChat([{ role: "user", content: "x" }], { template: "{% for %}" })).toThrow(/does not parse/);
  });
});

describe("chat templates from model files", () => {
  it("reads a string template, a list of named templates and AddedToken specials", () => {
    expect(chatTemplateFromConfig({ chat_template: "{{ x }}", bos_token: "<s>", eos_token: { content: "</s>" } })).toEqual({ template: "{{ x }}", bosToken: "<s>", eosToken: "</s>" });
    expect(
      chatTemplateFromConfig({
        chat_template: [
          { name: "tool_use", template: "T" },
          { name: "default", template: "D" },
        ],
      }).template,
    ).toBe("D");
    expect(chatTemplateFromConfig({ eos_token: "<|endoftext|>" }).template).toBeUndefined();
  });

  it("refuses a chat_template of another type", () => {
    expect(() => chatTemplateFromConfig({ chat_template: 3 })).toThrow(/chat_template must be/);
    expect(() => chatTemplateFromConfig([])).toThrow(/JSON object/);
  });
});

describe("chat turns", () => {
  const user = (content: string): ChatMessage => ({ role: "user", content });

  it("feed only what follows the text already fed", () => {
    const t1 = planChatTurn(null, [user("Hi")], {});
    expect(t1.feed).toBe("User: Hi\n\nAssistant:");
    const s1 = finishChatTurn(t1, " Hello there.\n\n", t1.stop);
    expect(s1.messages.at(-1)).toEqual({ role: "assistant", content: "Hello there." });
    const t2 = planChatTurn(s1, [user("And you?")], {});
    expect(t2.restart).toBe(false);
    expect(t2.feed).toBe("User: And you?\n\nAssistant:");
  });

  it("restart when the template renders earlier turns differently", () => {
    const counting = { template: "{{ messages | length }} turns{% for m in messages %}|{{ m.content }}{% endfor %}" };
    const t1 = planChatTurn(null, [user("a")], counting);
    const t2 = planChatTurn(finishChatTurn(t1, "b", t1.stop), [user("c")], counting);
    expect(t2.restart).toBe(true);
    expect(t2.feed).toBe("3 turns|a|b|c");
  });
});

describe("session.chat on gpt2-gutenberg", () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await loadModelAt(await testGpu(), "weights/gpt2-gutenberg");
  });
  afterAll(() => model?.dispose());
  const opts = { greedy: true, maxTokens: 6 };

  async function reply(s: Session, messages: ChatMessage[]): Promise<string> {
    let text = "";
    for await (const t of s.chat(messages, opts)) text += t.text;
    return text;
  }

  it("keeps the conversation and prefills only the new turn", async () => {
    const tok = model.tokenizer;
    expect(tok.chat).toEqual({ bosToken: "<|endoftext|>", eosToken: "<|endoftext|>", template: undefined });
    const s = new Session(model);
    const first: ChatMessage[] = [
      { role: "system", content: "You are a storyteller." },
      { role: "user", content: "Tell me about the sea." },
    ];
    await reply(s, first);
    const render1 = renderChat(first);
    expect(s.lastTimings!.promptTokens).toBe(tok.encode(render1).length);
    expect(s.messages.length).toBe(3);
    expect(s.messages[2].role).toBe("assistant");

    await reply(s, [{ role: "user", content: "And the land?" }]);
    const render2 = renderChat(s.messages.slice(0, 4));
    const fed1 = (await s.snapshot()).chat!.fed;
    expect(render2.startsWith(render1)).toBe(true);
    // Only the new turn was prefilled: far fewer tokens than the whole conversation.
    expect(s.lastTimings!.promptTokens).toBeLessThan(tok.encode(render2).length / 2);
    expect(s.messages.length).toBe(5);
    // What the session holds is exactly the conversation's text.
    expect(tok.decode(s.tokens)).toBe(fed1);
    s.dispose();
  });

  it("a snapshot carries the conversation; a restored session goes on with the new turn only", async () => {
    const a = new Session(model);
    await reply(a, [{ role: "user", content: "Where is the ship?" }]);
    const snap = await decodeSnapshot(encodeSnapshot(await a.snapshot()));
    const b = new Session(model);
    await b.restore(snap);
    expect(b.messages).toEqual(a.messages);
    const next: ChatMessage[] = [{ role: "user", content: "Why?" }];
    const ra = await reply(a, next);
    const rb = await reply(b, next);
    expect(rb).toBe(ra);
    expect(b.lastTimings!.promptTokens).toBe(a.lastTimings!.promptTokens);
    [a, b].forEach((x) => x.dispose());
  });

  it("mnemo chat: a conversation from typed lines", async () => {
    const out: string[] = [];
    const err: string[] = [];
    async function* lines() {
      yield "Hello.";
      yield "/usage";
      yield "What happened next?";
      yield "/exit";
      yield "never read";
    }
    const io = { stdout: (x: string) => out.push(x), stderr: (x: string) => err.push(x), lines };
    const code = await main(["chat", "--greedy", "--max-tokens", "4", "--system", "Be brief."], io);
    expect(code).toBe(0);
    expect(out.join("").match(/assistant: /g)?.length).toBe(2);
    const prompts = [...err.join("").matchAll(/\[(\d+) new prompt tokens/g)].map((m) => Number(m[1]));
    expect(prompts.length).toBe(2);
    expect(prompts[1]).toBeLessThan(prompts[0]);
    expect(err.join("")).toMatch(/tokens, [\d.]+ MB of KV cache/);
  });
});
