#!/usr/bin/env node
// ajv_strict.js SCHEMA [--report]
// Compiles schema/manifest.schema.json with ajv (Draft 2020-12) in strict
// mode: unknown keywords, strictTypes, strictTuples, strictRequired all
// errors.  The only keywords ajv does not know and the schema may carry
// are the editor keywords yaml-language-server reads, declared here with
// addKeyword (annotations: they validate nothing).  Exit 0 when it compiles
// and the compiled validator accepts a minimal manifest and refuses a bad
// duration; 1 otherwise, with every strict-mode complaint printed.
'use strict';
const fs = require('fs');
const path = require('path');
const prefix = process.env.BITSYNC_NODE_PREFIX || '/opt/bitsync-node';
const req = (m) => require(path.join(prefix, 'node_modules', m));
const Ajv2020 = req('ajv/dist/2020').default;
const addFormats = req('ajv-formats').default || req('ajv-formats');

// The editor keywords of yaml-language-server that schema/README.md lists.
const EDITOR_KEYWORDS = [
  'markdownDescription',   // hover text in Markdown
  'patternErrorMessage',   // the message shown when "pattern" fails
  'errorMessage',          // the message shown when the subschema fails
  'defaultSnippets',       // completion: what a key or item inserts
];

const file = process.argv[2];
if (!file) {
  console.error('usage: ajv_strict.js SCHEMA');
  process.exit(2);
}
const complaints = [];
const logger = {
  log: () => {},
  warn: (...a) => complaints.push('warn: ' + a.join(' ')),
  error: (...a) => complaints.push('error: ' + a.join(' ')),
};
const ajv = new Ajv2020({
  // 'log' reports every complaint, not just the first; any one fails the test
  strict: 'log', strictTypes: 'log', strictTuples: 'log', strictRequired: 'log',
  allErrors: true, logger,
});
addFormats(ajv);
for (const k of EDITOR_KEYWORDS) ajv.addKeyword({ keyword: k, schemaType: ['string', 'array', 'boolean', 'object'] });

let validate;
try {
  validate = ajv.compile(JSON.parse(fs.readFileSync(file, 'utf8')));
} catch (e) {
  complaints.push('compile: ' + e.message);
}
// every pattern speaks words in an editor: a patternErrorMessage beside it
const schemaDoc = JSON.parse(fs.readFileSync(file, 'utf8'));
(function walk(n, where) {
  if (Array.isArray(n)) { n.forEach((v, i) => walk(v, `${where}/${i}`)); return; }
  if (n === null || typeof n !== 'object') return;
  if (typeof n.pattern === 'string' && typeof n.patternErrorMessage !== 'string')
    complaints.push(`pattern without patternErrorMessage at #${where}`);
  for (const [k, v] of Object.entries(n)) if (k !== 'properties' || typeof v !== 'object') walk(v, `${where}/${k}`);
    else for (const [pk, pv] of Object.entries(v)) walk(pv, `${where}/properties/${pk}`);
})(schemaDoc, '');
let bad = complaints.length;
for (const c of complaints) console.log(c);
if (validate) {
  const good = { version: 1, sources: { s: { url: 'https://x.example/', proxy: { usage: 'no_proxy' } } },
    sets: [{ name: 'a', source: 's', destination: '/srv/a', files: ['f'] }] };
  if (!validate(good)) { console.log('a minimal valid manifest is refused: ' + JSON.stringify(validate.errors)); bad++; }
  const wrong = JSON.parse(JSON.stringify(good));
  wrong.sets[0].retry_delay = '10 minutes';
  if (validate(wrong)) { console.log('a bad duration (10 minutes) is accepted'); bad++; }
}
console.log(bad ? `ajv strict: ${bad} finding(s) in ${file}` : `ajv strict: ${file} compiles clean`);
process.exit(bad ? 1 : 0);
