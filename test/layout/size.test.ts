/**
 * Size limits of src/ (issue 11): no TypeScript file over 400 lines, no function over 100 lines
 * (declarations, methods, constructors, accessors, function expressions and arrow functions, from
 * the first line of the function to its last, comments before it not counted). Read with the
 * TypeScript 6 JS API (the `typescript` dependency); offenders are listed, longest first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 100;

/** Every .ts file under `dir` (declarations excluded), relative to the repository root. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const ent of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${ent.name}`;
    if (ent.isDirectory()) out.push(...tsFiles(rel));
    else if (ent.isFile() && ent.name.endsWith('.ts') && !ent.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/** Lines of a text as `wc -l` counts them (a final newline ends the last line). */
const lineCount = (text: string): number => (text.length === 0 ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0));

/** A readable name of a function-like node: its own, its variable's or property's, else `<anonymous>`. */
function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  const own = node.name && !ts.isComputedPropertyName(node.name) ? node.name.getText(sf) : null;
  if (ts.isConstructorDeclaration(node)) return `${classOf(node)}constructor`;
  if (own) return ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node) ? `${classOf(node)}${own}` : own;
  const p = node.parent;
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) return p.name.getText(sf);
  return '<anonymous>';
}

const classOf = (node: ts.Node): string => {
  const c = node.parent;
  return c && (ts.isClassDeclaration(c) || ts.isClassExpression(c)) && c.name ? `${c.name.text}.` : '';
};

/** Functions of one file longer than `max` lines: `file:line name (n lines)`. */
export function longFunctions(file: string, text: string, max = MAX_FUNCTION_LINES): { where: string; lines: number }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: { where: string; lines: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = sf.getLineAndCharacterOfPosition(fn.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(fn.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) out.push({ where: `${file}:${first + 1} ${nameOf(fn, sf)} (${lines} lines)`, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

describe('layout: sizes', () => {
  const files = tsFiles('src').map((f) => ({ file: f, text: fs.readFileSync(path.join(ROOT, f), 'utf8') }));

  it(`no src/ file is over ${MAX_FILE_LINES} lines`, () => {
    expect(files.length).toBeGreaterThan(100);
    const long = files
      .map(({ file, text }) => ({ file, lines: lineCount(text) }))
      .filter((f) => f.lines > MAX_FILE_LINES)
      .sort((a, b) => b.lines - a.lines)
      .map((f) => `${f.file} (${f.lines} lines)`);
    expect(long, `files over ${MAX_FILE_LINES} lines:\n${long.join('\n')}`).toEqual([]);
  });

  it(`no function in src/ is over ${MAX_FUNCTION_LINES} lines`, () => {
    const long = files
      .flatMap(({ file, text }) => longFunctions(file, text))
      .sort((a, b) => b.lines - a.lines)
      .map((f) => f.where);
    expect(long, `functions over ${MAX_FUNCTION_LINES} lines:\n${long.join('\n')}`).toEqual([]);
  });

  it('the measure counts what it should (a 101-line function is too long, a 100-line one is not)', () => {
    const fn = (name: string, body: number) => `function ${name}() {\n${'  x++;\n'.repeat(body)}}\n`;
    const text = `/** doc */\n${fn('ok', 98)}${fn('tooLong', 99)}class C {\n  m() {\n${'    x++;\n'.repeat(99)}  }\n}\nconst arrow = () => {\n${'  x++;\n'.repeat(99)}};\n`;
    expect(longFunctions('t.ts', text).map((f) => f.where)).toEqual(['t.ts:102 tooLong (101 lines)', 't.ts:204 C.m (101 lines)', 't.ts:306 arrow (101 lines)']);
    expect(lineCount('a\nb\n')).toBe(2);
    expect(lineCount('a\nb')).toBe(2);
  });
});
