/** node:module for the browser bundle: audit/jcs.ts requires `canonicalize` through createRequire. */
import canonicalize from 'canonicalize';

export function createRequire(_from: string) {
  return (id: string): unknown => {
    if (id === 'canonicalize') return canonicalize;
    throw new Error(`browser require: ${id} is not bundled`);
  };
}
