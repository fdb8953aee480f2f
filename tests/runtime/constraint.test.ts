// Constrained decoding (xgrammar masks applied on the GPU) on the bundled GPT-2: 12 seeded
// generations held to a JSON schema all parse and validate (ajv); a regular expression and
// an EBNF grammar likewise; the output ends when the grammar is complete; bad constraints
// fail with BAD_INPUT and leave the model usable. The same through OpenAI's response_format.
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type GenerateOptions, type Model } from "../../src/node.js";
import { isMnemoError } from "../../src/errors.js";
import { caughtAsync } from "../helpers/errors.js";

let model: Model;
beforeAll(async () => {
  model = await loadModel("weights/gpt2-gutenberg");
});
afterAll(() => model?.dispose());

async function text(prompt: string, opts: GenerateOptions): Promise<{ text: string; tokens: number }> {
  let out = "";
  let tokens = 0;
  for await (const t of model.generate(prompt, opts)) {
    out += t.text;
    tokens++;
  }
  return { text: out, tokens };
}

// A string, an integer and an enum field, with short names and bounds: every generated token
// is a decode step of its own (constrained steps do not overlap), and CI runs 12 of them.
const schema = {
  type: "object",
  properties: { n: { type: "string", maxLength: 3 }, a: { type: "integer", minimum: 0, maximum: 9 }, k: { enum: ["cat", "dog", "bird"] } },
  required: ["n", "a", "k"],
  additionalProperties: false,
};

describe("constraint", () => {
  it("json_schema: 12 seeded generations all parse and validate against the schema", async () => {
    const validate = new Ajv({ strict: true }).compile(schema);
    const kinds = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const { text: out } = await text("The animal, as a JSON record:", { seed, maxTokens: 48, constraint: { type: "json_schema", schema } });
      const value = JSON.parse(out);
      expect(validate(value), `seed ${seed}: ${out} ${JSON.stringify(validate.errors)}`).toBe(true);
      kinds.add(value.k);
    }
    // Sampled, not fixed: the enum field takes more than one value over 12 seeds.
    expect(kinds.size).toBeGreaterThan(1);
  }, 300_000);

  it("regex: a date, and generation stops when the pattern is complete", async () => {
    for (let seed = 0; seed < 3; seed++) {
      const { text: out, tokens } = await text("The letter was dated", { seed, maxTokens: 32, constraint: { type: "regex", pattern: "[0-9]{4}-[0-9]{2}-[0-9]{2}" } });
      expect(out, `seed ${seed}`).toMatch(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/);
      expect(tokens).toBeLessThan(32);
    }
  });

  it("grammar (EBNF) and any JSON", async () => {
    const ebnf = 'root ::= ("yes" | "no") " sir"';
    for (let seed = 0; seed < 2; seed++) expect((await text("Will you come?", { seed, maxTokens: 16, constraint: { type: "grammar", ebnf } })).text).toMatch(/^(yes|no) sir$/);
    const json = await text("Data:", { seed: 3, maxTokens: 24, temperature: 0.7, constraint: { type: "json" } });
    // Cut at maxTokens a JSON value may be unfinished; finished, it parses.
    if (json.tokens < 24) expect(() => JSON.parse(json.text)).not.toThrow();
    expect(json.text.length).toBeGreaterThan(0);
  });

  it("refuses bad constraints with BAD_INPUT, and the model stays usable", async () => {
    const refused = async (constraint: unknown, pattern: RegExp) => {
      const err = await caughtAsync(() => text("x", { maxTokens: 4, constraint: constraint as GenerateOptions["constraint"] }));
      expect(isMnemoError(err, "BAD_INPUT"), String(err)).toBe(true);
      expect(String(err)).toMatch(pattern);
    };
    await refused({ type: "json_schema", schema: { type: "nonsense" } }, /JSON schema could not be compiled/);
    await refused({ type: "regex", pattern: "([a-z" }, /regular expression could not be compiled/);
    await refused({ type: "grammar", ebnf: "root ::= " }, /grammar could not be compiled/);
    await refused({ type: "xml" }, /type must be "json", "json_schema", "regex" or "grammar"/);
    await refused({ type: "regex", pattern: "a", flags: "i" }, /unknown field "flags"/);
    await refused({ type: "json_schema", schema: "{not json" }, /schema is not valid JSON text/);
    const err = await caughtAsync(() => text("x", { maxTokens: 4, speculate: "context", constraint: { type: "json" } }));
    expect(String(err)).toMatch(/speculate: a constraint/);
    expect((await text("The sea", { maxTokens: 3 })).tokens).toBe(3);
  });
});

describe("response_format", () => {
  it("json_schema and json_object through chat.completions.create", async () => {
    const validate = new Ajv({ strict: true }).compile(schema);
    const messages = [{ role: "user", content: "Describe an animal as JSON." }];
    const reply = await model.chat.completions.create({ messages, seed: 4, max_tokens: 48, response_format: { type: "json_schema", json_schema: { name: "animal", schema, strict: true } } });
    const value = JSON.parse(reply.choices[0].message.content!);
    expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    expect(reply.choices[0].finish_reason).toBe("stop");
    const object = await model.chat.completions.create({ messages, seed: 5, max_tokens: 24, response_format: { type: "json_object" } });
    if (object.choices[0].finish_reason === "stop") expect(typeof JSON.parse(object.choices[0].message.content!)).toBe("object");
    const err = await caughtAsync(() => model.chat.completions.create({ messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "nonsense" } } } }));
    expect(isMnemoError(err, "BAD_INPUT"), String(err)).toBe(true);
  });
});
