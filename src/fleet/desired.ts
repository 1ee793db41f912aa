// Rows to desired XrayrNodes: every active row that passes the node rules becomes one object;
// the rest are reported against the row's own field names. The node rules are the operator's
// own (src/crd/validate.ts and the address policy of src/crd/address.ts), checked here so a bad
// row is reported by the CLI, not later as a Ready=False node. Pure.
import { checkAddressPolicy, parseAddress, type AddressPolicy } from "../crd/address.js";
import { API_VERSION, KIND, type XrayrNode } from "../crd/types.js";
import { addressProblem, countryProblem, labelValueProblem, validateXrayrNode, type ValidXrayrNodeSpec } from "../crd/validate.js";
import { SYNCED_BY_LABEL, SYNC_MANAGER, VPS_ID_LABEL } from "./labels.js";
import { nodeName, normaliseHostname } from "./naming.js";
import { parseRows, type RowIssue, type VpsRow } from "./rows.js";

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
  inactive: VpsRow[];
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
export function desiredNode(row: VpsRow, opts: DesiredOptions): { ok: true; node: DesiredNode } | { ok: false; issues: RowIssue[] } {
  const issues: RowIssue[] = [];
  const issue = (field: string, value: unknown, message: string): void => {
    issues.push({ row: row.row, id: row.id, field, value, message });
  };
  const host = normaliseHostname(row.hostname);
  if (!host.ok) {
    const fix = host.suggestion !== undefined ? `; write it as ${JSON.stringify(host.suggestion)} in sigma-api` : "";
    issue("hostname", row.hostname, `hostname ${JSON.stringify(row.hostname)} ${host.reason}${fix}.`);
  }
  const ipProblem = addressProblem(row.ip, "ip");
  if (ipProblem !== undefined) issue("ip", row.ip, ipProblem);
  else {
    const parsed = parseAddress(row.ip);
    const policy = parsed.ok ? checkAddressPolicy(parsed.address, opts.addressPolicy) : undefined;
    if (policy !== undefined && !policy.ok) {
      issue(
        "ip",
        row.ip,
        `ip ${JSON.stringify(row.ip)} is not a public address (${policy.kind}, ${policy.range ?? ""}); --address-policy=${opts.addressPolicy} refuses it, as the operator's ADDRESS_POLICY would.`,
      );
    }
  }
  const country = row.country.trim().toLowerCase();
  const countryMsg = countryProblem(country, "country");
  if (countryMsg !== undefined) issue("country", row.country, countryMsg.replace(`country ${JSON.stringify(country)}`, `country ${JSON.stringify(row.country)}`));
  if (row.xrayrVersion !== undefined) {
    const v = labelValueProblem("xrayr_version", row.xrayrVersion, false);
    if (v !== undefined) issue("xrayr_version", row.xrayrVersion, v);
  }
  if (issues.length > 0 || !host.ok) return { ok: false, issues };

  const name = nodeName(host.hostname, row.id);
  const object: XrayrNode = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace: opts.namespace, labels: { [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: row.id } },
    spec: {
      address: row.ip,
      country,
      ...(row.xrayrVersion !== undefined ? { version: row.xrayrVersion } : {}),
      vpsId: row.id,
    },
  };
  // The operator's own check of the whole object: anything the row checks above missed.
  const v = validateXrayrNode(object);
  if (!v.ok) {
    return { ok: false, issues: v.issues.map((i) => ({ row: row.row, id: row.id, field: FIELD_OF_SPEC[i.field] ?? i.field, value: i.value, message: i.message })) };
  }
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
  const inactive: VpsRow[] = [];
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
