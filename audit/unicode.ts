/**
 * Lone UTF-16 surrogates: a JS string may hold them, UTF-8 cannot encode
 * them. Signed notes (C2SP signed-note) and RFC 8785 output (§3.2.2.2) must be
 * valid UTF-8, so text with a lone surrogate is refused before it is signed or
 * hashed (Buffer.from would silently turn it into U+FFFD).
 */
export const isWellFormedUnicode: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as string & { isWellFormed(): boolean }).isWellFormed()
    : (s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
