// Generated from package.json by `make generate`; DO NOT EDIT.
/** The release: `xrayr-mesh version` says it, the chart's appVersion and image tag follow it. */
export const VERSION = "0.1.0";
