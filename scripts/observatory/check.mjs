#!/usr/bin/env node
// Scores a site served on loopback with the MDN HTTP Observatory and runs
// Google's CSP Evaluator on its Content-Security-Policy.
//
//   NODE_EXTRA_CA_CERTS=ca.pem node check.mjs --host 127.0.0.1 --http-port 8080 --https-port 8443
//
// Prints one JSON object on stdout (the scores) and a readable summary on
// stderr. Exits 0 only when the grade is A+, every Observatory test
// passes, and CSP Evaluator reports nothing worse than its STRICT_CSP
// (backward-compatibility hints) and INFO findings. The Go test
// headers/observatory_test.go runs this and checks the JSON itself.
//
// The server's certificate must chain to a CA in NODE_EXTRA_CA_CERTS: the
// Observatory fails HSTS and redirection on an unverified certificate.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    "http-port": { type: "string" },
    "https-port": { type: "string" },
    path: { type: "string", default: "/" },
  },
});
if (!args["https-port"]) {
  console.error("usage: check.mjs --host H --http-port P --https-port P [--path /]");
  process.exit(2);
}

// The Observatory package's postinstall step (skipped: we install with
// --ignore-scripts) downloads Chromium's HSTS preload list into
// conf/hsts-preload.json, which the redirection and HSTS tests read. No
// loopback address can be on that list, so an empty list gives the same
// result without a network fetch.
const obsDir = path.dirname(path.dirname(require.resolve("@mdn/mdn-http-observatory")));
const preload = path.join(obsDir, "conf", "hsts-preload.json");
if (!existsSync(preload)) {
  mkdirSync(path.dirname(preload), { recursive: true });
  writeFileSync(preload, "{}\n");
}

const { retrieve } = await import("@mdn/mdn-http-observatory/src/retriever/retriever.js");
const { ALL_TESTS, NUM_TESTS } = await import("@mdn/mdn-http-observatory/src/constants.js");
const { MINIMUM_SCORE_FOR_EXTRA_CREDIT } = await import("@mdn/mdn-http-observatory/src/grader/charts.js");
const { getGradeForScore, getScoreModifier } = await import("@mdn/mdn-http-observatory/src/grader/grader.js");
const csp = require("@doyensec/csp-evaluator");

// scan mirrors the library's scan() (src/scanner/index.js), which cannot
// be given ports: retrieve() can.
async function scan(host, options) {
  const r = await retrieve(host, options);
  if (!r.responses.auto) {
    throw new Error(`no response from ${host} (ports ${options.httpPort}, ${options.httpsPort})`);
  }
  const { status } = r.responses.auto;
  if (status < 200 || (status >= 400 && ![401, 403].includes(status))) {
    throw new Error(`unexpected HTTP status ${status}`);
  }
  let passed = 0;
  let withExtra = 100;
  let uncurved = 100;
  const tests = {};
  for (const test of ALL_TESTS) {
    const out = test(r);
    const modifier = out.result ? getScoreModifier(out.result) : 0;
    if (out.result) {
      passed += out.pass ? 1 : 0;
      withExtra += modifier;
      if (modifier < 0) uncurved += modifier;
    }
    tests[out.constructor.name] = { pass: !!out.pass, result: out.result, scoreModifier: modifier };
  }
  const score = uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT ? withExtra : uncurved;
  const { grade } = getGradeForScore(score);
  return {
    grade,
    score,
    testsPassed: passed,
    testsQuantity: NUM_TESTS,
    statusCode: status,
    finalURL: r.session?.url?.href ?? null,
    tests,
    headers: r.responses.auto.headers,
  };
}

// Severities at or above this level fail the check: everything but the
// STRICT_CSP backward-compatibility hints, INFO and NONE.
const S = csp.severities;
const ALLOWED = new Set([S.STRICT_CSP, S.INFO, S.NONE]);
const SEVERITY_NAMES = Object.fromEntries(Object.entries(S).map(([k, v]) => [v, k]));

function evaluateCSP(policy) {
  const parser = new csp.CspParser(policy);
  const evaluator = new csp.CspEvaluator(parser.csp, csp.Version.CSP3);
  const findings = evaluator.evaluate(csp.CspEvaluator.STRICTCSP_CHECKS, csp.CspEvaluator.DEFAULT_CHECKS);
  return findings.map((f) => ({
    severity: f.severity,
    severityName: SEVERITY_NAMES[f.severity] ?? String(f.severity),
    directive: f.directive,
    description: f.description,
    blocking: !ALLOWED.has(f.severity),
  }));
}

const result = await scan(args.host, {
  httpPort: args["http-port"] ? Number(args["http-port"]) : undefined,
  httpsPort: Number(args["https-port"]),
  path: args.path,
});
const policy = result.headers["content-security-policy"] ?? "";
const findings = policy ? evaluateCSP(policy) : [{ severity: S.HIGH, severityName: "HIGH", directive: "", description: "no Content-Security-Policy header", blocking: true }];
delete result.headers;
const out = { observatory: result, cspEvaluator: { policy, findings } };
console.log(JSON.stringify(out, null, 2));

console.error(`Observatory: grade ${result.grade}, score ${result.score}, ${result.testsPassed}/${result.testsQuantity} tests passed`);
for (const [name, t] of Object.entries(result.tests)) {
  console.error(`  ${t.pass ? "pass" : "FAIL"} ${name}: ${t.result} (${t.scoreModifier >= 0 ? "+" : ""}${t.scoreModifier})`);
}
console.error(`CSP Evaluator (CSP3): ${findings.length} finding(s), ${findings.filter((f) => f.blocking).length} blocking`);
for (const f of findings) {
  console.error(`  ${f.blocking ? "BLOCK" : "ok   "} ${f.severityName} ${f.directive}: ${f.description}`);
}

const ok =
  result.grade === "A+" &&
  result.testsPassed === result.testsQuantity &&
  result.testsQuantity === 10 &&
  !findings.some((f) => f.blocking);
process.exit(ok ? 0 : 1);
