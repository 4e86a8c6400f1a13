// The official MCP TypeScript SDK (@modelcontextprotocol/sdk, npm, pinned
// in scripts/test) against `wick serve` with minilm and
// efficientnet-lite0: list the tools, call one text and one image tool,
// as an agent written in JavaScript would. Usage:
//   node mcp_client_test.mjs BASE_URL IMAGE_PATH
// (with NODE_PATH naming the node_modules that holds the SDK).
// Exits non-zero on the first failed check.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

// NODE_PATH is not read for ES modules: load the SDK's CommonJS build
// through require.
const require = createRequire(process.env.NODE_PATH + "/");
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [base, image] = process.argv.slice(2);
const client = new Client({ name: "wick-test", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(base + "/mcp")));

const { tools } = await client.listTools();
const names = tools.map((tool) => tool.name).sort();
assert.deepEqual(names, [
  "efficientnet-lite0_classify", "minilm_classify", "minilm_embed", "minilm_similarity",
]);
const similarity = tools.find((tool) => tool.name === "minilm_similarity");
assert.deepEqual(similarity.inputSchema.required.sort(), ["a", "b"]);

const scored = await client.callTool({
  name: "minilm_similarity",
  arguments: { a: "A man is eating food.", b: "A man is eating a piece of bread." },
});
assert.ok(!scored.isError, JSON.stringify(scored));
const score = scored.structuredContent.score;
assert.ok(score > 0.5 && score < 1, JSON.stringify(scored));

const dataUrl = "data:image/png;base64," + readFileSync(image).toString("base64");
const classified = await client.callTool({ name: "efficientnet-lite0_classify", arguments: { image: dataUrl } });
assert.ok(!classified.isError, JSON.stringify(classified));
assert.match(JSON.stringify(classified.structuredContent.label), /cat/);

const refused = await client.callTool({ name: "efficientnet-lite0_classify", arguments: { image: "not an image" } });
assert.ok(refused.isError, JSON.stringify(refused));
console.log(`${names.length} tools; similarity ${score}; ${refused.content[0].text}`);
await client.close();
