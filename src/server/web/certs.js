// certs.js — the web pages of runs and certificates: on a request's page, its linked runs (raw
// download) and certificates (PDF, JSON) for everyone who may see the request, and for lab staff
// the forms to upload or link a run and certify by one of the lab's specifications; the list of
// certificates (/certificates) and one certificate (/certificates/{number}) with the actions the
// caller's role has: review (reviewers), authorize and withdraw (authorizers), revise. Signing
// uses the personal key the login unlocked; the page says so when there is none.
import { api } from './api.js';
import { h, field, table, stateBadge } from './dom.js';

const STAFF = ['technician', 'reviewer', 'authorizer', 'admin'];

function certLink(c) {
  return h('a', { href: `/certificates/${c.number}` }, c.certificate);
}

function downloads(c) {
  return h('span', { class: 'downloads' },
    h('a', { href: `/api/v1/certificates/${c.number}/pdf`, download: `${c.certificate}.pdf` }, `${c.certificate}.pdf`), ' ',
    h('a', { href: `/api/v1/certificates/${c.number}/json`, download: `${c.certificate}.json` }, `${c.certificate}.json`));
}

function certRows(certs) {
  return certs.map((c) => h('tr', {},
    h('td', {}, certLink(c)), h('td', {}, stateBadge(c.status)),
    h('td', {}, h('a', { href: `/requests/${c.request_id}` }, `#${c.request_id}`)),
    h('td', {}, c.member_name), h('td', {}, c.specification), h('td', {}, c.replaces || ''),
    h('td', {}, downloads(c))));
}

function certTable(caption, certs) {
  return table(caption, ['Certificate', 'Status', 'Request', 'Member', 'Specification', 'Replaces', 'Documents'],
    certRows(certs));
}

// A run file's bytes sent as the body of PUT /api/v1/runs/NAME (not JSON: api() is for JSON).
async function uploadRun(file, name) {
  const token = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  const resp = await fetch(`/api/v1/runs/${encodeURIComponent(name)}`, {
    method: 'PUT', body: file, credentials: 'same-origin', cache: 'no-store',
    headers: { 'Content-Type': 'application/x-hdf5', 'X-CSRF-Token': token, Accept: 'application/json' },
  });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((data && data.error && data.error.message) || `HTTP ${resp.status}`);
  return data;
}

// The runs and certificates part of request `r`'s page.
export async function requestRunsAndCertificates(r, ui) {
  const [{ runs }, { certificates }] = await Promise.all([
    api('GET', `/requests/${r.id}/runs`), api('GET', `/requests/${r.id}/certificates`)]);
  const parts = [];
  parts.push(h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Test runs'),
    runs.length === 0 ? h('p', { id: 'no-runs' }, 'No test runs linked yet.')
      : table('Runs linked to the items', ['Run', 'Items', 'Specimens', 'SHA-256', 'Raw file'],
        runs.map((run) => h('tr', {}, h('td', {}, run.run_id), h('td', {}, run.items.join(', ')),
          h('td', {}, run.specimens), h('td', { class: 'hash' }, run.sha256.slice(0, 16) + '…'),
          h('td', {}, h('a', { href: `/api/v1/runs/${run.id}/file`, download: run.name }, run.name)))))));
  parts.push(h('section', { 'aria-labelledby': 'certs-h' }, h('h2', { id: 'certs-h' }, 'Certificates'),
    certificates.length === 0 ? h('p', { id: 'no-certs' }, 'No certificate yet.')
      : certTable('Certificates of this request', certificates)));
  if (STAFF.includes(ui.me.role) && ['items received', 'testing'].includes(r.state)) parts.push(await runForms(r, ui));
  if (STAFF.includes(ui.me.role) && ['testing', 'reviewing'].includes(r.state) && runs.length > 0) {
    parts.push(await certifyForm(r, ui));
  }
  return parts;
}

async function runForms(r, ui) {
  const { runs } = await api('GET', '/runs');
  const free = runs.filter((run) => run.request_id === null);
  const link = h('form', { id: 'link-form', novalidate: true },
    field('Run file', 'run', { type: 'select', required: true,
      options: [['', free.length ? 'Choose a run…' : 'No unlinked run: upload one below'],
        ...free.map((run) => [String(run.id), `${run.name} (${run.specimens} specimens)`])] }),
    h('button', { type: 'submit' }, 'Link to every item of this request'));
  link.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!link.elements.run.value) {
      ui.sayError('Choose the run to link.');
      link.elements.run.focus();
      return;
    }
    try {
      await api('POST', `/requests/${r.id}/runs`, { run: Number(link.elements.run.value) });
      ui.flash(`Run linked to request #${r.id}.`);
      window.location.assign(`/requests/${r.id}`);
    } catch (e) {
      ui.sayError(ui.errorText(e));
    }
  });
  const upload = h('form', { id: 'upload-form', novalidate: true },
    field('Run file (HDF5)', 'file', { type: 'file', required: true, accept: '.h5' }),
    field('Name to store it under', 'name', { required: true, hint: 'lower-case letters, digits, . _ -, ending in .h5' }),
    h('button', { type: 'submit' }, 'Upload'));
  upload.elements.file.addEventListener('change', () => {
    const f = upload.elements.file.files[0];
    if (f && !upload.elements.name.value) upload.elements.name.value = f.name.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  });
  upload.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = upload.elements.file.files[0];
    const name = upload.elements.name.value.trim();
    if (!f || !name) {
      ui.sayError('Choose the run file and the name to store it under.');
      (f ? upload.elements.name : upload.elements.file).focus();
      return;
    }
    ui.say('Uploading and checking the run file…');
    try {
      const run = await uploadRun(f, name);
      ui.flash(`${run.name} stored (${run.specimens} specimens); link it below.`);
      window.location.assign(`/requests/${r.id}`);
    } catch (e) {
      ui.sayError(`${e.message}. Nothing was stored.`);
    }
  });
  return h('section', { 'aria-labelledby': 'link-h' }, h('h2', { id: 'link-h' }, 'Link a run'), link,
    h('h3', {}, 'Upload a run file'), upload);
}

async function certifyForm(r, ui) {
  const { specifications } = await api('GET', '/specifications');
  const form = h('form', { id: 'certify-form', novalidate: true },
    field('Specification', 'specification', { type: 'select', required: true,
      options: [['', 'Choose a specification…'], ...specifications.map((s) => [s, s])] }),
    h('button', { type: 'submit' }, 'Certify the linked runs'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const spec = form.elements.specification.value;
    if (!spec) {
      ui.sayError('Choose the specification to certify by.');
      form.elements.specification.focus();
      return;
    }
    ui.say('Certifying…');
    try {
      const c = await api('POST', `/requests/${r.id}/certify`, { specification: spec });
      ui.flash(`${c.certificate} drafted; it waits for review.`);
      window.location.assign(`/certificates/${c.number}`);
    } catch (e) {
      ui.sayError(ui.errorText(e));
    }
  });
  return h('section', { 'aria-labelledby': 'certify-h' }, h('h2', { id: 'certify-h' }, 'Certify'), form);
}

export async function certificatesPage(ui) {
  const { certificates } = await api('GET', '/certificates');
  ui.show(ui.me.role === 'member' ? 'Our certificates' : 'Certificates',
    certificates.length === 0 ? h('p', { id: 'no-certs' }, 'No certificates yet.')
      : certTable('Certificates', certificates));
}

function actionButton(id, label, c, path, ui, body = null, doneText = '') {
  const form = h('form', { id, novalidate: true },
    body ? field(body, 'reason', { type: 'textarea', required: true, maxlength: 400 }) : null,
    h('button', { type: 'submit' }, label));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let payload;
    if (body) {
      const reason = form.elements.reason.value.trim();
      if (!reason) {
        ui.sayError('Give the reason; it is recorded and the member reads it.');
        form.elements.reason.focus();
        return;
      }
      payload = { reason };
    }
    try {
      const out = await api('POST', `/certificates/${c.number}/${path}`, payload);
      ui.flash(doneText || `${out.certificate} is ${out.status}.`);
      window.location.assign(`/certificates/${out.number}`);
    } catch (e) {
      ui.sayError(ui.errorText(e));
    }
  });
  return form;
}

export async function certificatePage(number, ui) {
  let c;
  try {
    c = await api('GET', `/certificates/${number}`);
  } catch (e) {
    if (e.status === 404) {
      ui.notFoundPage(`There is no certificate number ${number} that you may see.`);
      return;
    }
    throw e;
  }
  const role = ui.me.role;
  const actions = [];
  const needsKey = !ui.me.signing_key_unlocked && ['reviewer', 'authorizer'].includes(role);
  if (c.status === 'draft' && role === 'reviewer') actions.push(actionButton('review-form', 'Review and sign', c, 'review', ui));
  if (c.status === 'reviewed' && role === 'authorizer') {
    actions.push(actionButton('authorize-form', 'Authorize and issue', c, 'authorize', ui));
  }
  if (c.status === 'issued' && ['reviewer', 'authorizer', 'admin'].includes(role)) {
    actions.push(h('h3', {}, 'Revise'), actionButton('revise-form', 'Draft a revision', c, 'revise', ui, 'Reason for the revision'));
  }
  if (c.status === 'issued' && role === 'authorizer') {
    actions.push(h('h3', {}, 'Withdraw'), actionButton('withdraw-form', 'Withdraw the certificate', c, 'withdraw', ui, 'Reason for the withdrawal'));
  }
  ui.show(c.certificate,
    h('p', {}, 'Status: ', h('span', { id: 'cert-status' }, stateBadge(c.status))),
    ui.detailList([
      ['Request', h('a', { href: `/requests/${c.request_id}` }, `#${c.request_id}`)], ['Member', c.member_name],
      ['Specification', c.specification], ['Replaces', c.replaces], ['Drafted', `${c.drafted_at} by ${c.drafted_by}`],
      ['Reviewed by', c.reviewed_by], ['Authorized by', c.authorized_by], ['Issued', c.issued_at], ['Reason', c.reason],
    ]),
    h('p', {}, 'Documents: ', downloads(c)),
    needsKey ? h('p', { id: 'no-key', class: 'hint' }, 'Your personal signing key is not unlocked in this session: log out and in again. An admin’s password reset gives you a new key.') : null,
    actions.length ? h('section', { 'aria-labelledby': 'actions-h' }, h('h2', { id: 'actions-h' }, 'Actions'), actions) : null);
}
