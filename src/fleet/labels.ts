// Who wrote an XrayrNode, in labels: the fleet sync marks what it created so --prune never
// touches anything else; sigma-api's register handler marks its own. Both carry the VPS id.
// The VPS id label and which copy of the id is read live in domain/vps.ts.
import type { XrayrNode } from "../api/v1alpha1/types.js";

/** Present (with SYNC_MANAGER as value) on every XrayrNode `xrayr-mesh sync` created. */
export const SYNCED_BY_LABEL = "mesh.sigma.io/synced-by";
/** The sync's label value and its server-side-apply field manager. */
export const SYNC_MANAGER = "xrayr-mesh-sync";
/** Present (with SIGMA_API_MANAGER as value) on nodes written by sigma-api's register handler. */
export const REGISTERED_BY_LABEL = "mesh.sigma.io/registered-by";
/** The register handler's label value and field manager (xrayr-mesh register and the Rust example). */
export const SIGMA_API_MANAGER = "sigma-api";

/**
 * Whether sync owns the node: it carries sync's label and not sigma-api's. A node sigma-api
 * registered over one sync had created keeps mesh.sigma.io/synced-by (owned by sync's field
 * manager, so sigma-api's apply cannot drop it), but it is sigma-api's from then on: sync never
 * updates or prunes it.
 */
export function isSynced(node: XrayrNode): boolean {
  const l = node.metadata.labels ?? {};
  return l[SYNCED_BY_LABEL] === SYNC_MANAGER && l[REGISTERED_BY_LABEL] === undefined;
}
