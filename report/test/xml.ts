/**
 * A strict little XML 1.0 reader for the JUnit tests: elements, double-quoted
 * attributes, text, the five entities and character references. Anything else
 * (an unbalanced tag, a bare `&` or `<`, a character XML 1.0 forbids) throws.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NAME = /^[A-Za-z_][\w.-]*/;

function decode(raw: string, where: number): string {
  if (/<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(raw)) throw new Error(`bare < or & near offset ${where}`);
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (_, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return ENTITIES[ref]!;
  });
}

function parseAttrs(source: string, where: number): Record<string, string> {
  const attrs: Record<string, string> = {};
  let rest = source.trim();
  while (rest !== '') {
    const m = /^([A-Za-z_][\w.-]*)="([^"]*)"\s*/.exec(rest);
    if (!m) throw new Error(`bad attribute syntax near offset ${where}: ${rest.slice(0, 40)}`);
    if (m[1]! in attrs) throw new Error(`duplicate attribute ${m[1]} near offset ${where}`);
    attrs[m[1]!] = decode(m[2]!, where);
    rest = rest.slice(m[0].length);
  }
  return attrs;
}

export function parseXml(doc: string): XmlElement {
  const bad = INVALID.exec(doc);
  if (bad) throw new Error(`character U+${bad[0].codePointAt(0)!.toString(16)} is not allowed in XML 1.0 (offset ${bad.index})`);
  let i = doc.startsWith('<?xml') ? doc.indexOf('?>') + 2 : 0;
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const top = stack[stack.length - 1]!;
    if (lt === -1) {
      if (doc.slice(i).trim() !== '') throw new Error('text after the root element');
      break;
    }
    top.text += decode(doc.slice(i, lt), i);
    const gt = doc.indexOf('>', lt);
    if (gt === -1) throw new Error(`unterminated tag at offset ${lt}`);
    const tag = doc.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const closed = stack.pop();
      if (!closed || closed.name !== tag.slice(1).trim()) throw new Error(`</${tag.slice(1)}> does not close <${closed?.name}> (offset ${lt})`);
    } else {
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const name = NAME.exec(body)?.[0];
      if (!name) throw new Error(`bad tag name at offset ${lt}`);
      const element: XmlElement = { name, attrs: parseAttrs(body.slice(name.length), lt), children: [], text: '' };
      top.children.push(element);
      if (!selfClosing) stack.push(element);
    }
    i = gt + 1;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1) throw new Error('an XML document has exactly one root element');
  return root.children[0]!;
}

export const childrenNamed = (e: XmlElement, name: string): XmlElement[] => e.children.filter((c) => c.name === name);
