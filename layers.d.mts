// Types for layers.mjs (the dependency-cruiser rules), for the TypeScript that imports it.
import type { ICruiseOptions, IForbiddenRuleType } from "dependency-cruiser";

export declare const forbidden: IForbiddenRuleType[];
export declare const options: ICruiseOptions;
declare const config: { forbidden: IForbiddenRuleType[]; options: ICruiseOptions };
export default config;
