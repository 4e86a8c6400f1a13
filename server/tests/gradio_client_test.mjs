// @gradio/client (npm, pinned in scripts/test) against `wick serve` with
// minilm and efficientnet-lite0: one text and one image endpoint, as a
// Gradio app's JavaScript users call them. Usage:
//   node gradio_client_test.mjs BASE_URL IMAGE_PATH
// (with NODE_PATH naming the node_modules that holds @gradio/client).
// Exits non-zero on the first failed check.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

// NODE_PATH is not read for ES modules: resolve through require.
const require = createRequire(process.env.NODE_PATH + "/");
const { Client, handle_file } = await import(require.resolve("@gradio/client"));

const [base, image] = process.argv.slice(2);
const client = await Client.connect(base);

const api = await client.view_api();
for (const name of ["/efficientnet-lite0_classify", "/minilm_similarity"]) {
  assert.ok(name in api.named_endpoints, Object.keys(api.named_endpoints).join(", "));
}

const similarity = await client.predict("/minilm_similarity", {
  a: "A man is eating food.",
  b: "A man is eating a piece of bread.",
});
assert.ok(Math.abs(similarity.data[0] - 0.7553) < 1e-3, JSON.stringify(similarity.data));

const png = new Blob([readFileSync(image)], { type: "image/png" });
const label = await client.predict("/efficientnet-lite0_classify", { image: handle_file(png) });
assert.equal(label.data[0].label, "tiger cat", JSON.stringify(label.data));

await assert.rejects(
  client.predict("/minilm_similarity", { a: 12, b: "x" }),
  (error) => String(error.message ?? error).includes("input `a`: expected a string"),
);

console.log("@gradio/client: every check passed");
process.exit(0);
