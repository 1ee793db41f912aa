// Per-call options for client-node 2.x's object-style APIs. They take ConfigurationOptions whose
// middleware is the Observable flavour (ObjectParamAPI passes options to the Observable API
// unwrapped); "append" keeps the client's own middleware, "replace" (the default) would drop it.
import { type ConfigurationOptions, Observable, type RequestContext, type ResponseContext } from "@kubernetes/client-node";

/** `base` (e.g. from setHeaderOptions) plus a middleware that binds the request to `signal`. */
export function withSignal(signal: AbortSignal, base?: ConfigurationOptions): ConfigurationOptions {
  return {
    ...base,
    middlewareMergeStrategy: "append",
    middleware: [
      ...(base?.middleware ?? []),
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (rsp: ResponseContext) => new Observable(Promise.resolve(rsp)),
      },
    ],
  };
}
