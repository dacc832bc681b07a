/**
 * What "the frame never breaks" means, checked on a rendered view:
 * - the frame (as written) has at most `rows - 1` lines (ink's frame is one line less than the
 *   terminal) and no line wider than `columns` (string-width's columns, ANSI stripped);
 * - in the laid-out tree (ink's DOM under the App's root, through its `rootRef`), no element lies
 *   outside its parent's inner box, no two siblings overlap (yoga lays children that do not fit
 *   over each other), and no text was squashed or cut by the layout engine: each text
 *   has at least the height of its lines and, when it does not wrap, the width of its text. So every
 *   line the screen shows was counted by the layout maths (components/layout.ts); a text that only
 *   fits because ink cut it, or a part shrunk to make room, is a failure, not a pass.
 */
import type { DOMElement } from 'ink';
import stringWidth from 'string-width';
import { stripAnsi } from '../../components/text.js';

export interface Size {
  columns: number;
  rows: number;
}

/** Problems of the frame text at `size` (empty when it fits). */
export function frameTextProblems(frame: string, size: Size): string[] {
  const out: string[] = [];
  const lines = frame.split('\n');
  if (lines.length > Math.max(1, size.rows - 1)) out.push(`${lines.length} lines in a frame of ${size.rows - 1} (terminal ${size.columns}×${size.rows})`);
  lines.forEach((l, i) => {
    const w = stringWidth(stripAnsi(l));
    if (w > size.columns) out.push(`line ${i + 1} is ${w} columns wide (terminal ${size.columns}): ${JSON.stringify(l)}`);
  });
  return out;
}

interface Node {
  nodeName: string;
  nodeValue?: string;
  style?: Record<string, unknown>;
  childNodes?: Node[];
  yogaNode?: { getComputedLayout(): { left: number; top: number; width: number; height: number } };
}

/** The text of an ink-text node (its own and its nested texts'), as ink squashes it. */
function textOf(node: Node): string {
  if (node.nodeName === '#text') return node.nodeValue ?? '';
  return (node.childNodes ?? []).map(textOf).join('');
}

function describeNode(node: Node): string {
  if (node.nodeName === 'ink-text') return `text ${JSON.stringify(textOf(node).slice(0, 60))}`;
  const first = (node.childNodes ?? []).find((c) => c.nodeName === 'ink-text');
  return `box${first ? ` starting with ${describeNode(first)}` : ''}`;
}

/** Problems of the laid-out tree under `root` (empty when every part has the room the layout gave it). */
export function layoutProblems(root: DOMElement): string[] {
  const out: string[] = [];
  const walk = (node: Node, x: number, y: number, inner: { x: number; y: number; w: number; h: number } | null): void => {
    if (!node.yogaNode || node.style?.['display'] === 'none') return;
    const l = node.yogaNode.getComputedLayout();
    const ax = x + l.left;
    const ay = y + l.top;
    if (inner && (ax < inner.x || ay < inner.y || ax + l.width > inner.x + inner.w || ay + l.height > inner.y + inner.h)) {
      out.push(`${describeNode(node)} at ${ax},${ay} ${l.width}×${l.height} lies outside its parent's ${inner.x},${inner.y} ${inner.w}×${inner.h}`);
    }
    if (node.nodeName === 'ink-text') {
      const text = textOf(node);
      if (text === '') return;
      const lines = text.split('\n');
      const widest = Math.max(...lines.map((t) => stringWidth(t)));
      const wrap = String(node.style?.['textWrap'] ?? 'wrap');
      const needLines = wrap === 'wrap' ? lines.reduce((n, t) => n + Math.max(1, Math.ceil(stringWidth(t) / Math.max(1, l.width))), 0) : lines.length;
      if (l.height < needLines) out.push(`${describeNode(node)} squashed: ${l.height} lines for ${needLines}`);
      if (wrap !== 'wrap' && l.width < widest) out.push(`${describeNode(node)} cut by the layout: ${l.width} columns for ${widest}`);
      return;
    }
    const border = node.style?.['borderStyle'] ? 1 : 0;
    const box = { x: ax + border, y: ay + border, w: Math.max(0, l.width - 2 * border), h: Math.max(0, l.height - 2 * border) };
    const children = (node.childNodes ?? []).filter((c) => c.yogaNode && c.style?.['display'] !== 'none');
    // Siblings never share a cell (yoga lays overflowing children over each other).
    const rects = children.map((c) => ({ c, r: c.yogaNode!.getComputedLayout() })).filter(({ r }) => r.width > 0 && r.height > 0);
    for (let i = 0; i < rects.length; i++) {
      for (let j = i + 1; j < rects.length; j++) {
        const a = rects[i]!.r;
        const b = rects[j]!.r;
        if (a.left < b.left + b.width && b.left < a.left + a.width && a.top < b.top + b.height && b.top < a.top + a.height) {
          out.push(`${describeNode(rects[i]!.c)} and ${describeNode(rects[j]!.c)} overlap (${a.left},${a.top} ${a.width}×${a.height} and ${b.left},${b.top} ${b.width}×${b.height})`);
        }
      }
    }
    for (const c of children) walk(c, ax, ay, box);
  };
  walk(root as unknown as Node, 0, 0, null);
  return out;
}
