// Rows to desired XrayrNodes: every active row that passes the node rules becomes one object;
// the rest are reported against the row's own field names. The node rules are the operator's
// own (validateSpecWithPolicy of src/crd/validate.ts: the schema and the address policy),
// checked here so a bad row is reported by the CLI, not later as a Ready=False node. Pure.
import type { AddressPolicy } from "../crd/address.js";
import { API_VERSION, KIND, type XrayrNode, type XrayrNodeSpec } from "../api/v1alpha1/types.js";
import { addressProblem, countryProblem, labelValueProblem, validateSpecWithPolicy, type ValidXrayrNodeSpec } from "../crd/validate.js";
import { SYNCED_BY_LABEL, SYNC_MANAGER, VPS_ID_LABEL } from "./labels.js";
import { nodeName, normaliseHostname } from "./naming.js";
import { parseRows, type ActiveVpsRow, type InactiveVpsRow, type RowIssue } from "./rows.js";

export interface DesiredNode {
  row: number;
  id: string;
  name: string;
  /** The object sync applies (server-side apply, field manager SYNC_MANAGER). */
  object: XrayrNode;
  /** Its spec as admission will store it (defaults filled in), for comparing with live objects. */
  spec: ValidXrayrNodeSpec;
}

export interface DesiredFleet {
  total: number;
  nodes: DesiredNode[];
  /** Rows that are not active (retired, provisioning): not nodes, and prunable. */
  inactive: InactiveVpsRow[];
  invalid: RowIssue[];
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

/** The desired XrayrNode for one active row, or the row's problems. */
export function desiredNode(row: ActiveVpsRow, opts: DesiredOptions): { ok: true; node: DesiredNode } | { ok: false; issues: RowIssue[] } {
  const issues: RowIssue[] = [];
  const issue = (field: string, value: unknown, message: string): void => {
    issues.push({ row: row.row, id: row.id, field, value, message });
  };
  // Each field in sigma-api's terms first (the row's field names and spellings) ...
  const host = normaliseHostname(row.hostname);
  if (!host.ok) {
    const fix = host.suggestion !== undefined ? `; write it as ${JSON.stringify(host.suggestion)} in sigma-api` : "";
    issue("hostname", row.hostname, `hostname ${JSON.stringify(row.hostname)} ${host.reason}${fix}.`);
  }
  const ipProblem = addressProblem(row.ip, "ip");
  if (ipProblem !== undefined) issue("ip", row.ip, ipProblem);
  const country = row.country.trim().toLowerCase();
  const countryMsg = countryProblem(country, "country");
  if (countryMsg !== undefined) issue("country", row.country, countryMsg.replace(`country ${JSON.stringify(country)}`, `country ${JSON.stringify(row.country)}`));
  if (row.xrayrVersion !== undefined) {
    const v = labelValueProblem("xrayr_version", row.xrayrVersion, false);
    if (v !== undefined) issue("xrayr_version", row.xrayrVersion, v);
  }

  // ... then the operator's own check of the node (schema and address policy, the one
  // implementation the operator uses too): anything the field checks above did not report.
  const name = host.ok ? nodeName(host.hostname, row.id) : undefined;
  const spec: XrayrNodeSpec = {
    address: row.ip,
    country,
    ...(row.xrayrVersion !== undefined ? { version: row.xrayrVersion } : {}),
    vpsId: row.id,
  };
  const v = validateSpecWithPolicy(name, spec, opts.addressPolicy, {
    policyMessage: (address, refusal) =>
      `ip ${JSON.stringify(address)} is not a public address (${refusal.kind}, ${refusal.range ?? ""}); --address-policy=${opts.addressPolicy} refuses it, as the operator's ADDRESS_POLICY would.`,
  });
  if (!v.ok) {
    const reported = new Set(issues.map((i) => i.field));
    for (const i of v.issues) {
      const field = FIELD_OF_SPEC[i.field] ?? i.field;
      if (!reported.has(field)) issue(field, i.value, i.message);
    }
  }
  if (!v.ok || name === undefined || issues.length > 0) return { ok: false, issues };

  const object: XrayrNode = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace: opts.namespace, labels: { [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: row.id } },
    spec,
  };
  return { ok: true, node: { row: row.row, id: row.id, name, object, spec: v.spec } };
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
        message: `ip ${JSON.stringify(row.ip)} is already used by the active row ${ipOwner.row} (VPS ${ipOwner.id}, ${ipOwner.name}); the first row wins and one address is one node.`,
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
        message: `hostname ${JSON.stringify(row.hostname)} with id ${row.id} maps to the node name ${n.name}, already taken by row ${nameOwner.row} (VPS ${nameOwner.id}).`,
      });
      continue;
    }
    byAddress.set(n.spec.address, n);
    byName.set(n.name, n);
    nodes.push(n);
  }
  invalid.sort((a, b) => a.row - b.row);
  return { total: parsed.total, nodes, inactive, invalid };
}
