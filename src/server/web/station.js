// station.js — the test station's pages: /stations (the lab's instruments, a form that starts a
// series from a request's items, the recent series) and /series/{id} (the live view: the curve
// growing with the earlier specimens overlaid, the current values, the run's state, and for
// technicians the dimension form with the caliper, start / stop / abort / return, invalid marks
// and notes). Live data comes as Server-Sent Events (/api/v1/series/{id}/events) relayed by the
// server from the run; every action is a POST the server checks (role, CSRF) and passes to the run
// with the person's name. The curve is drawn by uPlot (npm, compiled in by the build); without it
// the page still shows values, state and controls.
import { api } from './api.js';
import { h, field, table } from './dom.js';

const RUN_STATES = {
  waiting_dims: 'waiting for dimensions',
  ready: 'ready to start',
  running: 'running',
  returning: 'returning',
  done: 'specimen done',
  finished: 'series finished',
};
const COLOURS = ['#1f3a5f', '#b3261e', '#1e7b34', '#8a4f00', '#6b3fa0', '#00707a', '#5a6270'];

function stylesheet(href) {
  if (!document.querySelector(`link[href="${href}"]`)) {
    document.head.append(h('link', { rel: 'stylesheet', href }));
  }
}

// ---- /stations ---------------------------------------------------------------------------------
export async function stationsPage(ui) {
  const [st, list, reqs] = await Promise.all([
    api('GET', '/stations'), api('GET', '/series'), api('GET', '/requests'),
  ]);
  const rows = st.stations.map((s) => h('tr', {},
    h('td', {}, s.name), h('td', {}, s.model || s.driver),
    h('td', {}, s.series_id ? h('a', { href: `/series/${s.series_id}` }, `busy: series ${s.series_id}`) : 'free'),
    h('td', {}, s.run_state ? `specimen ${s.run_state.specimen}: ${RUN_STATES[s.run_state.state] || s.run_state.state}` : '')));
  const parts = [
    st.note ? h('p', {}, st.note) : null,
    table('Stations', ['Instrument', 'Model', 'State', 'Run'], rows),
  ];
  if (ui.me.role === 'technician') parts.push(startForm(ui, st, reqs.requests || []));
  else parts.push(h('p', { id: 'viewer-only' }, 'Starting and driving a series is for technicians; you can watch any series.'));
  const srows = (list.series || []).map((s) => h('tr', {},
    h('td', {}, h('a', { href: `/series/${s.id}` }, `Series ${s.id}`)),
    h('td', {}, h('a', { href: `/requests/${s.request_id}` }, `Request ${s.request_id}`)),
    h('td', {}, s.instrument), h('td', {}, s.method), h('td', {}, s.state + (s.outcome ? ` (${s.outcome})` : '')),
    h('td', {}, s.started_by_name)));
  parts.push(table('Series', ['Series', 'Request', 'Instrument', 'Method', 'State', 'Started by'], srows));
  ui.show('Test stations', ...parts);
}

function startForm(ui, st, requests) {
  const ready = requests.filter((r) => r.state === 'items received' || r.state === 'testing');
  const free = st.stations.filter((s) => !s.series_id);
  const form = h('form', { id: 'start-form', novalidate: true });
  const items = h('fieldset', { id: 'items' }, h('legend', {}, 'Items (one specimen each)'), h('p', { class: 'hint' }, 'Choose a request first.'));
  const reqField = field('Request', 'request_id', {
    type: 'select', required: true,
    options: [['', '— choose —'], ...ready.map((r) => [String(r.id), `Request ${r.id}: ${r.material} (${r.member_name || ''})`])],
  });
  reqField.querySelector('select').addEventListener('change', async (ev) => {
    const id = ev.target.value;
    items.replaceChildren(h('legend', {}, 'Items (one specimen each)'));
    if (!id) return;
    try {
      const got = await api('GET', `/requests/${id}/items`);
      for (const it of got.items) {
        items.append(field(`${it.item_id} — ${it.description}`, 'item', { type: 'checkbox', value: it.item_id, checked: true }));
      }
      if (!got.items.length) items.append(h('p', {}, 'This request has no items yet.'));
    } catch (e) {
      ui.sayError(ui.errorText(e));
    }
  });
  form.append(
    reqField, items,
    field('Method', 'method', {
      required: true, value: free.length ? free[0].method || st.method : st.method,
      hint: 'As in the method files (config/methods), e.g. iso527; record for a monitoring station',
    }),
    field('Instrument', 'instrument', {
      type: 'select', required: true, options: free.map((s) => [s.name, `${s.name} (${s.model || s.driver})`]),
    }),
    field('Specimens', 'specimens', { type: 'number', min: 1, max: 1000, hint: 'Default: one per item chosen' }),
    field('Material', 'material', { hint: 'Default: the request’s material' }),
    h('button', { type: 'submit' }, 'Start the series'));
  // the chosen station's own method by default: a chamber records, a frame tests
  form.querySelector('select[name=instrument]').addEventListener('change', (ev) => {
    const s = free.find((x) => x.name === ev.target.value);
    if (s && s.method) form.querySelector('input[name=method]').value = s.method;
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    ui.clearMessages();
    const fd = new FormData(form);
    const body = {
      request_id: parseInt(fd.get('request_id') || '0', 10),
      item_ids: fd.getAll('item'),
      method: fd.get('method'),
      instrument: fd.get('instrument'),
    };
    if (fd.get('specimens')) body.specimens = parseInt(fd.get('specimens'), 10);
    if (fd.get('material')) body.material = fd.get('material');
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    ui.say('Starting the series (the run starts its instruments first)…');
    try {
      const s = await api('POST', '/series', body);
      ui.flash(`Series ${s.id} started on ${s.instrument}`);
      window.location.assign(`/series/${s.id}`);
    } catch (e) {
      button.disabled = false;
      ui.sayError(ui.errorText(e));
      ui.markField(form, e);
    }
  });
  return h('section', { 'aria-labelledby': 'start-h' }, h('h2', { id: 'start-h' }, 'Start a series'), form);
}

// ---- /series/{id}: the live view --------------------------------------------------------------
export async function seriesPage(ui, id) {
  const s = await api('GET', `/series/${id}`);
  const tech = ui.me.role === 'technician';
  stylesheet('/web/uplot.min.css');
  const live = {
    hello: null, specimen: 0, state: null, need: null, points: new Map(), plot: null, uPlot: null, redraw: false,
  };
  const stateBox = h('p', { id: 'run-state', role: 'status', 'aria-live': 'polite' }, s.live ? 'Connecting…' : `Series ${s.state}${s.outcome ? ' (' + s.outcome + ')' : ''}.`);
  const machineBox = h('p', { id: 'machine' }, '');
  const valuesList = h('dl', { id: 'values', class: 'details' });
  const plotBox = h('div', {
    id: 'plot', role: 'img', 'aria-label': 'The live curve', 'data-points': '0', 'data-points-total': '0', 'data-specimen': '0',
  });
  const log = h('ol', { id: 'event-log' });
  const parts = [
    h('dl', { class: 'details' },
      h('dt', {}, 'Request'), h('dd', {}, h('a', { href: `/requests/${s.request_id}` }, `Request ${s.request_id}`)),
      h('dt', {}, 'Items'), h('dd', {}, (s.items || []).join(', ')),
      h('dt', {}, 'Instrument'), h('dd', {}, s.instrument),
      h('dt', {}, 'Method'), h('dd', {}, `${s.method}, ${s.specimens} specimens`),
      h('dt', {}, 'Started by'), h('dd', {}, `${s.started_by_name} at ${s.started_at}`),
      h('dt', {}, 'Run file'), h('dd', { id: 'run-file' }, s.file || '—')),
    h('section', { 'aria-labelledby': 'live-h' }, h('h2', { id: 'live-h' }, 'Live'), stateBox, machineBox, plotBox,
      h('h3', {}, 'Current values'), valuesList),
  ];
  let dimsSection = null;
  if (tech) {
    dimsSection = h('section', { id: 'dims', 'aria-labelledby': 'dims-h', hidden: true });
    parts.push(dimsSection, controls(ui, id, live));
  } else {
    parts.push(h('p', { id: 'viewer-only' }, 'You are watching this series (viewer only): the technician drives it.'));
  }
  parts.push(h('section', { 'aria-labelledby': 'log-h' }, h('h2', { id: 'log-h' }, 'Events'), log));
  // The server's record of every action, with the person (as of loading the page).
  parts.push(table('History', ['When', 'Who', 'Action', 'Detail'], (s.history || []).map((e) => h('tr', {},
    h('td', {}, e.at), h('td', {}, e.by_name), h('td', {}, e.action), h('td', {}, e.detail)))));
  ui.show(`Series ${id} on ${s.instrument}`, ...parts);
  try {
    live.uPlot = (await import('/web/uplot.esm.js')).default;
  } catch (e) {
    plotBox.append(h('p', {}, 'The curve cannot be drawn (the plotting library is not built in); values and state follow.'));
  }
  if (!s.live && !s.file) return; // an ended series' stream replays its run file's curves, then ends

  const es = new EventSource(`/api/v1/series/${id}/events`);
  es.onmessage = (msg) => {
    let ev;
    try {
      ev = JSON.parse(msg.data);
    } catch (e) {
      return;
    }
    onEvent(ui, live, ev, { stateBox, machineBox, valuesList, plotBox, log, dimsSection, id });
    if (ev.type === 'end') es.close();
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) stateBox.textContent = 'The live view has ended; reload the page to see the series’ state.';
  };
  window.addEventListener('pagehide', () => es.close());
}

function addLog(log, text) {
  log.append(h('li', {}, text));
}

function onEvent(ui, live, ev, el) {
  switch (ev.type) {
    case 'hello': // the start of the picture (also after a reconnect): everything is rebuilt
      live.hello = ev;
      live.points = new Map();
      el.log.replaceChildren();
      if (ev.file) document.getElementById('run-file').textContent = ev.file;
      live.plot = null;
      el.plotBox.querySelectorAll('.uplot').forEach((n) => n.remove());
      break;
    case 'state': {
      live.state = ev;
      live.specimen = ev.specimen;
      const st = RUN_STATES[ev.state] || ev.state;
      const what = live.hello && live.hello.method === 'record' ? 'Recording' : `Specimen ${ev.specimen}`;
      el.stateBox.textContent = `${what}: ${st}` + (ev.outcome ? ` (${ev.outcome})` : '');
      el.machineBox.textContent = `Machine: ${ev.machine}`;
      el.stateBox.dataset.state = ev.state;
      el.machineBox.dataset.machine = ev.machine;
      el.plotBox.dataset.specimen = String(ev.specimen);
      el.plotBox.dataset.points = String((live.points.get(ev.specimen) || { x: [] }).x.length);
      if (el.dimsSection && ev.state !== 'waiting_dims' && ev.state !== 'ready') el.dimsSection.hidden = true;
      updateButtons(live);
      break;
    }
    case 'need_dims':
      live.need = ev;
      if (el.dimsSection) dimsForm(ui, el.id, live, el.dimsSection, ev);
      break;
    case 'dims': {
      const v = Object.entries(ev.values || {}).map(([k, x]) => `${k} ${x}${ev.source && ev.source[k] === 'caliper' ? ' (caliper)' : ''}`);
      addLog(el.log, `Specimen ${ev.specimen}: dimensions ${v.join(', ')} by ${ev.by}`);
      if (el.dimsSection) {
        for (const [k, x] of Object.entries(ev.values || {})) {
          const input = el.dimsSection.querySelector(`input[name="${k}"]`);
          if (input && ev.source && ev.source[k] === 'caliper') {
            input.value = String(x);
            input.dataset.source = 'caliper';
          }
        }
      }
      break;
    }
    case 'points': {
      const p = live.points.get(ev.specimen) || { x: [], y: [] };
      for (let i = 0; i < Math.min(ev.x.length, ev.y.length); i++) {
        p.x.push(ev.x[i]);
        p.y.push(ev.y[i]);
      }
      live.points.set(ev.specimen, p);
      el.plotBox.dataset.points = String((live.points.get(live.specimen) || p).x.length);
      let total = 0;
      for (const q of live.points.values()) total += q.x.length;
      el.plotBox.dataset.pointsTotal = String(total);
      scheduleDraw(live, el.plotBox);
      break;
    }
    case 'values': {
      const units = {};
      for (const c of (live.hello && live.hello.channels) || []) units[c.name] = c.unit;
      el.valuesList.replaceChildren(...Object.entries(ev.values || {}).flatMap(([k, x]) => [
        h('dt', {}, k), h('dd', { 'data-channel': k }, `${typeof x === 'number' ? x.toPrecision(5) : x} ${unitText(units[k])}`)]));
      break;
    }
    case 'event':
      if (ev.kind === 'dims') break; // the dims event itself is logged, with the values
      // (an event replayed from a run file has no `by`: the person is named in its text)
      addLog(el.log, `Specimen ${ev.specimen}: ${ev.kind}${ev.by ? ' by ' + ev.by : ''}${ev.text ? ' — ' + ev.text : ''}`);
      break;
    case 'end':
      el.stateBox.textContent = `Series ended: ${ev.outcome}` + (ev.lost_link ? ' (the run stopped answering)' : '');
      el.stateBox.dataset.state = 'ended';
      addLog(el.log, `End: ${ev.outcome}`);
      if (el.dimsSection) el.dimsSection.hidden = true;
      live.state = { state: 'finished' };
      updateButtons(live);
      break;
    default:
      break;
  }
}

// The curve: one line per specimen over the union of their x values (uPlot's aligned data).
function scheduleDraw(live, box) {
  if (live.redraw || !live.uPlot) return;
  live.redraw = true;
  requestAnimationFrame(() => {
    live.redraw = false;
    draw(live, box);
  });
}

function draw(live, box) {
  const specimens = [...live.points.keys()].sort((a, b) => a - b);
  const xs = [...new Set(specimens.flatMap((s) => live.points.get(s).x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data = [xs];
  for (const s of specimens) {
    const col = new Array(xs.length).fill(null);
    const p = live.points.get(s);
    for (let i = 0; i < p.x.length; i++) col[index.get(p.x[i])] = p.y[i];
    data.push(col);
  }
  const plot = live.hello && live.hello.plot ? live.hello.plot : { x: 'x', x_unit: '', y: 'y', y_unit: '' };
  if (!live.plot || live.plot.series.length !== specimens.length + 1) {
    if (live.plot) live.plot.destroy();
    const width = Math.max(280, Math.min(box.clientWidth || 600, 900));
    live.plot = new live.uPlot({
      width, height: 320,
      scales: { x: { time: false } },
      axes: [{ label: `${plot.x} [${unitText(plot.x_unit)}]` }, { label: `${plot.y} [${unitText(plot.y_unit)}]` }],
      series: [{ label: plot.x }, ...specimens.map((s, i) => ({
        label: live.hello && live.hello.method === 'record' ? plot.y : `specimen ${s}`, stroke: COLOURS[i % COLOURS.length], width: s === live.specimen ? 2 : 1, spanGaps: true, points: { show: false },
      }))],
    }, data, box);
    box.setAttribute('aria-label', `${plot.y} [${unitText(plot.y_unit)}] over ${plot.x} [${unitText(plot.x_unit)}]: ${specimens.length} specimen(s)`);
  } else {
    live.plot.setData(data);
  }
}

// ---- Technicians' controls -----------------------------------------------------------------------
// A control action: true when the run accepted it; otherwise its refusal is announced (and the
// field it names marked, in `form`).
async function command(ui, id, action, body, form) {
  ui.clearMessages();
  try {
    await api('POST', `/series/${id}/${action}`, body);
    return true;
  } catch (e) {
    ui.sayError(ui.errorText(e));
    if (form) {
      ui.markField(form, e); // the server's "field 'x'"
      // the run's refusals start with the dimension's name ("width 2000 mm is outside …")
      const m = /^([a-z_]+)\b/i.exec(e.message || '');
      const el = m && form.querySelector(`input[name="${m[1].toLowerCase()}"]`);
      if (el) {
        el.setAttribute('aria-invalid', 'true');
        el.focus();
      }
    }
    return false;
  }
}

function dimsForm(ui, id, live, section, ev) {
  const form = h('form', { id: 'dims-form', novalidate: true });
  for (const f of ev.fields || []) {
    const wrap = field(`${f.name} (${f.unit})`, f.name, {
      type: 'number', step: 'any', min: f.min, max: f.max, required: true,
      value: f.value === null || f.value === undefined ? '' : String(f.value),
      hint: `${f.min} to ${f.max} ${f.unit}`,
    });
    const input = wrap.querySelector('input');
    input.addEventListener('input', () => { delete input.dataset.source; });
    wrap.append(h('button', {
      type: 'button', class: 'caliper', 'data-field': f.name,
      onclick: async () => {
        if (await command(ui, id, 'caliper', { specimen: ev.specimen, field: f.name })) ui.say(`${f.name}: read from the caliper`);
      },
    }, `Read ${f.name} from the caliper`));
    form.append(wrap);
  }
  form.append(h('button', { type: 'submit' }, `Save the dimensions of specimen ${ev.specimen}`));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = {};
    for (const input of form.querySelectorAll('input[type=number]')) {
      if (input.dataset.source === 'caliper') continue; // taken from the caliper already
      if (input.value === '') continue;
      const v = Number(input.value);
      if (!Number.isFinite(v)) {
        ui.sayError(`${input.name}: not a number.`);
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      values[input.name] = v;
    }
    if (!Object.keys(values).length) {
      ui.say('All dimensions were read from the caliper.');
      return;
    }
    if (await command(ui, id, 'dims', { specimen: ev.specimen, values }, form)) {
      form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
      ui.say(`Dimensions of specimen ${ev.specimen} saved`);
    }
  });
  section.replaceChildren(h('h2', { id: 'dims-h' }, `Dimensions of specimen ${ev.specimen}`), form);
  section.hidden = false;
}

// A unit as people write it (the config's ASCII "degC" is °C).
function unitText(u) {
  return u === 'degC' ? '°C' : u || '';
}

function updateButtons(live) {
  const st = live.state ? live.state.state : '';
  // a recording has nothing to start, no crosshead and no specimen to mark invalid: those go
  const recording = !!(live.hello && live.hello.method === 'record');
  for (const hide of ['btn-start', 'btn-return', 'invalid-form']) {
    const el = document.getElementById(hide);
    if (el) el.style.display = recording ? 'none' : ''; // (the page's CSS would override `hidden`)
  }
  const invalidTitle = document.getElementById('invalid-h');
  if (invalidTitle) invalidTitle.style.display = recording ? 'none' : '';
  // a durometer has no crosshead to return
  const returnButton = document.getElementById('btn-return');
  if (returnButton && !recording) returnButton.style.display = live.hello && live.hello.method === 'iso868' ? 'none' : '';
  const set = (name, on) => {
    const b = document.getElementById(`btn-${name}`);
    if (b) b.disabled = !on;
  };
  set('start', st === 'ready');
  set('stop', st === 'running');
  set('abort', st === 'running' || st === 'ready' || st === 'waiting_dims' || st === 'returning');
  set('return', st === 'done' || st === 'waiting_dims' || st === 'ready');
}

function controls(ui, id, live) {
  const button = (name, text, cls) => h('button', {
    type: 'button', id: `btn-${name}`, class: cls || '',
    onclick: async () => {
      if (name === 'abort' && !window.confirm('Abort: stop the machine now and end the series?')) return;
      if (await command(ui, id, name)) ui.say(`${text}: done`);
    },
  }, text);
  const invalid = h('form', { id: 'invalid-form', class: 'inline', novalidate: true },
    field('Specimen', 'specimen', { type: 'number', min: 1, required: true }),
    field('Reason', 'reason', { required: true, maxlength: 200, hint: 'e.g. broke outside the gauge length' }),
    h('button', { type: 'submit' }, 'Mark invalid'));
  invalid.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData(invalid);
    if (await command(ui, id, 'invalid', { specimen: parseInt(fd.get('specimen') || '0', 10), reason: fd.get('reason') })) {
      ui.say(`Specimen ${fd.get('specimen')} marked invalid`);
      invalid.reset();
    }
  });
  const note = h('form', { id: 'note-form', class: 'inline', novalidate: true },
    field('Specimen', 'specimen', { type: 'number', min: 1, required: true }),
    field('Note', 'text', { required: true, maxlength: 1000 }),
    h('button', { type: 'submit' }, 'Add the note'));
  note.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData(note);
    if (await command(ui, id, 'note', { specimen: parseInt(fd.get('specimen') || '0', 10), text: fd.get('text') })) {
      ui.say('Note added');
      note.reset();
    }
  });
  const group = h('div', { class: 'controls', role: 'group', 'aria-label': 'Machine' },
    button('start', 'Start'), button('stop', 'Stop (finish the specimen)'), button('abort', 'Abort', 'danger'),
    button('return', 'Return the crosshead'));
  return h('section', { id: 'controls', 'aria-labelledby': 'controls-h' }, h('h2', { id: 'controls-h' }, 'Control'), group,
    h('h3', { id: 'invalid-h' }, 'Mark a specimen invalid'), invalid, h('h3', {}, 'Note'), note);
}
