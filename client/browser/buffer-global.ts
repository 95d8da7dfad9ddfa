/** Injected into the browser bundle: audit/ and engine/ use Node's Buffer global. */
import { Buffer } from 'buffer';

export { Buffer };
