// A small markdown renderer for the runbooks: headings, paragraphs, fenced
// code, lists (one level, with continuation lines), tables, and inline
// code, bold, italics and links. It builds DOM nodes with text nodes only,
// so nothing in a document becomes markup (no HTML is interpreted).

import { h } from './dom.js';

// link maps a markdown link target: "#anchor" to the runbook page, a
// sibling doc ("alerts.md#x") to its path in the repository (shown, not
// linked: the console serves only the runbooks), http(s) to itself.
function link(text, target, linkFor) {
  const local = linkFor(target);
  if (local) return h('a', { href: local }, ...inline(text, linkFor));
  if (/^https?:\/\//.test(target)) return h('a', { href: target, target: '_blank', rel: 'noopener' }, ...inline(text, linkFor));
  return h('span', { class: 'doc-ref', title: `docs/${target}` }, ...inline(text, linkFor));
}

// inline renders `code`, **bold**, *em* and [text](target) in a line.
export function inline(text, linkFor) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h('code', {}, m[1]));
    else if (m[2] !== undefined) out.push(h('b', {}, ...inline(m[2], linkFor)));
    else if (m[3] !== undefined) out.push(link(m[3], m[4], linkFor));
    else out.push(h('em', {}, m[5]));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const cells = (line) => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());

// render turns markdown into an array of block elements. linkFor(target)
// returns the console's href for a link target, or null.
export function render(md, linkFor = () => null) {
  const lines = md.replace(/\r\n/g, '\n').split('\n');
  const blocks = [];
  let i = 0;
  const isStart = (l) => /^(#{1,6}\s|```|\s*[-*]\s|\s*\d+\.\s|\|)/.test(l) || l.trim() === '';
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') { i++; continue; }
    let m;
    if ((m = /^```(\w*)/.exec(line))) {
      const code = [];
      i++;
      while (i < lines.length && !lines[i].startsWith('```')) code.push(lines[i++]);
      i++;
      blocks.push(h('pre', { class: m[1] ? `lang-${m[1]}` : null }, h('code', {}, code.join('\n'))));
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      blocks.push(h(`h${Math.min(6, m[1].length + 1)}`, {}, ...inline(m[2], linkFor)));
      i++;
    } else if (/^\|/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\|/.test(lines[i])) rows.push(lines[i++]);
      const head = cells(rows[0]);
      const body = rows.slice(1).filter((r) => !/^\|?\s*:?-{2,}/.test(r.trim()));
      blocks.push(h('table', { class: 'md' }, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, ...inline(c, linkFor))))),
        h('tbody', {}, body.map((r) => h('tr', {}, cells(r).map((c) => h('td', {}, ...inline(c, linkFor))))))));
    } else if ((m = /^(\s*)([-*]|\d+\.)\s/.exec(line))) {
      const ordered = /\d/.test(m[2]);
      const items = [];
      while (i < lines.length && lines[i].trim() !== '') {
        const im = /^\s*([-*]|\d+\.)\s+(.*)$/.exec(lines[i]);
        if (im) items.push(im[2]);
        else if (items.length) items[items.length - 1] += ` ${lines[i].trim()}`;
        i++;
        if (i < lines.length && /^```/.test(lines[i])) break;
      }
      blocks.push(h(ordered ? 'ol' : 'ul', {}, items.map((it) => h('li', {}, ...inline(it, linkFor)))));
    } else {
      const para = [];
      while (i < lines.length && !isStart(lines[i])) para.push(lines[i++].trim());
      if (!para.length) para.push(lines[i++].trim());
      blocks.push(h('p', {}, ...inline(para.join(' '), linkFor)));
    }
  }
  return blocks;
}
