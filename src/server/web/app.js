// app.js — the lab server's web interface: reads the page's address, asks the JSON API for what
// the page shows (as the logged-in user; the server decides what that user may see) and renders
// it. Pages: login, requests (a member's own company's; all of them for lab staff), a new request,
// one request with its history (and the review forms for reviewers), accounts for admins; the
// test station's pages are station.js's.
import { api, ApiError, markLoggedIn, setCsrfToken } from './api.js';
import { itemPages, itemsSection } from './items.js';
import { complaintPages } from './complaints.js';
import { h, field, table, stateBadge } from './dom.js';
import { requestRunsAndCertificates, certificatesPage, certificatePage } from './certs.js';
import { stationsPage, seriesPage } from './station.js';

const main = document.getElementById('main');
const alertBox = document.getElementById('alert');
const statusBox = document.getElementById('status');
const REVIEW_ROLES = ['reviewer', 'authorizer', 'admin'];
const CONTRACT_POINTS = [
  ['requirements_defined', 'The member’s requirements (material, specification, methods) are defined and understood'],
  ['methods_appropriate', 'The methods are appropriate and the lab is accredited for them'],
  ['capability_and_resources', 'The lab has the capability and resources (instruments, staff, time)'],
  ['due_date_feasible', 'The due date can be met'],
  ['subcontracting', 'Part of the work is subcontracted, and the member has been told'],
];

let me = null;

function say(msg) {
  alertBox.textContent = '';
  statusBox.textContent = msg;
}

function sayError(msg) {
  statusBox.textContent = '';
  alertBox.textContent = msg;
}

function clearMessages() {
  alertBox.textContent = '';
  statusBox.textContent = '';
}

// A message that survives the move to the next page (e.g. "request 3 submitted").
function flash(msg) {
  sessionStorage.setItem('flash', msg);
}

// What the page modules items.js and complaints.js use of this one (functions declared below).
const moduleUi = { say, sayError, flash, show, errorText, markField, detailList, notFoundPage, get me() { return me; } };

function show(title, ...content) {
  document.title = `${title} — polydaq lab`;
  main.replaceChildren(h('h1', {}, title), ...content.filter(Boolean)); // parts a page leaves out are null
  main.focus();
}

function errorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 429) return `Too many failed logins. Wait ${e.retryAfter || 'a few'} s before the next try.`;
    if (e.code === 'csrf') return 'This page’s security token was not accepted, so nothing was changed. Reload the page and try again.';
    return e.message.charAt(0).toUpperCase() + e.message.slice(1) + '.';
  }
  return String(e);
}

// Marks the field the API's message names ("field 'due_date': …") and moves the focus to it.
function markField(form, e) {
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  const m = /field '([a-z_]+)/.exec(e.message || '');
  const el = m && form.querySelector(`[name="${m[1]}"]`);
  if (el) {
    el.setAttribute('aria-invalid', 'true');
    el.focus();
  }
}

function renderNav() {
  const nav = document.getElementById('nav');
  if (!me) {
    nav.replaceChildren();
    return;
  }
  const links = [h('a', { href: '/requests' }, me.role === 'member' ? 'Our requests' : 'All requests')];
  if (me.role === 'member') links.push(h('a', { href: '/requests/new' }, 'New request'));
  links.push(h('a', { href: '/certificates' }, 'Certificates'));
  if (me.role !== 'member') links.push(h('a', { href: '/stations' }, 'Test stations'));
  if (me.role === 'admin') links.push(h('a', { href: '/admin' }, 'Users and members'));
  links.splice(me.role === 'member' ? 2 : 1, 0, h('a', { href: '/complaints' }, 'Complaints'));
  const who = `${me.name} (${me.role}${me.member_name ? ', ' + me.member_name : ''})`;
  nav.replaceChildren(...links, h('span', { class: 'who' }, who),
    h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'));
}

async function logout() {
  try {
    await api('DELETE', '/session');
  } catch (e) {
    /* the session may be gone already: the login page follows either way */
  }
  markLoggedIn(false);
  window.location.assign('/login?bye=1');
}

// ---- Login -------------------------------------------------------------------------------------
function loginPage() {
  const params = new URLSearchParams(window.location.search);
  const form = h('form', { id: 'login-form', novalidate: true },
    field('Login', 'login', { required: true, autocomplete: 'username', autocapitalize: 'none' }),
    field('Password', 'password', { type: 'password', required: true, autocomplete: 'current-password' }),
    h('button', { type: 'submit' }, 'Log in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const login = form.elements.login.value.trim();
    const password = form.elements.password.value;
    if (!login || !password) {
      sayError('Enter your login and your password.');
      (login ? form.elements.password : form.elements.login).focus();
      return;
    }
    try {
      const r = await api('POST', '/session', { login, password }, { loginCall: true });
      setCsrfToken(r.user.csrf_token);
      markLoggedIn(true);
      window.location.assign('/requests');
    } catch (e) {
      form.elements.password.value = '';
      sayError(e.status === 401 ? 'Wrong login or password.' : errorText(e));
      form.elements.password.focus();
    }
  });
  show('Log in', form);
  if (params.get('expired')) sayError('Your session has ended; please log in again.');
  else if (params.get('bye')) say('You are logged out.');
  form.elements.login.focus();
}

// ---- Requests ----------------------------------------------------------------------------------
async function requestsPage() {
  const { requests } = await api('GET', '/requests');
  const staff = me.role !== 'member';
  const rows = requests.map((r) => h('tr', {},
    h('td', {}, h('a', { href: `/requests/${r.id}` }, `#${r.id}`)),
    staff ? h('td', {}, r.member_name) : null,
    h('td', {}, r.material),
    h('td', {}, stateBadge(r.state)),
    h('td', {}, r.due_date),
    h('td', {}, (r.submitted_at || '').slice(0, 10))));
  const headers = ['Request', ...(staff ? ['Member'] : []), 'Material', 'State', 'Due', 'Submitted'];
  show(staff ? 'All test requests' : `Test requests of ${me.member_name}`,
    me.role === 'member' ? h('p', {}, h('a', { href: '/requests/new', class: 'button' }, 'Submit a new request')) : null,
    requests.length ? table(staff ? 'Every member’s requests' : 'Your company’s requests', headers, rows)
      : h('p', { id: 'no-requests' }, 'No test requests yet.'));
}

function newRequestPage() {
  if (me.role !== 'member') {
    show('New request', h('p', {}, 'Test requests are submitted by the member companies’ contacts.'));
    return;
  }
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const form = h('form', { id: 'request-form', novalidate: true },
    field('Material', 'material', { required: true, maxlength: 200, hint: 'Grade and supplier, e.g. "PP homopolymer HP500N, Acme batch 42".' }),
    field('Specification', 'specification', { maxlength: 200, hint: 'The product specification to test against, if any.' }),
    field('Methods', 'methods', { hint: 'Test methods separated by commas, e.g. "ISO 527-2, ISO 179-1". A specification or methods is needed.' }),
    field('Number of specimens', 'specimens', { type: 'number', required: true, min: 1, max: 1000, value: 5 }),
    field('Conditioning', 'conditioning', { maxlength: 200, hint: 'e.g. "ISO 291, 23 °C / 50 % r.h., 88 h".' }),
    field('Due date', 'due_date', { type: 'date', required: true, min: tomorrow }),
    field('Your reference', 'customer_reference', { maxlength: 100 }),
    field('Notes', 'notes', { type: 'textarea', maxlength: 4000 }),
    h('fieldset', {}, h('legend', {}, 'Decision rule'),
      h('p', { id: 'decision-rule' }, me.decision_rule),
      field('I agree that conformity statements use this decision rule', 'decision_rule_agreed', { type: 'checkbox', required: true })),
    h('button', { type: 'submit' }, 'Submit request'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const body = {
      material: f.material.value.trim(),
      specimens: parseInt(f.specimens.value, 10),
      due_date: f.due_date.value,
      decision_rule_agreed: f.decision_rule_agreed.checked,
    };
    const methods = f.methods.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (methods.length) body.methods = methods;
    for (const k of ['specification', 'conditioning', 'customer_reference', 'notes']) {
      if (f[k].value.trim()) body[k] = f[k].value.trim();
    }
    if (!body.decision_rule_agreed) {
      sayError('Agree to the decision rule to submit the request.');
      f.decision_rule_agreed.focus();
      return;
    }
    if (Number.isNaN(body.specimens)) body.specimens = 0;
    try {
      const r = await api('POST', '/requests', body);
      flash(`Request #${r.id} submitted.`);
      window.location.assign(`/requests/${r.id}`);
    } catch (e) {
      sayError(errorText(e));
      markField(form, e);
    }
  });
  show('New test request', h('p', {}, 'Fields marked required must be filled in.'), form);
  form.elements.material.focus();
}

function detailList(pairs) {
  return h('dl', { class: 'details' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function requestPage(id) {
  let r;
  try {
    r = await api('GET', `/requests/${id}`);
  } catch (e) {
    if (e.status === 404) {
      notFoundPage(`There is no request #${id} that you may see.`);
      return;
    }
    throw e;
  }
  const review = r.contract_review
    ? h('section', { 'aria-labelledby': 'review-h' }, h('h2', { id: 'review-h' }, 'Contract review'),
      h('ul', { id: 'review-points' }, CONTRACT_POINTS.map(([k, text]) => h('li', {}, `${r.contract_review[k] ? 'Yes' : 'No'} — ${text}`))),
      r.contract_review.comments ? h('p', {}, r.contract_review.comments) : null)
    : null;
  const history = h('section', { 'aria-labelledby': 'history-h' }, h('h2', { id: 'history-h' }, 'History'),
    h('ol', { id: 'history' }, r.history.map((e) => h('li', {}, `${e.at} — ${e.action} by ${e.by}${e.detail ? ': ' + e.detail : ''}`))));
  const parts = [
    h('p', {}, 'State: ', h('span', { id: 'request-state' }, stateBadge(r.state))),
    detailList([
      ['Member', r.member_name], ['Submitted by', r.submitted_by], ['Material', r.material],
      ['Specification', r.specification], ['Methods', (r.methods || []).join(', ')], ['Specimens', r.specimens],
      ['Conditioning', r.conditioning], ['Due date', r.due_date], ['Reference', r.customer_reference],
      ['Notes', r.notes], ['Decision rule (agreed)', r.decision_rule], ['Submitted', r.submitted_at],
      ['Decided by', r.decided_by], ['Decided', r.decided_at], ['Reason for rejection', r.reject_reason],
    ]),
    review, history,
  ];
  parts.push(...await itemsSection(moduleUi, r));
  if (r.state === 'submitted' && REVIEW_ROLES.includes(me.role)) parts.push(...reviewForms(r));
  parts.push(...await requestRunsAndCertificates(r, ui()));
  show(`Request #${r.id}`, ...parts);
}

function reviewForms(r) {
  const accept = h('form', { id: 'accept-form', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'Contract review points (ISO/IEC 17025 7.1)'),
      CONTRACT_POINTS.map(([k, text]) => field(text, k, { type: 'checkbox' }))),
    field('Comments', 'comments', { type: 'textarea', maxlength: 4000 }),
    h('button', { type: 'submit' }, 'Accept request'));
  accept.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const points = {};
    for (const [k] of CONTRACT_POINTS) points[k] = accept.elements[k].checked;
    const body = { contract_review: points };
    if (accept.elements.comments.value.trim()) body.comments = accept.elements.comments.value.trim();
    try {
      await api('POST', `/requests/${r.id}/accept`, body);
      flash(`Request #${r.id} accepted.`);
      window.location.assign(`/requests/${r.id}`);
    } catch (e) {
      sayError(errorText(e));
      markField(accept, e);
    }
  });
  const reject = h('form', { id: 'reject-form', novalidate: true },
    field('Reason for rejection', 'reason', { type: 'textarea', required: true, maxlength: 4000 }),
    h('button', { type: 'submit' }, 'Reject request'));
  reject.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const reason = reject.elements.reason.value.trim();
    if (!reason) {
      sayError('Give the reason for the rejection; the member will read it.');
      reject.elements.reason.focus();
      return;
    }
    try {
      await api('POST', `/requests/${r.id}/reject`, { reason });
      flash(`Request #${r.id} rejected.`);
      window.location.assign(`/requests/${r.id}`);
    } catch (e) {
      sayError(errorText(e));
      markField(reject, e);
    }
  });
  return [
    h('section', { 'aria-labelledby': 'accept-h' }, h('h2', { id: 'accept-h' }, 'Accept'), accept),
    h('section', { 'aria-labelledby': 'reject-h' }, h('h2', { id: 'reject-h' }, 'Reject'), reject),
  ];
}

// ---- Accounts (admins) -------------------------------------------------------------------------
async function adminPage() {
  if (me.role !== 'admin') {
    notFoundPage('Accounts are managed by the lab’s admins.');
    return;
  }
  const [{ members }, { users }] = await Promise.all([api('GET', '/members'), api('GET', '/users')]);
  const reload = (msg) => { flash(msg); window.location.assign('/admin'); };
  const memberForm = h('form', { id: 'member-form', novalidate: true },
    field('Company name', 'name', { required: true, maxlength: 200 }), h('button', { type: 'submit' }, 'Add member'));
  memberForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const m = await api('POST', '/members', { name: memberForm.elements.name.value.trim() });
      reload(`Member ${m.name} added.`);
    } catch (e) { sayError(errorText(e)); markField(memberForm, e); }
  });
  const roles = ['member', 'technician', 'reviewer', 'authorizer', 'admin'].map((r) => [r, r]);
  const userForm = h('form', { id: 'user-form', novalidate: true },
    field('Login', 'login', { required: true, maxlength: 64, autocapitalize: 'none', hint: 'Lower-case letters, digits, ".", "_" and "-".' }),
    field('Full name', 'name', { required: true, maxlength: 200 }),
    field('Role', 'role', { type: 'select', required: true, options: roles }),
    field('Member company (for role member)', 'member_id', { type: 'select', options: [['', '—'], ...members.map((m) => [m.id, m.name])] }),
    field('Initial password', 'password', { type: 'password', required: true, minlength: 12, autocomplete: 'new-password', hint: 'At least 12 characters; tell it to the person by another channel.' }),
    h('button', { type: 'submit' }, 'Add user'));
  userForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = userForm.elements;
    const body = { login: f.login.value.trim(), name: f.name.value.trim(), role: f.role.value, password: f.password.value };
    if (f.member_id.value) body.member_id = parseInt(f.member_id.value, 10);
    try {
      const u = await api('POST', '/users', body);
      reload(`User ${u.login} added.`);
    } catch (e) { sayError(errorText(e)); markField(userForm, e); }
  });
  const userRows = users.map((u) => {
    const pw = h('form', { class: 'inline', novalidate: true },
      field(`New password for ${u.login}`, 'password', { type: 'password', minlength: 12, autocomplete: 'new-password' }),
      h('button', { type: 'submit' }, 'Reset password'));
    pw.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', `/users/${u.id}/password`, { password: pw.elements.password.value });
        reload(`Password of ${u.login} reset; their sessions have ended.`);
      } catch (e) { sayError(errorText(e)); markField(pw, e); }
    });
    const disable = h('button', {
      type: 'button',
      'aria-label': `Disable ${u.login}`,
      onclick: async () => {
        if (!window.confirm(`Disable the login ${u.login}? Their sessions end now.`)) return;
        try {
          await api('POST', `/users/${u.id}/disable`);
          reload(`User ${u.login} disabled.`);
        } catch (e) { sayError(errorText(e)); }
      },
    }, 'Disable');
    return h('tr', {}, h('td', {}, u.login), h('td', {}, u.name), h('td', {}, u.role),
      h('td', {}, u.member_name || ''), h('td', {}, u.disabled ? 'disabled' : ['active ', disable]),
      h('td', {}, u.disabled ? '' : pw));
  });
  show('Users and members',
    table('Member companies', ['Id', 'Name', 'Since'], members.map((m) => h('tr', {}, h('td', {}, m.id), h('td', {}, m.name), h('td', {}, m.created_at.slice(0, 10))))),
    h('section', { 'aria-labelledby': 'add-member-h' }, h('h2', { id: 'add-member-h' }, 'Add a member company'), memberForm),
    table('Users', ['Login', 'Name', 'Role', 'Member', 'State', 'Password'], userRows),
    h('section', { 'aria-labelledby': 'add-user-h' }, h('h2', { id: 'add-user-h' }, 'Add a user'), userForm));
}

function notFoundPage(msg) {
  show('Not found', h('p', { id: 'not-found' }, msg), h('p', {}, h('a', { href: '/requests' }, 'Back to the requests')));
}

// What the pages of certs.js use of this one.
function ui() {
  return { me, say, sayError, flash, show, errorText, notFoundPage, detailList };
}

// The station pages (station.js) use the page's messages and helpers.
function stationUi() {
  return { me, show, say, sayError, clearMessages, flash, errorText, markField };
}

// ---- The address decides the page --------------------------------------------------------------
async function route() {
  const path = window.location.pathname;
  if (path === '/login') {
    loginPage();
    return;
  }
  try {
    me = (await api('GET', '/me')).user;
  } catch (e) {
    if (e.status === 401) return; // sent to the login page by api()
    throw e;
  }
  setCsrfToken(me.csrf_token);
  renderNav();
  const modulePage = [...itemPages, ...complaintPages].find(([rx]) => rx.test(path));
  const m = /^\/requests\/([1-9][0-9]{0,14})$/.exec(path);
  const ms = /^\/series\/([1-9][0-9]{0,14})$/.exec(path);
  if (path === '/' || path === '/requests') await requestsPage();
  else if (path === '/requests/new') newRequestPage();
  else if (m) await requestPage(m[1]);
  else if (modulePage) await modulePage[1](moduleUi, ...modulePage[0].exec(path).slice(1));
  else if (path === '/admin') await adminPage();
  else if (path === '/certificates') await certificatesPage(ui());
  else if (/^\/certificates\/[1-9][0-9]{0,14}$/.test(path)) await certificatePage(path.split('/')[2], ui());
  else if (path === '/stations' && me.role !== 'member') await stationsPage(stationUi());
  else if (ms && me.role !== 'member') await seriesPage(stationUi(), ms[1]);
  else notFoundPage('There is no such page.');
  const msg = sessionStorage.getItem('flash');
  if (msg) {
    sessionStorage.removeItem('flash');
    say(msg);
  }
}

clearMessages();
route().catch((e) => {
  if (e instanceof ApiError && e.status === 401) return;
  show('Something went wrong', h('p', {}, errorText(e)));
  sayError(errorText(e));
});
