// complaints.js — complaints in the web interface (ISO/IEC 17025 7.9): a member contact files one
// about a certificate of one of its company's requests and follows its state and history; lab
// staff list them all, acknowledge, record the investigation and (reviewers, authorizers, admins)
// close them with the outcome. What a user may see is decided by the API's scope: another
// company's complaint reads as not found.
import { api } from './api.js';
import { h, field, table, stateBadge, requireFilled } from './dom.js';

const CLOSE_ROLES = ['reviewer', 'authorizer', 'admin'];

// /complaints: the member's own company's complaints, or every member's for lab staff.
async function complaintsPage(ui) {
  const { complaints } = await api('GET', '/complaints');
  const member = ui.me.role === 'member';
  const rows = complaints.map((c) => h('tr', {},
    h('td', {}, h('a', { href: `/complaints/${c.id}` }, `#${c.id}`)),
    h('td', {}, c.certificate_number || '—'),
    h('td', {}, h('a', { href: `/requests/${c.request_id}` }, `#${c.request_id}`)),
    h('td', {}, c.subject),
    h('td', {}, stateBadge(c.state)),
    h('td', {}, c.filed_at.slice(0, 10))));
  ui.show(member ? `Complaints of ${ui.me.member_name}` : 'All complaints',
    member ? h('p', {}, h('a', { href: '/complaints/new', class: 'button' }, 'File a complaint')) : null,
    complaints.length
      ? table(member ? 'Your company’s complaints' : 'Every member’s complaints',
        ['Complaint', 'Certificate', 'Request', 'Subject', 'State', 'Filed'], rows)
      : h('p', { id: 'no-complaints' }, 'No complaints.'));
}

// /complaints/new: members only; the request is one of the company's own (the API checks it too).
async function newComplaintPage(ui) {
  if (ui.me.role !== 'member') {
    ui.show('File a complaint', h('p', {}, 'Complaints are filed by the member companies’ contacts.'));
    return;
  }
  const { requests } = await api('GET', '/requests');
  if (!requests.length) {
    ui.show('File a complaint', h('p', { id: 'no-requests' }, 'Your company has no test requests to complain about.'));
    return;
  }
  const form = h('form', { id: 'complaint-form', novalidate: true },
    field('Request', 'request_id', {
      type: 'select', required: true,
      options: requests.map((r) => [r.id, `#${r.id} — ${r.material} (${r.state})`]),
    }),
    field('Certificate number', 'certificate_number', {
      maxlength: 20, autocapitalize: 'characters', placeholder: 'CERT-000000',
      hint: 'As printed on the certificate, e.g. CERT-000042. Leave empty when the complaint is not about a certificate.',
    }),
    field('Subject', 'subject', { required: true, maxlength: 200 }),
    field('What is wrong', 'description', { type: 'textarea', required: true, maxlength: 4000, rows: 6 }),
    h('button', { type: 'submit' }, 'File complaint'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const body = {
      request_id: parseInt(f.request_id.value, 10),
      subject: f.subject.value.trim(),
      description: f.description.value.trim(),
    };
    const cert = f.certificate_number.value.trim().toUpperCase();
    if (cert) body.certificate_number = cert;
    if (!requireFilled(form, [['subject', 'Subject'], ['description', 'What is wrong']], ui.sayError)) return;
    try {
      const c = await api('POST', '/complaints', body);
      ui.flash(`Complaint #${c.id} filed.`);
      window.location.assign(`/complaints/${c.id}`);
    } catch (e) {
      ui.sayError(ui.errorText(e));
      ui.markField(form, e);
    }
  });
  ui.show('File a complaint', h('p', {}, 'Fields marked required must be filled in. The laboratory answers every step by e-mail.'), form);
  form.elements.request_id.focus();
}

// One step form: a text field and a button posting {name: text} to /complaints/{id}/{step}.
function stepForm(ui, c, { id, heading, step, name, label, required, button, done }) {
  const form = h('form', { id, novalidate: true },
    field(label, name, { type: 'textarea', required, maxlength: 4000 }),
    h('button', { type: 'submit' }, button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (required && !requireFilled(form, [[name, label]], ui.sayError)) return;
    const text = form.elements[name].value.trim();
    try {
      await api('POST', `/complaints/${c.id}/${step}`, text ? { [name]: text } : {});
      ui.flash(`Complaint #${c.id} ${done}.`);
      window.location.assign(`/complaints/${c.id}`);
    } catch (e) {
      ui.sayError(ui.errorText(e));
      ui.markField(form, e);
    }
  });
  return h('section', { 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, heading), form);
}

// /complaints/{id}: the complaint, its history and the lab's next steps.
async function complaintPage(ui, id) {
  let c;
  try {
    c = await api('GET', `/complaints/${id}`);
  } catch (e) {
    if (e.status === 404) {
      ui.notFoundPage(`There is no complaint #${id} that you may see.`);
      return;
    }
    throw e;
  }
  const parts = [
    h('p', {}, 'State: ', h('span', { id: 'complaint-state' }, stateBadge(c.state))),
    ui.detailList([
      ['Certificate', c.certificate_number], ['Request', h('a', { href: `/requests/${c.request_id}` }, `#${c.request_id}`)],
      ['Subject', c.subject], ['What is wrong', c.description], ['Filed by', c.filed_by], ['Filed', c.filed_at],
      ['Outcome', c.outcome],
    ]),
    h('section', { 'aria-labelledby': 'history-h' }, h('h2', { id: 'history-h' }, 'History'),
      h('ol', { id: 'history' }, c.history.map((e) => h('li', {}, `${e.at} — ${e.action} by ${e.by}${e.detail ? ': ' + e.detail : ''}`)))),
  ];
  const staff = ui.me.role !== 'member';
  const open = c.state === 'acknowledged' || c.state === 'investigating';
  if (staff && c.state === 'received') {
    parts.push(stepForm(ui, c, { id: 'acknowledge-form', heading: 'Acknowledge', step: 'acknowledge', name: 'note',
      label: 'Note to the member (optional)', required: false, button: 'Acknowledge complaint', done: 'acknowledged' }));
  }
  if (staff && open) {
    parts.push(stepForm(ui, c, { id: 'investigation-form', heading: 'Record the investigation', step: 'investigation',
      name: 'findings', label: 'Findings', required: true, button: 'Record findings', done: 'findings recorded' }));
  }
  if (open && CLOSE_ROLES.includes(ui.me.role)) {
    parts.push(stepForm(ui, c, { id: 'close-form', heading: 'Close', step: 'close', name: 'outcome',
      label: 'Outcome (the record of how it was resolved)', required: true, button: 'Close complaint', done: 'closed' }));
  }
  ui.show(`Complaint #${c.id}`, ...parts);
}

// The pages this module adds: [address pattern, page function(ui, ...captures)].
export const complaintPages = [
  [/^\/complaints$/, complaintsPage],
  [/^\/complaints\/new$/, newComplaintPage],
  [/^\/complaints\/([1-9][0-9]{0,14})$/, complaintPage],
];
