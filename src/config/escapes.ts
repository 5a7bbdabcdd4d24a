/**
 * The escapes of kong-ts tag values that carry bytes (`kong-ts.healthcheck.send` / `.expect`): a tag cannot hold
 * spaces, commas or control characters, so they are written as `\r`, `\n`, `\t`, `\s` (space), `\\` and `\xHH`
 * (any byte, two hex digits), as in HAProxy's `tcp-check send` strings. Any other character stands for itself
 * (UTF-8). Returns the bytes, or a message saying what is wrong.
 */
export function decodeEscapes(text: string): Buffer | string {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      const code = text.codePointAt(i)!;
      if (code < 0x80) out.push(code);
      else {
        const ch = String.fromCodePoint(code);
        out.push(...Buffer.from(ch, 'utf8'));
        i += ch.length - 1;
      }
      continue;
    }
    const e = text[++i];
    switch (e) {
      case 'r':
        out.push(13);
        break;
      case 'n':
        out.push(10);
        break;
      case 't':
        out.push(9);
        break;
      case 's':
        out.push(32);
        break;
      case '\\':
        out.push(92);
        break;
      case 'x': {
        const hex = text.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) return `bad escape '\\x${hex}' at character ${i}: \\x takes two hex digits`;
        out.push(parseInt(hex, 16));
        i += 2;
        break;
      }
      case undefined:
        return 'ends with a lone backslash';
      default:
        return `unknown escape '\\${e}' (known: \\r \\n \\t \\s \\\\ \\xHH)`;
    }
  }
  return Buffer.from(out);
}
