// xrayr-mesh version: this CLI's release, the API it speaks, and the Node it runs on. It asks no
// cluster: it works before a kubeconfig exists.
import { API_VERSION } from "../api/v1alpha1/types.js";
import { VERSION } from "../version.js";
import type { Printable } from "./output.js";

export function versionView(node: string = process.version): Printable {
  return {
    data: () => ({ version: VERSION, api: API_VERSION, node }),
    table: () => `xrayr-mesh ${VERSION} (API ${API_VERSION}, Node ${node})`,
  };
}
