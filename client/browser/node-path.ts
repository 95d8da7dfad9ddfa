/** node:path for the browser bundle: the POSIX join and dirname common/paths.ts uses. */
export const sep = '/';

export function join(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .join('/')
    .replace(/\/+/g, '/');
}

export function dirname(path: string): string {
  const i = path.replace(/\/+$/, '').lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function resolve(...parts: string[]): string {
  return join('/', ...parts);
}
