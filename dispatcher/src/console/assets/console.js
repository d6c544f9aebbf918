// fenliu shop console: the shop live from the dispatcher's event stream (no
// polling), and the admin's actions as the same gRPC calls any caller makes.
// Vanilla JavaScript, no dependency: the page must work with no network but the
// dispatcher's. Every value from the server goes into the page as text
// (textContent), never as HTML.
'use strict';

const shopId = decodeURIComponent(location.pathname.split('/')[2] || '');
const base = '/shops/' + encodeURIComponent(shopId);
const TOKEN_KEY = 'fenliu-console-token';
const FEED_LIMIT = 200;
const STATUS_ICON = { ONLINE: '●', SUSPENDED: '◐', OFFLINE: '○' };
const STATUS_WORD = { ONLINE: 'Online', SUSPENDED: 'Suspended', OFFLINE: 'Offline' };
const SETTING_CHOICES = {
  routing_mode: ['BASIC', 'GROUP'],
  offline_policy: ['QUEUE', 'OFFLINE_LIST', 'MESSAGE_POOL', 'PROXY_ACCOUNT', 'MAIN_ACCOUNT'],
  distribution: ['LEAST_LOADED', 'ROUND_ROBIN', 'RANDOM'],
  queue_timeout_action: ['MESSAGE_POOL', 'OFFLINE_LIST', 'PROXY_ACCOUNT', 'MAIN_ACCOUNT', 'LEAST_LOADED'],
};
const READ_ONLY_SETTINGS = ['effective_offline_policy', 'offline_list'];

let shop = null;            // the last snapshot
let clockOffset = 0;        // server clock minus ours, from the snapshot's now_ms
let lastSequence = null;    // the last event seen: a reconnect resumes after it
let selectedSession = null; // the session whose explanation is shown
let streaming = null;       // aborts the current stream (a new token restarts it)
const sessionEvents = new Map(); // session id -> its events seen, for explanations

const $ = (id) => document.getElementById(id);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function requestHeaders() {
  const headers = { 'Content-Type': 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  return headers;
}

function seconds(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  return total < 60 ? total + ' s' : Math.floor(total / 60) + ' min ' + (total % 60) + ' s';
}

function estimate(wait) {
  return wait && wait.known ? wait.low_seconds + '–' + wait.high_seconds + ' s' : 'unknown (too little recent data)';
}

function setLive(state, text) {
  const live = $('live');
  live.dataset.state = state;
  live.textContent = text;
}

function showOutcome(kind, text) {
  const outcome = $('outcome');
  outcome.dataset.kind = kind;
  outcome.textContent = text;
}

// A refused stream or snapshot: nothing of the shop stays on the page.
function showRefusal(refusal) {
  shop = null;
  for (const id of ['accounts', 'queues', 'pool', 'feed', 'settings']) $(id).replaceChildren();
  $('detail').replaceChildren();
  $('spread').textContent = '';
  $('console').hidden = true;
  const box = $('refusal');
  box.hidden = false;
  box.textContent = '✖ Refused: ' + refusal.code + ' — ' + refusal.message;
  setLive('refused', '✖ Not live: ' + refusal.code);
  if (refusal.code === 'UNAUTHENTICATED' || refusal.code === 'PERMISSION_DENIED') $('token-form').hidden = false;
}

async function act(action, body, done) {
  showOutcome('pending', 'Sending…');
  let answer;
  try {
    const response = await fetch(base + '/actions/' + action, { method: 'POST', headers: requestHeaders(), body: JSON.stringify(body) });
    answer = await response.json();
    if (!response.ok) {
      showOutcome('refused', '✖ Refused: ' + answer.code + ' — ' + answer.message);
      return;
    }
  } catch (error) {
    showOutcome('refused', '✖ Not sent: ' + error);
    return;
  }
  showOutcome('done', '✔ ' + done(answer));
}

function accountChoices(keep, selected) {
  const select = el('select', { 'data-keep': keep, 'aria-label': keep });
  for (const account of shop ? shop.accounts : []) {
    select.append(el('option', { value: account.account_id, selected: account.account_id === selected, text: account.account_id }));
  }
  return select;
}

function renderAccounts() {
  const rows = shop.accounts.map((account) => {
    const fill = account.capacity ? Math.min(100, (100 * account.occupancy) / account.capacity) : 100;
    const occupancy = el('td', {},
      el('div', { class: 'bar', 'data-over': String(account.over_capacity), 'aria-hidden': 'true' }, el('span', { style: 'width:' + fill + '%' })),
      el('span', { class: 'occupancy-text', text: account.occupancy + ' / ' + account.capacity + (account.ending ? ' (' + account.ending + ' closing)' : '') }));
    if (account.over_capacity) {
      occupancy.append(el('div', { class: 'overflow', text: '⚠ over capacity by ' + (account.occupancy - account.capacity) }));
    }
    if (account.overflow_by_rule.length) {
      const rules = account.overflow_by_rule.map((count) => count.rule + ' ×' + count.count).join(', ');
      occupancy.append(el('div', { class: 'overflow-rules', text: 'Overflow allowed by ' + rules }));
    }
    const sessions = el('td', { class: 'account-sessions' });
    for (const id of account.session_ids) {
      sessions.append(el('button', { type: 'button', class: 'chip', 'data-session': id, 'aria-pressed': String(id === selectedSession), text: '#' + id, onclick: () => selectSession(id) }));
    }
    if (!account.session_ids.length) sessions.append(el('span', { class: 'muted', text: 'none' }));
    const status = el('select', { 'data-keep': 'status-' + account.account_id, 'aria-label': 'New status for ' + account.account_id });
    for (const choice of ['ONLINE', 'SUSPENDED', 'OFFLINE']) status.append(el('option', { value: choice, selected: choice === account.status, text: STATUS_WORD[choice] }));
    const set = el('button', { type: 'button', text: 'Set', onclick: () => act('account-status', { account_id: account.account_id, status: status.value }, (a) => a.account_id + ' is ' + STATUS_WORD[a.status]) });
    const name = el('td', {}, el('strong', { text: account.display_name || account.account_id }), el('div', { class: 'muted', text: account.account_id + ' · ' + account.roles.join(', ') + (account.participating ? '' : ' · not routing') }));
    return el('tr', { 'data-account': account.account_id }, name,
      el('td', { class: 'status', 'data-status': account.status, text: STATUS_ICON[account.status] + ' ' + STATUS_WORD[account.status] + (account.available ? '' : account.status === 'ONLINE' ? ' (not routing)' : '') }),
      occupancy, sessions, el('td', {}, el('div', { class: 'controls' }, status, set)));
  });
  $('accounts').replaceChildren(...rows);
  $('spread').textContent = 'Load spread among available accounts (R25): ' + shop.load_spread.toFixed(2) +
    ' · wait estimates held (R20): ' + shop.wait_estimate_accuracy.within_range + ' of ' + shop.wait_estimate_accuracy.samples;
}

function waitingSession(session) {
  return el('li', { 'data-session-row': session.session_id },
    el('span', { class: 'position', text: '#' + session.queue_position }),
    el('button', { type: 'button', class: 'chip', 'data-session': session.session_id, text: 'buyer ' + session.buyer_id, onclick: () => selectSession(session.session_id) }),
    el('span', { class: 'waited', 'data-since': session.created_at_ms, text: 'waiting ' + seconds(Date.now() + clockOffset - session.created_at_ms) }),
    el('span', { class: 'estimate', text: 'estimate ' + estimate(session.wait_estimate) }),
    session.priority ? el('span', { text: 'priority ' + session.priority }) : null);
}

function renderQueues() {
  const queues = shop.queues.filter((queue) => queue.sessions.length);
  if (!queues.length) {
    $('queues').replaceChildren(el('p', { class: 'muted', text: 'Nobody is waiting.' }));
    return;
  }
  $('queues').replaceChildren(...queues.map((queue) => {
    const into = accountChoices('pull-' + queue.name);
    const pull = el('button', { type: 'button', text: 'Pull oldest', onclick: () => act('pull', { account_id: into.value, queue: queue.name }, (s) => 'session ' + s.session_id + ' pulled into ' + s.account_id) });
    return el('div', { class: 'queue', 'data-queue': queue.name },
      el('h3', { text: 'Queue ' + queue.name + ' — ' + queue.sessions.length + ' waiting' }),
      el('ol', { class: 'sessions' }, ...queue.sessions.map(waitingSession)),
      el('div', { class: 'controls' }, el('span', { text: 'Pull into' }), into, pull));
  }));
}

function renderPool() {
  if (!shop.pool.length) {
    $('pool').replaceChildren(el('li', { class: 'muted', text: 'No messages waiting.' }));
    return;
  }
  $('pool').replaceChildren(...shop.pool.map((session) => el('li', {},
    el('button', { type: 'button', class: 'chip', 'data-session': session.session_id, text: 'buyer ' + session.buyer_id, onclick: () => selectSession(session.session_id) }),
    el('span', { text: session.rule + ' ' + session.reason }),
    el('span', { class: 'waited', 'data-since': session.created_at_ms, text: 'waiting ' + seconds(Date.now() + clockOffset - session.created_at_ms) }))));
}

function settingInput(name, value) {
  if (SETTING_CHOICES[name]) {
    const select = el('select', { 'data-keep': 'setting-' + name, 'aria-label': name });
    for (const choice of SETTING_CHOICES[name]) select.append(el('option', { value: choice, selected: choice === value, text: choice }));
    return select;
  }
  if (typeof value === 'boolean') {
    const select = el('select', { 'data-keep': 'setting-' + name, 'aria-label': name });
    for (const choice of ['true', 'false']) select.append(el('option', { value: choice, selected: String(value) === choice, text: choice === 'true' ? 'on' : 'off' }));
    return select;
  }
  return el('input', { 'data-keep': 'setting-' + name, 'aria-label': name, type: typeof value === 'number' ? 'number' : 'text', min: typeof value === 'number' ? '0' : null, value: String(value) });
}

function renderSettings() {
  const rows = [el('tr', {}, el('th', { scope: 'row', text: 'profile / main account' }), el('td', { text: shop.profile + ' / ' + shop.main_account_id }), el('td'))];
  for (const [name, value] of Object.entries(shop.settings)) {
    const shown = Array.isArray(value) ? value.join(', ') || 'none' : typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value === '' ? 'none' : value);
    const cell = el('td');
    if (!READ_ONLY_SETTINGS.includes(name)) {
      const input = settingInput(name, value);
      const save = el('button', { type: 'button', text: 'Save', onclick: () => {
        let sent = input.value;
        if (typeof value === 'boolean') sent = input.value === 'true';
        else if (typeof value === 'number') sent = Number(input.value);
        act('setting', { name, value: sent }, () => name + ' saved');
      } });
      cell.append(el('div', { class: 'controls' }, input, save));
    }
    rows.push(el('tr', { 'data-setting': name }, el('th', { scope: 'row', text: name }), el('td', { class: 'value', text: shown }), cell));
  }
  $('settings').replaceChildren(...rows);
}

async function selectSession(id) {
  selectedSession = id;
  for (const chip of document.querySelectorAll('[data-session]')) chip.setAttribute('aria-pressed', String(chip.dataset.session === id));
  const response = await fetch(base + '/sessions/' + encodeURIComponent(id), { headers: requestHeaders() });
  const answer = await response.json();
  if (!response.ok) {
    $('detail').replaceChildren(el('p', { class: 'outcome', 'data-kind': 'refused', text: '✖ ' + answer.code + ' — ' + answer.message }));
    return;
  }
  keepingInputs(() => renderDetail(answer));
}

function renderDetail(session) {
  const facts = el('dl', { class: 'explain' });
  const fact = (term, text) => facts.append(el('dt', { text: term }), el('dd', { text }));
  fact('Session', '#' + session.session_id + ' · buyer ' + session.buyer_id + ' · ' + session.state + (session.account_id ? ' with ' + session.account_id : ''));
  fact('Placed by (R24)', (session.rule ? session.rule + ' ' : '') + session.reason);
  if (session.state === 'QUEUED') fact('Waits (R20)', 'position ' + session.queue_position + ' in ' + session.queue + ', estimate ' + estimate(session.wait_estimate));
  if (session.reassignments) fact('Moved for want of a reply (R22)', session.reassignments + ' time(s), away from ' + session.timed_out_account_ids.join(', '));
  const seen = sessionEvents.get(session.session_id) || [];
  for (const event of seen) {
    fact('Event #' + event.sequence + ' (' + (event.rule || 'event') + ')', event.text);
    if (event.candidates && event.candidates.length) {
      fact('Candidates', event.candidates.map((c) => c.account_id + ': ' + (c.chosen ? 'chosen' : c.why)).join('; '));
    }
  }
  if (!seen.length) fact('History', 'no event of this session seen since the page opened');
  const children = [facts];
  if (session.state === 'ASSIGNED' || session.state === 'POOLED' || session.state === 'QUEUED') {
    const to = accountChoices('transfer-to');
    const actor = accountChoices('transfer-actor', shop && shop.main_account_id);
    const transfer = el('button', { type: 'button', id: 'transfer-button', text: 'Transfer', onclick: () => act('transfer', { session_id: session.session_id, to_account_id: to.value, actor_account_id: actor.value }, (s) => 'session ' + s.session_id + ' now with ' + s.account_id) });
    children.push(el('div', { class: 'controls' }, el('span', { text: 'Transfer to' }), to, el('span', { text: 'acting as' }), actor, transfer));
  }
  $('detail').replaceChildren(...children);
}

function addToFeed(event) {
  if (event.session_id) {
    const seen = sessionEvents.get(event.session_id) || [];
    seen.push(event);
    sessionEvents.set(event.session_id, seen.slice(-20));
  }
  const time = new Date(event.at_ms).toLocaleTimeString();
  const item = el('li', { 'data-sequence': event.sequence },
    el('span', { class: 'rule', text: event.rule || '—' }), ' ', el('span', { class: 'muted', text: time + ' #' + event.sequence }), ' ', el('span', { text: event.text }));
  const feed = $('feed');
  feed.prepend(item);
  while (feed.children.length > FEED_LIMIT) feed.lastChild.remove();
}

// Runs `redraw`, keeping what the admin was choosing or typing (and where the
// keyboard focus was) in the inputs it replaces.
function keepingInputs(redraw) {
  const kept = new Map();
  for (const input of document.querySelectorAll('[data-keep]')) if (input.dataset.dirty) kept.set(input.dataset.keep, input.value);
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.keep : null;
  redraw();
  for (const input of document.querySelectorAll('[data-keep]')) {
    if (kept.has(input.dataset.keep)) { input.value = kept.get(input.dataset.keep); input.dataset.dirty = '1'; }
    if (focused && input.dataset.keep === focused) input.focus();
  }
}

function applySnapshot(snapshot) {
  keepingInputs(() => {
    shop = snapshot;
    clockOffset = snapshot.now_ms - Date.now();
    $('console').hidden = false;
    $('refusal').hidden = true;
    renderAccounts();
    renderQueues();
    renderPool();
    renderSettings();
  });
}

document.addEventListener('input', (event) => { if (event.target.dataset && event.target.dataset.keep) event.target.dataset.dirty = '1'; });
document.addEventListener('change', (event) => { if (event.target.dataset && event.target.dataset.keep) event.target.dataset.dirty = '1'; });

function dispatch(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (!data.length) return null;
  const payload = JSON.parse(data.join('\n'));
  if (name === 'snapshot') applySnapshot(payload);
  else if (name === 'shop-event') {
    lastSequence = payload.sequence;
    addToFeed(payload);
    // The explanation shown follows its session.
    if (payload.session_id && payload.session_id === selectedSession) selectSession(selectedSession);
  }
  else if (name === 'refused') return payload;
  return null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The stream, read with fetch so that the token travels in a header; it resumes
// after the last event seen when the connection drops.
async function stream(abort) {
  while (!abort.signal.aborted) {
    const url = base + '/events' + (lastSequence === null ? '' : '?after=' + lastSequence);
    let response;
    try {
      response = await fetch(url, { headers: requestHeaders(), cache: 'no-store', signal: abort.signal });
    } catch (error) {
      if (abort.signal.aborted) return;
      setLive('reconnecting', '◌ Connection lost; reconnecting…');
      await sleep(1000);
      continue;
    }
    if (!response.ok) {
      const refusal = await response.json().catch(() => ({ code: String(response.status), message: response.statusText }));
      if (refusal.code === 'OUT_OF_RANGE') { lastSequence = null; continue; }
      if (refusal.code === 'UNAVAILABLE') { setLive('reconnecting', '◌ ' + refusal.message); await sleep(1000); continue; }
      showRefusal(refusal);
      return;
    }
    setLive('live', '● Live');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let refused = null;
    try {
      while (!refused) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, '\n');
        let cut;
        while (!refused && (cut = buffer.indexOf('\n\n')) >= 0) {
          refused = dispatch(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (error) {
      if (abort.signal.aborted) return;
    }
    if (refused && refused.code !== 'UNAVAILABLE') { showRefusal(refused); return; }
    setLive('reconnecting', '◌ Stream ended; reconnecting…');
    await sleep(300);
  }
}

function restart() {
  if (streaming) streaming.abort();
  streaming = new AbortController();
  lastSequence = null;
  $('feed').replaceChildren();
  setLive('connecting', '◌ Connecting…');
  stream(streaming);
}

function tickWaits() {
  for (const span of document.querySelectorAll('[data-since]')) span.textContent = 'waiting ' + seconds(Date.now() + clockOffset - Number(span.dataset.since));
}

$('shop-id').textContent = shopId;
document.title = 'fenliu · ' + shopId;
$('token-button').addEventListener('click', () => { $('token-form').hidden = !$('token-form').hidden; $('token-input').focus(); });
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
  $('token-input').value = '';
  $('token-form').hidden = true;
  restart();
});
$('token-clear').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); restart(); });
setInterval(tickWaits, 1000);
restart();
