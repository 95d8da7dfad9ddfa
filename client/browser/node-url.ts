/** node:url for the browser bundle: common/paths.ts turns import.meta.url into a path. */
export function fileURLToPath(url: string | URL): string {
  try {
    return new URL(String(url)).pathname || '/';
  } catch {
    return '/';
  }
}

export function pathToFileURL(path: string): URL {
  return new URL(`file://${path}`);
}
