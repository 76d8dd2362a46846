// handoff.js: origin checkout, where the venue takes the payment on its own page.
//
// After a hold, the page asks `POST /v1/holds/{id}/checkout` for the venue's payment
// URL (with the hold id, a signed hold token and the URL of Anteroom's order page to
// come back to) and sends the fan there. The demo payment form is hidden: in origin
// mode only the venue's server can confirm. A hold shown again (a reload, or the fan
// came back from the payment page without paying) is not sent away by itself, which
// would trap the Back button: a button offers the payment page instead.
//
// The mode comes from the public event; an event view that does not state it is
// asked through the endpoint, whose `409 checkout_not_origin` means fan checkout.

import { api, withRetry } from './api.js';
import { $, show } from './format.js';
import { addStrings, t } from './i18n.js';
import strings from './strings-order.js';
import { alertMsg, note } from './fan-views.js';

addStrings(strings);

/** The checkout mode the public event states: 'fan', 'origin' or null (not stated). */
export function statedMode(ev) {
  const mode = ev?.checkout?.mode ?? ev?.checkout_mode ?? null;
  return mode === 'fan' || mode === 'origin' ? mode : null;
}

export class HandOff {
  /**
   * @param {{event: () => any, pass: () => string, onWait: (e: any, s: number) => void,
   *   alive: (holdId: string) => boolean}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.hold = null;
    // A token is short-lived: the button asks for a fresh one rather than reusing a URL.
    $('handoff-btn').addEventListener('click', () => this.hold && this.shown(this.hold, true));
    // Back from the payment page, a page restored from the back/forward cache still says
    // it is on its way there: offer the button instead.
    window.addEventListener('pageshow', (e) => {
      if (e.persisted && this.hold) this.box('handoff_text');
    });
  }

  /** Back to the fan checkout look (the demo payment form). */
  reset() {
    this.hold = null;
    show($('pay-form'), true);
    show($('handoff'), false);
  }

  /** Shows the hand-off box instead of the payment form, with `key`'s words. */
  box(key) {
    show($('pay-form'), false);
    show($('handoff'), true);
    $('handoff-text').textContent = t(key);
    $('handoff-btn').textContent = t('handoff_go');
  }

  /**
   * Called when hold `h` is shown: `fresh` for a hold just made (the fan is then sent
   * to the payment page at once), false for a hold shown again.
   */
  async shown(h, fresh) {
    this.reset();
    const mode = statedMode(this.ctx.event());
    if (mode === 'fan') return;
    // A stated origin mode hides the demo payment form at once, not after the answer.
    if (mode === 'origin') this.box(fresh ? 'handoff_going' : 'handoff_text');
    let start;
    try {
      const r = await withRetry(
        () => api('POST', `/v1/holds/${h.id}/checkout`, { token: this.ctx.pass() }),
        this.ctx.onWait,
        () => this.ctx.alive(h.id),
      );
      note(null);
      start = r.body;
    } catch (e) {
      note(null);
      // Fan checkout after all (the venue switched the event back): the form returns.
      if (e.code === 'checkout_not_origin') return this.reset();
      if (!this.ctx.alive(h.id)) return;
      this.hold = h;
      this.box('handoff_text');
      alertMsg(t('handoff_failed', { message: e.message }));
      return;
    }
    if (!this.ctx.alive(h.id)) return;
    this.hold = h;
    this.box(fresh ? 'handoff_going' : 'handoff_text');
    if (fresh) window.location.assign(start.checkout_url);
  }

  /** Re-renders the words (language change). */
  rerender() {
    if (this.hold) this.box('handoff_text');
  }
}
