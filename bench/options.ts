/**
 * The command lines of the bench scripts, read by node's util.parseArgs from one declaration per script, so
 * that what a script accepts and what its `--help` says cannot drift apart. `--help` (`-h`) prints the usage
 * and exits 0; an unknown option, a value a script cannot use or a missing one prints `<name>: <what is
 * wrong>` and the usage to stderr and exits 2, before the script starts anything.
 */
import { parseArgs } from 'node:util';

/** `--name` alone. */
export interface Flag {
  kind: 'flag';
  help: string;
}

/** `--name=VALUE` or `--name VALUE` (or a positional), read by `read`, which throws what is wrong with it. */
export interface Valued<T> {
  kind: 'value';
  /** The value's placeholder in the usage, e.g. `N` or `DIR`. */
  arg: string;
  help: string;
  read: (value: string) => T;
  /** A positional the script cannot run without. */
  required?: boolean;
}

type Spec = Flag | Valued<unknown>;
type ValueOf<S> = S extends Flag
  ? boolean
  : S extends Valued<infer T>
    ? S extends { required: true }
      ? T
      : T | undefined
    : never;
export type Values<O> = { [K in keyof O]: ValueOf<O[K]> };

export const flag = (help: string): Flag => ({ kind: 'flag', help });

export const value = <T>(arg: string, help: string, read: (value: string) => T): Valued<T> => ({
  kind: 'value',
  arg,
  help,
  read,
});

export const text = (arg: string, help: string): Valued<string> =>
  value(arg, help, (v) => {
    if (v === '') throw new Error('is empty');
    return v;
  });

/** A whole number of at least `min` (1 unless said). */
export const integer = (arg: string, help: string, min = 1): Valued<number> =>
  value(arg, help, (v) => toInteger(v, min));

/** A positional that must be given. */
export const required = <T>(spec: Valued<T>): Valued<T> & { required: true } => ({ ...spec, required: true });

/** A number above 0, fractions allowed. */
export const positive = (arg: string, help: string): Valued<number> =>
  value(arg, help, (v) => {
    const n = v.trim() === '' ? Number.NaN : Number(v);
    if (!(n > 0)) throw new Error('is not a number above 0');
    return n;
  });

/** One of `choices`. */
export const oneOf = <C extends string>(choices: readonly C[], help: string): Valued<C> =>
  value(choices.join('|'), help, (v) => {
    if (!(choices as readonly string[]).includes(v)) throw new Error(`is not one of ${choices.join(', ')}`);
    return v as C;
  });

/** A comma-separated list of `choices` (listed after `help` in the usage). */
export const names = <C extends string>(arg: string, choices: readonly C[], help: string): Valued<C[]> =>
  value(arg, `${help}: ${choices.join(', ')}`, (v) => nameList(v, choices));

export function toInteger(v: string, min: number): number {
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`is not a whole number of at least ${min}`);
  return n;
}

export function nameList<C extends string>(v: string, choices: readonly C[]): C[] {
  if (v === '') throw new Error('is empty');
  const unknown = v.split(',').filter((n) => !(choices as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`has unknown '${unknown.join("', '")}' (known: ${choices.join(', ')})`);
  return v.split(',') as C[];
}

export interface Command<O extends Record<string, Spec>, P extends Record<string, Valued<unknown>>> {
  /** How errors start, e.g. `bench:server`. */
  name: string;
  /** How the script is run, e.g. `npm run bench:server --`. */
  run: string;
  /** One or two lines: what it measures, what it needs. */
  about: string;
  options: O;
  /** Arguments without a name, in order, each optional (a script fails itself when one is missing). */
  positionals?: P;
}

/**
 * Reads `argv` (the script's arguments) against `command`, exits on `--help` or on a mistake. `fail` reports
 * a mistake found later (a missing positional, an environment variable a choice needs) the same way.
 */
export function parseBenchArgs<
  O extends Record<string, Spec>,
  P extends Record<string, Valued<unknown>> = Record<never, Valued<unknown>>,
>(command: Command<O, P>, argv: string[] = process.argv.slice(2)): { values: Values<O> & Values<P>; fail: Fail } {
  const fail: Fail = (message) => {
    console.error(`${command.name}: ${message}`);
    console.error(usage(command));
    process.exit(2);
  };
  const specs: Record<string, Spec> = command.options;
  const positionals = Object.entries(command.positionals ?? {});
  const config = Object.fromEntries(
    Object.entries(specs).map(([k, s]) => [k, { type: s.kind === 'flag' ? 'boolean' : 'string' } as const]),
  );
  const { tokens } = parseArgs({
    args: argv,
    options: { ...config, help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) {
    console.log(usage(command));
    process.exit(0);
  }
  const values: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(specs)) values[k] = s.kind === 'flag' ? false : undefined;
  let at = 0;
  const positional = (v: string) => {
    const [key, spec] = positionals[at++] ?? fail(`unexpected argument '${v}'`);
    values[key] = read(spec, spec.arg, v, fail);
  };
  let negative = -1;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      positional(t.value);
      continue;
    }
    // parseArgs reads `-5` as short options: a negative number given as a positional, said to be one
    if (/^-\d/.test(argv[t.index]!)) {
      if (t.index !== negative) positional(argv[t.index]!);
      negative = t.index;
      continue;
    }
    const spec = Object.hasOwn(specs, t.name) ? specs[t.name]! : fail(`unknown option ${t.rawName}`);
    if (spec.kind === 'flag') {
      if (t.value !== undefined) fail(`${t.rawName} takes no value (given '${t.value}')`);
      values[t.name] = true;
    } else {
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--')))
        fail(`${t.rawName} needs a value: ${t.rawName}=${spec.arg}`);
      values[t.name] = read(spec, t.rawName, t.value, fail);
    }
  }
  for (const [, spec] of positionals.slice(at)) if (spec.required) fail(`needs ${spec.arg}`);
  return { values: values as Values<O> & Values<P>, fail };
}

export type Fail = (message: string) => never;

function read(spec: Valued<unknown>, label: string, v: string, fail: Fail): unknown {
  try {
    return spec.read(v);
  } catch (err) {
    return fail(`${label}=${v} ${(err as Error).message}`);
  }
}

/** The usage text: the command line, what it does, then one line per option. */
export function usage(command: Command<Record<string, Spec>, Record<string, Valued<unknown>>>): string {
  const pos = Object.values(command.positionals ?? {}).map((p) => (p.required ? ` ${p.arg}` : ` [${p.arg}]`));
  const rows: [string, string][] = [
    ...Object.values(command.positionals ?? {}).map((p): [string, string] => [p.arg, p.help]),
    ...Object.entries(command.options).map(([k, s]): [string, string] => [
      s.kind === 'flag' ? `--${k}` : `--${k}=${s.arg}`,
      s.help,
    ]),
    ['-h, --help', 'this text'],
  ];
  const width = Math.max(...rows.map(([l]) => l.length));
  return [
    `usage: ${command.run}${pos.join('')} [options]`,
    ...command.about.split('\n').map((l) => `  ${l}`),
    ...rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`),
  ].join('\n');
}
