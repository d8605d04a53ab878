// Validates trêve's OpenAPI descriptions (docs/openapi-*.yaml): each must be a valid OpenAPI
// document (@apidevtools/swagger-parser, against the OpenAPI schema of its version, $refs
// resolved), and every example given for a request body, a response, a parameter or a header
// must validate against the schema beside it (ajv, JSON Schema 2020-12 for OpenAPI 3.1, with
// formats). A newline-delimited JSON example (application/x-ndjson) is checked line by line
// against the media type's `x-line-schema`. An example marked `x-invalid: true` shows what is
// refused, and must not validate. The fixtures of `fixtures` below must validate against their
// schema.
//
//   node tests/connectors/validate_openapi.mjs [FILE.yaml …]   (default: every docs/openapi-*.yaml)
//
// Prints one line per fault and a closing "N passed, N failed"; exits 1 on any fault.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

const here = path.dirname(fileURLToPath(import.meta.url));
const docs = path.resolve(here, "../../docs");
const files = process.argv.length > 2
  ? process.argv.slice(2)
  : readdirSync(docs).filter((f) => /^openapi-.*\.ya?ml$/.test(f)).sort()
      .map((f) => path.join(docs, f));

// Documents the project's tests feed to its readers, which a schema of the description must
// accept: the schema is then no stricter than the reader on what entcore really sends.
const fixtures = [
  { doc: "openapi-ingest.yaml", schema: "TimelineNotification", dir: "tests/fixtures/entcore" },
];

// OpenAPI's own schema keywords, which are not JSON Schema's.
const openapiKeywords = ["discriminator", "xml", "externalDocs", "example", "nullable"];

function makeAjv(version) {
  const options = { allErrors: true, strict: true, strictTypes: false, strictRequired: false,
                    strictTuples: false, validateFormats: true };
  // OpenAPI 3.1's schemas are JSON Schema 2020-12; 3.0's are a dialect of draft 4, not checked.
  if (!version.startsWith("3.1")) throw new Error(`OpenAPI ${version}: only 3.1 is checked`);
  const ajv = new Ajv2020(options);
  addFormats(ajv);
  for (const k of openapiKeywords) {
    if (!ajv.getKeyword(k)) ajv.addKeyword(k);
  }
  return ajv;
}

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// Each (where, schema, examples, lineSchema) to check in a dereferenced document.
function* exampleSites(api) {
  function* media(where, content) {
    for (const [type, m] of Object.entries(content ?? {})) {
      yield* one(`${where} ${type}`, m, type);
    }
  }
  function* one(where, holder, type = "") {
    const found = [];
    if (holder.example !== undefined) found.push(["example", holder.example]);
    for (const [name, ex] of Object.entries(holder.examples ?? {})) {
      if (ex && typeof ex === "object" && "value" in ex) {
        found.push([`examples.${name}`, ex.value, ex["x-invalid"] === true]);
      }
      else if (ex && typeof ex === "object" && "externalValue" in ex) continue;
      else found.push([`examples.${name}`, undefined]);
    }
    yield { where, schema: holder.schema, found, type, lineSchema: holder["x-line-schema"] };
  }
  for (const [p, item] of Object.entries(api.paths ?? {})) {
    const shared = item.parameters ?? [];
    for (const method of methods) {
      const op = item[method];
      if (!op) continue;
      const at = `${method.toUpperCase()} ${p}`;
      for (const param of [...shared, ...(op.parameters ?? [])]) {
        yield* one(`${at} parameter ${param.name}`, param);
        if (param.content) yield* media(`${at} parameter ${param.name}`, param.content);
      }
      if (op.requestBody) yield* media(`${at} request`, op.requestBody.content);
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        yield* media(`${at} ${status}`, r.content);
        for (const [h, header] of Object.entries(r.headers ?? {})) {
          yield* one(`${at} ${status} header ${h}`, header);
        }
      }
    }
  }
}

function describe(errors) {
  return errors.slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message}` +
    (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "")).join("; ");
}

// Semantic checks the OpenAPI schema cannot make.
function semantics(api) {
  const faults = [];
  const ids = new Map();
  for (const [p, item] of Object.entries(api.paths ?? {})) {
    const names = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const method of methods) {
      const op = item[method];
      if (!op) continue;
      const at = `${method.toUpperCase()} ${p}`;
      if (op.operationId) {
        if (ids.has(op.operationId)) {
          faults.push(`${at}: operationId ${op.operationId} is also ${ids.get(op.operationId)}'s`);
        }
        ids.set(op.operationId, at);
      }
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      for (const n of names) {
        if (!params.some((q) => q.in === "path" && q.name === n)) {
          faults.push(`${at}: path parameter {${n}} is not declared`);
        }
      }
      for (const q of params) {
        if (q.in === "path" && !names.includes(q.name)) {
          faults.push(`${at}: path parameter ${q.name} is not in the path`);
        }
      }
      if (!op.responses || Object.keys(op.responses).length === 0) {
        faults.push(`${at}: no responses`);
      }
    }
  }
  return faults;
}

// Why `value` does not match `schema` (and, for an NDJSON string, each line `lineSchema`), or "".
function check(ajv, schema, lineSchema, value) {
  const validate = ajv.compile(schema);
  if (!validate(value)) return describe(validate.errors);
  if (!lineSchema || typeof value !== "string") return "";
  const line = ajv.compile(lineSchema);
  const lines = value.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let doc;
    try {
      doc = JSON.parse(lines[i]);
    } catch (e) {
      return `line ${i + 1} is not JSON: ${e.message}`;
    }
    if (!line(doc)) return `line ${i + 1}: ${describe(line.errors)}`;
  }
  return "";
}

let passed = 0;
let failed = 0;
function result(ok, what, why = "") {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${what}${why ? `: ${why}` : ""}`);
  }
}

for (const file of files) {
  const name = path.relative(path.resolve(here, "../.."), file);
  let api;
  try {
    // Parses, resolves every $ref and validates against the OpenAPI schema of its version.
    api = await SwaggerParser.validate(file);
  } catch (e) {
    result(false, `${name} is a valid OpenAPI document`, e.message);
    continue;
  }
  result(true, `${name} is a valid OpenAPI document`);
  const faults = semantics(api);
  for (const f of faults) result(false, `${name}`, f);
  if (faults.length === 0) result(true, `${name} operations`);

  const ajv = makeAjv(api.openapi ?? "3.1.0");
  let examples = 0;
  for (const site of exampleSites(api)) {
    for (const [label, value, invalid = false] of site.found) {
      const what = `${name}: ${site.where} ${label}`;
      examples++;
      if (value === undefined) {
        result(false, what, "an example without a value");
        continue;
      }
      if (!site.schema) {
        result(false, what, "an example without a schema beside it");
        continue;
      }
      let fault;
      try {
        fault = check(ajv, site.schema, site.lineSchema, value);
      } catch (e) {
        result(false, what, `its schema does not compile: ${e.message}`);
        continue;
      }
      if (invalid) {
        // An example of what is refused (x-invalid: true) must indeed not validate.
        result(fault !== "", what, "marked x-invalid, yet it validates");
      } else {
        result(fault === "", what, fault);
      }
    }
  }
  if (examples === 0) result(false, `${name}`, "gives no example to check");
  for (const f of fixtures.filter((f) => f.doc === path.basename(file))) {
    const schema = api.components?.schemas?.[f.schema];
    if (!schema) {
      result(false, `${name}`, `no schema ${f.schema} for ${f.dir}`);
      continue;
    }
    const validate = ajv.compile(schema);
    const dir = path.resolve(here, "../..", f.dir);
    for (const json of readdirSync(dir).filter((n) => n.endsWith(".json")).sort()) {
      const doc = JSON.parse(readFileSync(path.join(dir, json), "utf8"));
      const what = `${name}: ${f.dir}/${json} against ${f.schema}`;
      result(validate(doc), what, validate(doc) ? "" : describe(validate.errors));
      examples++;
    }
  }
  console.log(`${name}: OpenAPI ${api.openapi}, ${Object.keys(api.paths ?? {}).length} paths, ` +
              `${examples} examples checked`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
