import { describe, expect, it } from 'vitest';
import { escapeXml, toJUnit } from '../junit.js';
import { fixtureReport, fixtureTests, HOSTILE, HOSTILE_FRAME, NIP11_NAME, record } from './fixture.js';
import { childrenNamed, parseXml, type XmlElement } from './xml.js';

const cases = (suite: XmlElement): XmlElement[] => childrenNamed(suite, 'testcase');
const caseById = (root: XmlElement, id: string): XmlElement => {
  const found = childrenNamed(root, 'testsuite').flatMap(cases).find((c) => c.attrs.name === id);
  if (!found) throw new Error(`no testcase ${id}`);
  return found;
};

describe('toJUnit', () => {
  it('is well-formed XML 1.0 even with control characters, markup and ]]> in the input', () => {
    const xml = toJUnit(fixtureReport());
    expect(() => parseXml(xml)).not.toThrow();
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')).toBe(true);
    expect(xml).not.toContain(HOSTILE);
    expect(xml).not.toContain('\u0000');
    expect(xml).toContain('\\u{0000}');
  });

  it('has one testsuite per section with counts that match its testcases', () => {
    const report = fixtureReport();
    const root = parseXml(toJUnit(report));
    const suites = childrenNamed(root, 'testsuite');
    const sections = [...new Set(report.tests.map((t) => t.section))];
    expect(suites.map((s) => s.attrs.name)).toEqual(sections);
    for (const suite of suites) {
      const tcs = cases(suite);
      expect(tcs.every((tc) => tc.attrs.classname === suite.attrs.name)).toBe(true);
      expect(Number(suite.attrs.tests)).toBe(tcs.length);
      expect(Number(suite.attrs.failures)).toBe(tcs.filter((tc) => childrenNamed(tc, 'failure').length > 0).length);
      expect(Number(suite.attrs.errors)).toBe(tcs.filter((tc) => childrenNamed(tc, 'error').length > 0).length);
      expect(Number(suite.attrs.skipped)).toBe(tcs.filter((tc) => childrenNamed(tc, 'skipped').length > 0).length);
    }
    expect(root.attrs).toMatchObject({ tests: String(report.tests.length), failures: '1', errors: '1', skipped: '2' });
  });

  it('turns a fail into <failure type=anchor> with requirement, expected, observed and the wire log', () => {
    const tc = caseById(parseXml(toJUnit(fixtureReport())), 'kp-req-scope/author');
    expect(tc.attrs.time).toBe('0.512');
    const [failure] = childrenNamed(tc, 'failure');
    expect(failure?.attrs).toEqual({ message: 'the relay answered an unscoped REQ with events', type: 'kp-req-scope' });
    expect(failure?.text).toContain('Requirement (MUST, profile, PROFILE.md#kp-req-scope): A REQ for kind 443 MUST name exactly one author');
    expect(failure?.text).toContain('Expected: CLOSED "restricted: …"');
    expect(failure?.text).toContain(`Observed: EVENT ${HOSTILE}`);
    expect(failure?.text).toContain(HOSTILE_FRAME);
    expect(failure?.text).toContain('+14 ms  received ←  ');
  });

  it('reports non-strict as a failure only with --strict', () => {
    const lax = caseById(parseXml(toJUnit(fixtureReport())), 'kp-rate-advertise/nip11');
    expect(childrenNamed(lax, 'failure')).toHaveLength(0);
    expect(childrenNamed(lax, 'system-out')[0]?.text).toMatch(/^non-strict: a SHOULD is not met/);
    const strict = caseById(parseXml(toJUnit(fixtureReport(fixtureTests(), { strict: true }))), 'kp-rate-advertise/nip11');
    expect(childrenNamed(strict, 'failure')[0]?.attrs.type).toBe('kp-rate-advertise');
  });

  it('maps error, skipped, untested and info', () => {
    const root = parseXml(toJUnit(fixtureReport()));
    const error = childrenNamed(caseById(root, 'kp-447-delivery/ok'), 'error')[0];
    expect(error?.attrs.message).toBe('timed out after 5000 ms waiting for OK \\u{0001} with \\u{FFFF}');
    expect(childrenNamed(caseById(root, 'kp-del-owner/kind5'), 'skipped')[0]?.attrs.message).toBe('excluded by --only/--exclude');
    expect(childrenNamed(caseById(root, 'kp-rate-queries/window'), 'skipped')[0]?.attrs.message).toMatch(/^untested: the relay advertises no keypackages limits/);
    const info = caseById(root, 'nip-11/document');
    expect(info.children.map((c) => c.name)).toEqual(['system-out']);
    expect(info.children[0]?.text).toContain('info: the relay serves a NIP-11 document');
    expect(caseById(root, 'kp-pub-accept/basic').children).toHaveLength(0);
  });

  it('reports an expected failure as skipped (like pytest xfail) and flags an unexpected pass', () => {
    const tests = [record('kp-a/x', 'fail', { expectedFailure: true, message: 'known' }), record('kp-b/y', 'pass')];
    const report = fixtureReport(tests);
    report.summary.unexpectedPasses = ['kp-b/y'];
    const root = parseXml(toJUnit(report));
    expect(childrenNamed(caseById(root, 'kp-a/x'), 'skipped')[0]?.attrs.message).toBe('expected failure (fail): known');
    expect(childrenNamed(caseById(root, 'kp-b/y'), 'system-out')[0]?.text).toContain('remove it from the list');
  });

  it('keeps the run properties, relay strings escaped', () => {
    const root = parseXml(toJUnit(fixtureReport(fixtureTests(), { url: `ws://x/${NIP11_NAME}` })));
    const props = childrenNamed(childrenNamed(childrenNamed(root, 'testsuite')[0]!, 'properties')[0]!, 'property');
    expect(Object.fromEntries(props.map((p) => [p.attrs.name, p.attrs.value]))).toMatchObject({
      relay: `ws://x/${NIP11_NAME}`,
      profile: 'kp-relay/0.1',
      strict: 'false',
    });
  });
});

describe('escapeXml', () => {
  it('escapes markup, keeps newlines in attributes, and spells out characters XML 1.0 forbids', () => {
    expect(escapeXml(`<a b="c" d='e'>&`)).toBe('&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;');
    expect(escapeXml('a\nb\tc\rd', true)).toBe('a&#10;b&#9;c&#13;d');
    expect(escapeXml('x\u0000\u001f\uD800y\uFFFE')).toBe('x\\u{0000}\\u{001F}\\u{D800}y\\u{FFFE}');
    expect(escapeXml('😀')).toBe('😀');
  });
});
