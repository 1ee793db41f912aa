// The CLI's output, in one place (helm's pkg/cli/output): every command builds one Printable, the
// facts it has to say, and `-o` picks how they are printed: a table a person reads (`wide` with
// more columns where the command has them), or the same facts as JSON or YAML for a script. Also
// the helpers the tables use (aligned columns, ages) and a progress display (a bar on a TTY, plain
// lines elsewhere) for long runs of API calls.
import { InvalidArgumentError, Option } from "commander";
import { stringify } from "yaml";

export const FORMATS = ["table", "wide", "json", "yaml"] as const;
export type Format = (typeof FORMATS)[number];

/** What a command prints, in every format. */
export interface Printable {
  /** The text a person reads; `wide`: with every column the command has. */
  table(wide: boolean): string;
  /** The same facts as data, for json and yaml. */
  data(): unknown;
}

/** The text of `p` in `format`, ending in a newline. */
export function render(p: Printable, format: Format): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(p.data(), null, 2)}\n`;
    case "yaml":
      return stringify(p.data(), { lineWidth: 0 });
    default: {
      const text = p.table(format === "wide");
      return text === "" || text.endsWith("\n") ? text : `${text}\n`;
    }
  }
}

export function print(p: Printable, format: Format, out: { write(s: string): unknown } = process.stdout): void {
  out.write(render(p, format));
}

/** Whether `format` is for a person: printed as the work goes (a plan before it is carried out). */
export function forPeople(format: Format): boolean {
  return format === "table" || format === "wide";
}

/** `-o, --output <format>`, the same on every command. */
export function outputOption(): Option {
  return new Option("-o, --output <format>", `output format: ${FORMATS.join(", ")}`)
    .argParser((v: string): Format => {
      if (!(FORMATS as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${FORMATS.join(", ")}.`);
      return v as Format;
    })
    .default("table");
}

export type Cell = string | number;

/** Columns padded to the widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd()).join("\n");
}

/** kubectl-style age: 45s, 12m, 5h, 3d. */
export function age(since: string | Date | undefined, now = new Date()): string {
  if (since === undefined) return "-";
  const s = Math.max(0, Math.floor((now.getTime() - new Date(since).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export interface Progress {
  tick(failed: boolean): void;
  done(): void;
}

/**
 * Progress over `total` operations on `out`: a redrawn bar on a TTY; otherwise, for runs of at
 * least 100 operations, a plain line at every tenth and at the end.
 */
export function progress(label: string, total: number, out: NodeJS.WriteStream = process.stderr): Progress {
  let n = 0;
  let failed = 0;
  let lastTenth = 0;
  const tty = out.isTTY;
  const t0 = Date.now();
  const draw = (): void => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((n / total) * width);
    const rate = n / Math.max(0.001, (Date.now() - t0) / 1000);
    out.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${n}/${total} ${rate.toFixed(0)}/s${failed > 0 ? ` ${failed} failed` : ""}  `);
  };
  return {
    tick(f: boolean) {
      n++;
      if (f) failed++;
      if (tty) {
        draw();
        return;
      }
      if (total < 100) return;
      const tenth = Math.floor((n * 10) / Math.max(1, total));
      if (tenth > lastTenth && n < total) {
        lastTenth = tenth;
        out.write(`${label}: ${n}/${total}${failed > 0 ? ` (${failed} failed)` : ""}\n`);
      }
    },
    done() {
      if (total === 0 || (!tty && total < 100)) return;
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (tty) {
        draw();
        out.write(`\n`);
      } else {
        out.write(`${label}: ${n}/${total} in ${secs} s${failed > 0 ? ` (${failed} failed)` : ""}\n`);
      }
    },
  };
}
