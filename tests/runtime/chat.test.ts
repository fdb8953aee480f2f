import { describe, it, expect } from "vitest";
import { renderChat, DEFAULT_CHAT_TEMPLATE } from "../../src/runtime/chat.js";
import { isMnemoError } from "../../src/errors.js";

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
    const chatml =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    expect(renderChat([{ role: "user", content: "Hi" }], { template: chatml })).toBe(
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
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
    const hostile = "{% for i in range(1000000000) %}{% for j in range(1000000000) %}x{% endfor %}{% endfor %}";
    const t0 = Date.now();
    let err: unknown;
    try {
      renderChat([{ role: "user", content: "hi" }], { template: hostile });
    } catch (e) {
      err = e;
    }
    expect(isMnemoError(err, "BAD_INPUT")).toBe(true);
    expect(String(err)).toMatch(/range limit/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("refuses malformed messages and templates", () => {
    expect(() => renderChat([{ role: "user" } as never])).toThrow(/string "content"/);
    expect(() => renderChat([{ role: "user", content: "x" }], { template: "{% for %}" })).toThrow(/does not parse/);
  });
});
