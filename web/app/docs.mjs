// /api/docs: the service's OpenAPI document (/api/openapi.json) as a page to read. Every
// value from the document is set as text.

import { byId, fill, h } from "./dom.mjs";

const METHODS = ["get", "post", "put", "patch", "delete"];

async function main() {
  const root = byId("docs");
  let doc;
  try {
    const response = await fetch("/api/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
  } catch (error) {
    fill(byId("docs-status"), `The API description could not be loaded (${error.message}).`);
    return;
  }
  document.title = `${doc.info.title} · REST API`;
  fill(root, ...render(doc));
}

function render(doc) {
  const operations = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      if (item[method]) operations.push({ path, method, op: item[method] });
    }
  }
  const groups = new Map();
  for (const entry of operations) {
    const group = groupName(entry.path);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(entry);
  }
  const schemes = (doc.components && doc.components.securitySchemes) || {};
  const schemas = (doc.components && doc.components.schemas) || {};
  return [
    h("h1", {}, `${doc.info.title} REST API`, h("span", { class: "muted" }, ` · version ${doc.info.version}`)),
    h("p", {}, doc.info.description || ""),
    h("p", { class: "muted" }, `OpenAPI ${doc.openapi}. The document itself: `, h("a", { href: "/api/openapi.json" }, "/api/openapi.json"), "."),
    h("h2", {}, "Credentials"),
    h(
      "ul",
      {},
      Object.entries(schemes).map(([name, scheme]) =>
        h("li", {}, h("code", {}, name), `: ${scheme.type} ${scheme.scheme || ""}`, scheme.bearerFormat ? ` (${scheme.bearerFormat})` : "", scheme.description ? ` · ${scheme.description}` : ""),
      ),
    ),
    h(
      "nav",
      { "aria-labelledby": "toc-title" },
      h("h2", { id: "toc-title" }, "Operations"),
      h(
        "ul",
        {},
        operations.map(({ path, method, op }) =>
          h("li", {}, h("a", { href: `#op-${op.operationId}` }, `${method.toUpperCase()} ${path}`), h("span", { class: "muted" }, ` · ${op.summary || ""}`)),
        ),
      ),
    ),
    ...[...groups.entries()].flatMap(([group, entries]) => [
      h("h2", {}, group),
      ...entries.map((entry) => operation(entry)),
    ]),
    h("h2", { id: "schemas" }, "Schemas"),
    ...Object.entries(schemas).map(([name, schema]) =>
      h("section", { class: "operation", id: `schema-${name}`, "aria-label": `Schema ${name}` }, h("h3", {}, h("code", {}, name)), schemaView(schema)),
    ),
  ];
}

function groupName(path) {
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "api" && parts[1] && !parts[1].includes(".")) return capitalize(parts[1]);
  return "Service";
}

function capitalize(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function operation({ path, method, op }) {
  const security = (op.security || []).map((req) => Object.keys(req).join(" + "));
  const parts = [
    h("h3", {}, h("span", { class: `method method-${method}` }, method.toUpperCase()), h("code", { class: "path" }, path)),
    h("p", {}, op.summary || ""),
    op.description ? h("p", { class: "muted" }, op.description) : null,
    h("p", {}, h("strong", {}, "Credential: "), security.length ? security.join(" or ") : "none (public)"),
  ];
  if (op.parameters && op.parameters.length) {
    parts.push(
      h("h4", {}, "Parameters"),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "In"), h("th", { scope: "col" }, "Schema"), h("th", { scope: "col" }, "Description"))),
        h(
          "tbody",
          {},
          op.parameters.map((p) =>
            h("tr", {}, h("td", {}, h("code", {}, p.name), p.required ? h("span", { class: "required" }, " required") : ""), h("td", {}, p.in), h("td", {}, typeSummary(p.schema)), h("td", {}, p.description || "")),
          ),
        ),
      ),
    );
  }
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (body) parts.push(h("h4", {}, "Request body (JSON)"), schemaView(body.schema));
  parts.push(h("h4", {}, "Responses"));
  parts.push(
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Meaning"), h("th", { scope: "col" }, "Body"))),
      h(
        "tbody",
        {},
        Object.entries(op.responses || {}).map(([status, response]) => {
          const json = response.content && response.content["application/json"];
          return h("tr", {}, h("td", {}, h("code", {}, status)), h("td", {}, response.description || ""), h("td", {}, json ? schemaView(json.schema) : "none"));
        }),
      ),
    ),
  );
  return h("section", { class: "operation", id: `op-${op.operationId}`, "aria-label": `${method.toUpperCase()} ${path}` }, ...parts);
}

/** A schema as nested lists: references link to the Schemas section. */
function schemaView(schema) {
  return h("div", { class: "schema" }, schemaBody(schema));
}

function schemaBody(schema) {
  if (!schema || typeof schema !== "object") return h("span", { class: "type" }, "any");
  if (schema.$ref) return refLink(schema.$ref);
  if (schema.type === "object" && schema.properties) {
    const required = new Set(schema.required || []);
    return h(
      "div",
      {},
      schema.description ? h("p", { class: "muted" }, schema.description) : null,
      h(
        "ul",
        {},
        Object.entries(schema.properties).map(([name, prop]) =>
          h(
            "li",
            {},
            h("code", {}, name),
            required.has(name) ? h("span", { class: "required" }, " required") : "",
            " ",
            isNested(prop) ? schemaView(prop) : typeSummary(prop),
          ),
        ),
      ),
    );
  }
  if (schema.type === "array") return h("span", {}, "array of ", schemaBody(schema.items));
  return typeSummary(schema);
}

function isNested(schema) {
  return schema && schema.type === "object" && schema.properties;
}

function refLink(ref) {
  const name = ref.split("/").pop();
  return h("a", { href: `#schema-${name}` }, h("code", {}, name));
}

/** `string, uuid, at most 200 characters — description`. */
function typeSummary(schema) {
  if (!schema) return h("span", { class: "type" }, "any");
  if (schema.$ref) return refLink(schema.$ref);
  const parts = [];
  if (schema.anyOf || schema.oneOf) {
    const options = schema.anyOf || schema.oneOf;
    options.forEach((option, i) => {
      if (i) parts.push(" or ");
      parts.push(option.type === "null" ? "null" : typeSummary(option));
    });
    return h("span", {}, ...parts);
  }
  if (schema.type === "array") return h("span", {}, "array of ", typeSummary(schema.items));
  const facts = [];
  if (schema.format) facts.push(schema.format);
  if (schema.enum) facts.push(`one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  if (schema.minLength !== undefined) facts.push(`at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined) facts.push(`at most ${schema.maxLength} characters`);
  if (schema.minimum !== undefined) facts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) facts.push(`≤ ${schema.maximum}`);
  if (schema.pattern) facts.push(`matches ${schema.pattern}`);
  if (schema.type === "object" && schema.additionalProperties && typeof schema.additionalProperties === "object") {
    parts.push(h("span", { class: "type" }, "map of names to "), typeSummary(schema.additionalProperties));
  } else {
    parts.push(h("span", { class: "type" }, [schema.type || "any", ...facts].join(", ")));
  }
  if (schema.description) parts.push(` · ${schema.description}`);
  if (schema.examples && schema.examples.length) parts.push(h("span", { class: "muted" }, ` (e.g. ${schema.examples.map((v) => JSON.stringify(v)).join(", ")})`));
  return h("span", {}, ...parts);
}

main();
