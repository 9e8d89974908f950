import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readReport, relaySlug, ReportReadError, writeRunReports } from '../write.js';
import { fixtureReport } from './fixture.js';

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'kpsuite-reports-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('writeRunReports', () => {
  it('writes the four files into <out>/<host-port>-<UTC time>/ and points latest at it', () => {
    const report = fixtureReport();
    const run = writeRunReports(report, base);
    expect(run.dir).toBe(join(base, '127.0.0.1-7777-20261122T224512Z'));
    expect(run.files.map((f) => basename(f))).toEqual(['report.json', 'junit.xml', 'report.md', 'index.html']);
    for (const file of run.files) expect(readFileSync(file, 'utf8').length).toBeGreaterThan(100);
    expect(JSON.parse(readFileSync(run.files[0]!, 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)));
    expect(readFileSync(run.files[0]!, 'utf8')).toMatch(/^\{\n {2}"schema": "kpsuite-report\/1",/);

    const latest = join(base, 'latest');
    expect(run.latest).toBe(latest);
    expect(lstatSync(latest).isSymbolicLink()).toBe(true);
    expect(readlinkSync(latest)).toBe('127.0.0.1-7777-20261122T224512Z');
    expect(realpathSync(latest)).toBe(realpathSync(run.dir));
  });

  it('links requirements to the repository PROFILE.md relative to the run folder', () => {
    const run = writeRunReports(fixtureReport(), base);
    const html = readFileSync(join(run.dir, 'index.html'), 'utf8');
    const href = /href="([^"#]+PROFILE\.md)#kp-req-scope"/.exec(html)?.[1];
    expect(href).toBeDefined();
    expect(existsSync(join(run.dir, href!))).toBe(true);
  });

  it('keeps two runs of the same second apart and moves latest to the newer one', () => {
    const first = writeRunReports(fixtureReport(), base);
    const second = writeRunReports(fixtureReport(), base);
    expect(second.dir).toBe(`${first.dir}-2`);
    expect(readlinkSync(join(base, 'latest'))).toBe('127.0.0.1-7777-20261122T224512Z-2');
    expect(existsSync(join(base, 'latest.txt'))).toBe(false);
  });

  it('writes latest.txt instead of clobbering a real latest folder', () => {
    mkdirSync(join(base, 'latest'));
    writeFileSync(join(base, 'latest', 'keep.txt'), 'mine');
    const run = writeRunReports(fixtureReport(), base);
    expect(run.latest).toBe(join(base, 'latest.txt'));
    expect(readFileSync(join(base, 'latest.txt'), 'utf8')).toBe('127.0.0.1-7777-20261122T224512Z\n');
    expect(readFileSync(join(base, 'latest', 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('reads back what it wrote, from the file, the run folder or latest', () => {
    const report = fixtureReport();
    const run = writeRunReports(report, base);
    const expected = JSON.parse(JSON.stringify(report)) as unknown;
    expect(readReport(run.files[0]!)).toEqual(expected);
    expect(readReport(run.dir)).toEqual(expected);
    expect(readReport(join(base, 'latest'))).toEqual(expected);
  });
});

describe('relaySlug', () => {
  it.each([
    ['ws://127.0.0.1:7777', '127.0.0.1-7777'],
    ['wss://relay.example.com', 'relay.example.com-443'],
    ['ws://relay.example.com/path?x=1', 'relay.example.com-80'],
    ['ws://[::1]:4869', '_1-4869'],
    ['ws://127.0.0.1:50123 (embedded reference relay)', '127.0.0.1-50123'],
    ['../../etc/passwd', '_.._etc_passwd'],
    ['', 'relay'],
  ])('%s -> %s', (url, slug) => {
    expect(relaySlug(url)).toBe(slug);
  });
});

describe('readReport', () => {
  const write = (name: string, content: string): string => {
    const path = join(base, name);
    writeFileSync(path, content);
    return path;
  };
  const failure = (path: string): string => {
    try {
      readReport(path);
    } catch (err) {
      expect(err).toBeInstanceOf(ReportReadError);
      return (err as Error).message;
    }
    throw new Error('readReport accepted it');
  };

  it('says what is wrong with files that are not kpsuite reports', () => {
    expect(failure(join(base, 'nope.json'))).toMatch(/nope\.json: no such file or folder; give the report\.json of a `kpsuite check` run/);
    expect(failure(base)).toMatch(/is a folder without a report\.json/);
    expect(failure(write('broken.json', '{"schema":'))).toMatch(/broken\.json is not JSON \(/);
    expect(failure(write('array.json', '[]'))).toMatch(/is not a kpsuite report \(the JSON is not an object\)/);
    expect(failure(write('bench.json', '{"relays":[]}'))).toMatch(/is not a kpsuite report: it has no "schema" field \(expected "kpsuite-report\/1"\)/);
    expect(failure(write('other.json', '{"schema":"something/1"}'))).toMatch(/"schema" is "something\/1", expected "kpsuite-report\/1"/);
    expect(failure(write('v2.json', '{"schema":"kpsuite-report/2"}'))).toMatch(/is a kpsuite-report\/2 report; this kpsuite reads kpsuite-report\/1/);
  });

  it('names the fields of a malformed report by path', () => {
    const report = JSON.parse(JSON.stringify(fixtureReport())) as Record<string, unknown> & { tests: Record<string, unknown>[] };
    report.tests[2]!.outcome = 'exploded';
    delete report.tests[0]!.wire;
    delete report.summary;
    const message = failure(write('bad.json', JSON.stringify(report)));
    expect(message).toContain('says it is kpsuite-report/1 but is malformed');
    expect(message).toContain('summary should be an object');
    expect(message).toContain('tests[2].outcome is "exploded", not one of "pass", "fail"');
    expect(message).toContain('tests[0].wire should be an array');
  });
});
