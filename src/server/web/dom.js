// dom.js — building the pages' elements from data without ever parsing it as HTML (text is set
// as text, so a material named "<script>" stays a name), and the form controls with their labels.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let fieldCount = 0;

// One labelled input (or textarea/select): returns the wrapper; the control has the given name.
export function field(label, name, { type = 'text', required = false, hint = '', options = null, ...attrs } = {}) {
  const id = `f-${name}-${++fieldCount}`;
  const hintId = hint ? id + '-hint' : null;
  let control;
  if (type === 'textarea') {
    control = h('textarea', { id, name, required, 'aria-describedby': hintId, rows: 3, ...attrs });
  } else if (type === 'select') {
    control = h('select', { id, name, required, 'aria-describedby': hintId, ...attrs },
      options.map(([value, text]) => h('option', { value }, text)));
  } else {
    control = h('input', { id, name, type, required, 'aria-describedby': hintId, ...attrs });
  }
  if (type === 'checkbox') {
    return h('div', { class: 'field check' }, control,
      h('label', { for: id }, label, required ? h('span', { class: 'req' }, ' (required)') : null),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
  }
  return h('div', { class: 'field' }, h('label', { for: id }, label, required ? h('span', { class: 'req' }, ' (required)') : null),
    control, hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
}

export function table(caption, headers, rows) {
  return h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', {}, h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

export function stateBadge(state) {
  return h('span', { class: `state state-${state}` }, state);
}

// Whether every one of `fields` ([name, label]) of `form` is filled in; the first empty one is
// said through `sayError`, marked (aria-invalid) and given the focus.
export function requireFilled(form, fields, sayError) {
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  for (const [name, label] of fields) {
    const el = form.elements[name];
    if (!el.value.trim()) {
      sayError(`Fill in “${label}”.`);
      el.setAttribute('aria-invalid', 'true');
      el.focus();
      return false;
    }
  }
  return true;
}
