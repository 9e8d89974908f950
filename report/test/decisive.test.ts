/**
 * The frame a verdict rests on (`decisive: true` on its wire entry) is shown
 * where a reader looks: marked in the HTML wire log and named in the facts,
 * named and marked in the Markdown details, and in the JUnit failure text;
 * a report without the mark (older, or a pass) shows none.
 */
import { describe, expect, it } from 'vitest';
import { toHtml } from '../html.js';
import { toMarkdown } from '../markdown.js';
import { detailText } from '../junit.js';
import { validateReport } from '../read.js';
import { decide, fixtureReport, HOSTILE_FRAME, record } from './fixture.js';
import type { RecordedWireEntry } from '../schema.js';

const EOSE = '["EOSE","sub-7"]';
const quietWire = (): RecordedWireEntry[] =>
  decide(
    2,
    [
      { t: 0, dir: 'sent', frame: 'bob ["EVENT",{"kind":447}]' },
      { t: 3, dir: 'received', frame: 'bob ["OK","ab",true,""]' },
      { t: 4, dir: 'received', frame: `bob ${EOSE}` },
      { t: 5, dir: 'note', frame: 'bob waiting 300 ms for anything more' },
    ],
    300,
  );
const quietRecord = record('kp-447-delivery/quiet', 'fail', { message: "bob's 447 delivered no KeyPackage", wire: quietWire() });

/** The wire-log rows of one test's row in the HTML. */
function htmlRowOf(html: string, id: string): string {
  const start = html.indexOf(`id="test-${id}"`);
  const end = html.indexOf('<tr class="test"', start);
  return html.slice(start, end < 0 ? undefined : end);
}

describe('the decisive frame in the reports', () => {
  const report = fixtureReport([...fixtureReport().tests, quietRecord]);
  const html = toHtml(report);
  const md = toMarkdown(report);

  it('is marked in the HTML wire log, escaped, and named in the facts', () => {
    const marked = [...html.matchAll(/<tr class="wire [a-z]+ decisive">.*?<\/tr>/g)].map((m) => m[0]);
    expect(marked).toHaveLength(2);
    expect(marked[0]).toContain('<span class="mark">decisive</span>');
    expect(marked[0]).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(marked[0]).not.toContain('<script>');
    expect(marked[1]).toContain('then nothing more within 300 ms');
    expect(html).toContain('<dt>Decisive frame</dt>');
    expect(htmlRowOf(html, 'kp-447-delivery/quiet')).toContain(`received ←  bob ${EOSE.replace(/"/g, '&quot;')} (then nothing more within 300 ms)`);
    // Passing and unmarked tests get neither the fact nor a highlighted row.
    expect(htmlRowOf(html, 'kp-auth-challenge/send')).not.toContain('decisive');
    expect(html.match(/<dt>Decisive frame<\/dt>/g)).toHaveLength(2);
  });

  it('scrolls an opened row to its decisive frame', () => {
    expect(html).toMatch(/querySelector\('tr\.wire\.decisive'\)/);
    expect(html).toContain('scrollIntoView');
  });

  it('is named in the Markdown details and marked in the wire log', () => {
    expect(md).toContain(`**Decisive frame** (marked ◀ in the wire log):\n\n\`\`\`text\nreceived ←  ${HOSTILE_FRAME}\n\`\`\``);
    expect(md).toContain(`received ←  ${HOSTILE_FRAME}  ◀ decisive\n`);
    expect(md).toContain(`received ←  bob ${EOSE} (then nothing more within 300 ms)`);
    expect(md).toContain(`+4 ms  received ←  bob ${EOSE}  ◀ decisive (then nothing more within 300 ms)\n`);
    expect(md.match(/◀ decisive/g)).toHaveLength(2);
  });

  it('is named in the JUnit failure text', () => {
    expect(detailText(quietRecord)).toContain(`Decisive frame: received ←  bob ${EOSE} (then nothing more within 300 ms)`);
  });

  it('is read back from report.json, and a report without it renders as before', () => {
    const back = validateReport(JSON.parse(JSON.stringify(report)), 'report.json');
    expect(back.tests.at(-1)?.wire[2]).toEqual({ t: 4, dir: 'received', frame: `bob ${EOSE}`, decisive: true, quietAfterMs: 300 });
    const unmarked = fixtureReport([record('kp-447-delivery/quiet', 'fail', { wire: quietWire().map(({ t, dir, frame }) => ({ t, dir, frame })) })]);
    expect(toHtml(unmarked)).not.toContain('Decisive frame');
    expect(toMarkdown(unmarked)).not.toContain('decisive');
  });
});
