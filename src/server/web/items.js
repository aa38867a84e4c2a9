// items.js — the items of a test request in the web interface (ISO/IEC 17025 7.4): the section of
// a request's page that lists its items with their lab-wide ids and links the printable label
// sheet, the receipt form for lab staff (N identical items with their condition on arrival), and
// one item's own page. Members see their own company's items only: the API answers with the
// caller's scope, so another company's request or item reads as not found.
import { api } from './api.js';
import { h, field, table, requireFilled } from './dom.js';

// Items can be received while the request is in one of these states (the API answers 409 otherwise).
const RECEIVING_STATES = ['accepted', 'items received'];

// The request page's items section: [] for a request that cannot have items yet.
export async function itemsSection(ui, request) {
  const { items } = await api('GET', `/requests/${request.id}/items`);
  const staff = ui.me.role !== 'member';
  const receiving = staff && RECEIVING_STATES.includes(request.state);
  if (!items.length && !receiving) return [];
  const rows = items.map((it) => h('tr', {},
    h('td', {}, h('a', { href: `/items/${it.id}` }, it.item_id)),
    h('td', {}, it.description),
    h('td', {}, it.conforming ? 'conforming' : h('strong', {}, 'not conforming')),
    h('td', {}, it.condition),
    h('td', {}, it.storage),
    h('td', {}, `${it.received_at.slice(0, 10)} by ${it.received_by}`)));
  const parts = [h('h2', { id: 'items-h' }, `Items (${items.length})`)];
  if (items.length) {
    parts.push(table('Items received for this request',
      ['Item id', 'Description', 'Conformity', 'Condition on arrival', 'Stored', 'Received'], rows));
    parts.push(h('p', {}, h('a', {
      id: 'labels-link', href: `/api/v1/requests/${request.id}/labels.pdf`, type: 'application/pdf',
    }, `Label sheet of request #${request.id} (PDF, one label with a QR code per item)`)));
  } else {
    parts.push(h('p', { id: 'no-items' }, 'No items received yet.'));
  }
  if (receiving) parts.push(receiveForm(ui, request));
  return [h('section', { 'aria-labelledby': 'items-h' }, parts)];
}

function receiveForm(ui, request) {
  const form = h('form', { id: 'receive-form', novalidate: true },
    h('h3', {}, 'Receive items'),
    field('Number of identical items', 'count', { type: 'number', required: true, min: 1, max: 100, value: 1 }),
    field('Description', 'description', { required: true, maxlength: 200, hint: 'What arrived, e.g. "ISO 3167 type 1A bar, natural".' }),
    field('Condition on arrival', 'condition', { type: 'textarea', required: true, maxlength: 2000 }),
    field('The items are as expected (conforming)', 'conforming', { type: 'checkbox', checked: true,
      hint: 'Untick when they are not: the member is asked how to proceed before testing.' }),
    field('Stored at', 'storage', { required: true, maxlength: 100, hint: 'e.g. "Conditioning room, shelf B3".' }),
    h('button', { type: 'submit' }, 'Record receipt'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const body = {
      count: parseInt(f.count.value, 10) || 0,
      description: f.description.value.trim(),
      condition: f.condition.value.trim(),
      conforming: f.conforming.checked,
      storage: f.storage.value.trim(),
    };
    const required = [['description', 'Description'], ['condition', 'Condition on arrival'], ['storage', 'Stored at']];
    if (!requireFilled(form, required, ui.sayError)) return;
    try {
      const { items } = await api('POST', `/requests/${request.id}/items`, body);
      const fresh = items.slice(-body.count).map((it) => it.item_id);
      ui.flash(`${fresh.length} item(s) received: ${fresh.join(', ')}.`);
      window.location.assign(`/requests/${request.id}`);
    } catch (e) {
      ui.sayError(ui.errorText(e));
      ui.markField(form, e);
    }
  });
  return form;
}

// /items/{id}: one item, for everyone whose scope shows it.
async function itemPage(ui, id) {
  let it;
  try {
    it = await api('GET', `/items/${id}`);
  } catch (e) {
    if (e.status === 404) {
      ui.notFoundPage(`There is no item that you may see under this address.`);
      return;
    }
    throw e;
  }
  ui.show(`Item ${it.item_id}`,
    ui.detailList([
      ['Item id', it.item_id], ['Request', h('a', { href: `/requests/${it.request_id}` }, `#${it.request_id}`)],
      ['Description', it.description], ['Conformity', it.conforming ? 'conforming' : 'not conforming'],
      ['Condition on arrival', it.condition], ['Stored at', it.storage],
      ['Received', it.received_at], ['Received by', it.received_by],
    ]));
}

// The pages this module adds: [address pattern, page function(ui, ...captures)].
export const itemPages = [
  [/^\/items\/([1-9][0-9]{0,14})$/, itemPage],
];
