// Rows to desired XrayrNodes: every active row that passes the node rules becomes one object;
// the rest are reported against the row's own field names. The node rules are the operator's
// own (validateSpecWithPolicy of src/crd/validate.ts: the schema and the address policy),
// checked here so a bad row is reported by the CLI, not later as a Ready=False node. A field
// with one clear normal form (a host name that is not one, an address not written canonically)
// is normalised and reported as a warning instead: the host name only feeds the node's name,
// and an address is the same address in any spelling. Pure.
import { normaliseAddress, type AddressPolicy } from "../crd/address.js";
import { API_VERSION, KIND, type XrayrNode, type XrayrNodeSpec } from "../api/v1alpha1/types.js";
import { addressProblem, countryProblem, labelValueProblem, validateSpecWithPolicy } from "../crd/validate.js";
import type { ValidSpec } from "../domain/validity.js";
import { normaliseCountry, rowNodeName, VPS_ID_LABEL } from "../domain/vps.js";
import { SYNCED_BY_LABEL, SYNC_MANAGER } from "./labels.js";
import { parseRows, type ActiveVpsRow, type InactiveVpsRow, type RowIssue, type RowWarning } from "./rows.js";

export interface DesiredNode {
  row: number;
  id: string;
  /** The row's host name as sigma-api wrote it (for messages). */
  hostname: string;
  name: string;
  /** The object sync applies (server-side apply, field manager SYNC_MANAGER). */
  object: XrayrNode;
  /** Its spec as admission will store it (defaults filled in), for comparing with live objects. */
  spec: ValidSpec;
  /** The row's fields that were normalised to build it. */
  warnings: RowWarning[];
}

export interface DesiredFleet {
  total: number;
  nodes: DesiredNode[];
  /** Rows that are not active (retired, provisioning): not nodes, and prunable. */
  inactive: InactiveVpsRow[];
  invalid: RowIssue[];
  /** The normalised fields of the rows in `nodes`, by row. */
  warnings: RowWarning[];
  /** The policy the rows were checked with; the plan judges live nodes' claims by it too. */
  addressPolicy: AddressPolicy;
}

export interface DesiredOptions {
  namespace: string;
  addressPolicy: AddressPolicy;
}

const FIELD_OF_SPEC: Record<string, string> = {
  "metadata.name": "hostname",
  "spec.address": "ip",
  "spec.country": "country",
  "spec.version": "xrayr_version",
  "spec.vpsId": "id",
};

const q = (s: string): string => JSON.stringify(s);

/** The row's ip as messages show it: as written, and the address it denotes when that differs. */
function shownIp(raw: string, address: string): string {
  return raw === address ? q(raw) : `${q(raw)} (${address})`;
}

/** The desired XrayrNode for one active row, or the row's problems. */
export function desiredNode(row: ActiveVpsRow, opts: DesiredOptions): { ok: true; node: DesiredNode } | { ok: false; issues: RowIssue[] } {
  const issues: RowIssue[] = [];
  const issue = (field: string, value: unknown, message: string): void => {
    issues.push({ row: row.row, id: row.id, field, value, message });
  };
  const warnings: RowWarning[] = [];
  const warn = (field: string, value: string, became: string, message: string): void => {
    warnings.push({ row: row.row, id: row.id, field, value, became, message });
  };
  // Each field in sigma-api's terms first (the row's field names and spellings) ...
  const { name, normalised, idOnly } = rowNodeName(row.hostname, row.id);
  if (normalised !== undefined) {
    warn("hostname", row.hostname, name, `hostname ${q(row.hostname)} is not a host name (it ${normalised}); the node is named ${name}${idOnly ? ", from its id alone" : ""}.`);
  }
  const ip = normaliseAddress(row.ip);
  const address = ip.ok ? ip.address.text : row.ip;
  if (!ip.ok) issue("ip", row.ip, addressProblem(row.ip, "ip") ?? `ip ${q(row.ip)} ${ip.reason}.`);
  else if (ip.changed) warn("ip", row.ip, address, `ip ${q(row.ip)} is not written in canonical form (RFC 5952); the node's address is ${address}.`);
  const country = normaliseCountry(row.country);
  const countryMsg = countryProblem(country, "country");
  if (countryMsg !== undefined) issue("country", row.country, countryMsg.replace(`country ${q(country)}`, `country ${q(row.country)}`));
  if (row.xrayrVersion !== undefined) {
    const v = labelValueProblem("xrayr_version", row.xrayrVersion, false);
    if (v !== undefined) issue("xrayr_version", row.xrayrVersion, v);
  }

  // ... then the operator's own check of the node (schema and address policy, the one
  // implementation the operator uses too): anything the field checks above did not report.
  const spec: XrayrNodeSpec = {
    address,
    country,
    ...(row.xrayrVersion !== undefined ? { version: row.xrayrVersion } : {}),
    vpsId: row.id,
  };
  const v = validateSpecWithPolicy(name, spec, opts.addressPolicy, {
    policyMessage: (_address, refusal) =>
      `ip ${shownIp(row.ip, address)} is not a public address (${refusal.kind}, ${refusal.range ?? ""}); --address-policy=${opts.addressPolicy} refuses it, as the operator's ADDRESS_POLICY would.`,
  });
  if (!v.ok) {
    const reported = new Set(issues.map((i) => i.field));
    for (const i of v.issues) {
      const field = FIELD_OF_SPEC[i.field] ?? i.field;
      if (!reported.has(field)) issue(field, field === "ip" ? row.ip : i.value, i.message);
    }
  }
  if (!v.ok || issues.length > 0) return { ok: false, issues };

  const object: XrayrNode = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace: opts.namespace, labels: { [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: row.id } },
    spec,
  };
  return { ok: true, node: { row: row.row, id: row.id, hostname: row.hostname, name, object, spec: v.spec, warnings } };
}

/**
 * The desired fleet of a VPS list document: one node for every valid active row. Within the
 * list the first row wins: a later row with an id, an IP or a node name already taken is invalid.
 */
export function desiredFleet(doc: unknown, opts: DesiredOptions): DesiredFleet {
  const parsed = parseRows(doc);
  const invalid = [...parsed.issues];
  const nodes: DesiredNode[] = [];
  const inactive: InactiveVpsRow[] = [];
  const byAddress = new Map<string, DesiredNode>();
  const byName = new Map<string, DesiredNode>();
  for (const row of parsed.rows) {
    if (row.status !== "active") {
      inactive.push(row);
      continue;
    }
    const r = desiredNode(row, opts);
    if (!r.ok) {
      invalid.push(...r.issues);
      continue;
    }
    const n = r.node;
    const ipOwner = byAddress.get(n.spec.address);
    if (ipOwner !== undefined) {
      invalid.push({
        row: row.row,
        id: row.id,
        field: "ip",
        value: row.ip,
        message: `ip ${shownIp(row.ip, n.spec.address)} is already used by the active row ${ipOwner.row} (VPS ${ipOwner.id}, ${ipOwner.name}); the first row wins and one address is one node.`,
      });
      continue;
    }
    const nameOwner = byName.get(n.name);
    if (nameOwner !== undefined) {
      invalid.push({
        row: row.row,
        id: row.id,
        field: "hostname",
        value: row.hostname,
        message:
          `hostname ${q(row.hostname)} with id ${row.id} gives the node name ${n.name}, as row ${nameOwner.row} (VPS ${nameOwner.id}, hostname ${q(nameOwner.hostname)}) does; ` +
          "the first row keeps the name.",
      });
      continue;
    }
    byAddress.set(n.spec.address, n);
    byName.set(n.name, n);
    nodes.push(n);
  }
  invalid.sort((a, b) => a.row - b.row);
  return { total: parsed.total, nodes, inactive, invalid, warnings: nodes.flatMap((n) => n.warnings), addressPolicy: opts.addressPolicy };
}
