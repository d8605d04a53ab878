// trêve — the administrators' page. Plain JavaScript, no build step, nothing loaded from
// outside the admin listener. It talks only to the admin API (docs/admin-api.md) with the
// bearer token the person signed in with, kept in sessionStorage (gone with the tab).
//
// Shape: one state object `S`; render functions that build DOM from it (never innerHTML with
// data); the policy being edited is `S.draft`, a copy of the establishment's own settings
// (`policy` of the policy document), sent as is to preview and PUT, so that the JSON pointers
// of the API's errors (/policy/quiet/1/end) name the controls built from it (data-pointer).
'use strict';

const TOKEN_KEY = 'treve.admin.token';
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_SHORT = ['lun', 'mar', 'mer', 'jeu', 'ven', 'sam', 'dim'];
const DAY_LONG = ['lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche'];
const MONTH_SHORT = ['janv.', 'févr.', 'mars', 'avr.', 'mai', 'juin', 'juil.', 'août', 'sept.',
  'oct.', 'nov.', 'déc.'];
// policy/notification.h, in that order.
const CATEGORIES = [
  ['message', 'Messages'], ['grade', 'Notes'], ['homework', 'Devoirs'], ['blog', 'Blog'],
  ['news', 'Actualités'], ['schedule', 'Emploi du temps'], ['absence', 'Absences'],
  ['alert', 'Alertes'], ['other', 'Autres'],
];
const categoryText = (c) => (CATEGORIES.find(([k]) => k === c)?.[1] || c).toLowerCase();
const ROLES = [['student', 'un élève'], ['parent', 'un parent'], ['staff', 'un personnel']];
const DELAYS = [['0', 'Aucun délai'], ['24h', '24 heures'], ['72h', '72 heures'],
  ['7d', '7 jours']];
// docs/audit.md, plus the admin API's own.
const KINDS = [
  ['received', 'Événement reçu'], ['held', 'Tenu (temps de repos)'],
  ['released', 'Libéré'], ['bypassed', 'Urgence envoyée immédiatement'],
  ['bypass_refused', 'Urgence refusée'], ['retracted', 'Retiré par l\'expéditeur'],
  ['delivered', 'Transmis'], ['retrying', 'Échec, nouvel essai prévu'],
  ['dead_lettered', 'Échec définitif'], ['replayed', 'Renvoyé par un administrateur'],
  ['replanned', 'Replanifié'], ['held_again', 'Tenu à nouveau (temps de repos commencé)'],
  ['config_changed', 'Configuration modifiée'],
  ['policy_changed', 'Politique modifiée'], ['access_refused', 'Accès refusé'],
  ['checkpoint', 'Purge (point de reprise)'], ['purged', 'Purge'],
  ['crisis_opened', 'Mode crise ouvert'], ['crisis_extended', 'Mode crise prolongé'],
  ['crisis_closed', 'Mode crise fermé'],
];
const AUDIT_LIMIT = 200;
// The states of one copy of a notification (store/store_types.h), as GET /v1/admin/events says
// them.
const STATES = [
  ['held', 'Tenue (temps de repos)'], ['due', 'Libérée, en attente d\'envoi'],
  ['sending', 'Envoi en cours'], ['retrying', 'Échec, nouvel essai prévu'],
  ['delivered', 'Transmise'], ['dead', 'Échec définitif'],
  ['retracted', 'Retirée par l\'expéditeur'], ['no_address', 'Sans adresse : rien envoyé'],
];

const S = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  me: null,
  uai: null,
  doc: null,         // the policy document of S.uai
  draft: null,       // S.doc.policy being edited
  savedJson: '',     // canonical JSON of S.doc.policy, to tell a changed draft
  errors: [],        // [{pointer, detail}] from the last preview or save
  tab: 'policy',
  versions: null,
  queue: null,
  preview: {timer: 0, seq: 0, category: 'message', role: 'student', date: '', time: '',
    user: '', connector: ''},
  auditLoaded: false,
  notice: null,      // {text, kind} shown once above the policy
  crises: null,      // GET …/crises of S.uai, newest first
  crisisMessage: null,  // {text, kind} of the last crisis action
};

// ---------------------------------------------------------------------------------------------
// Small helpers

// Builds an element: h('p', {class: 'x', testid: 'y', onclick: f}, 'text', child…). Text is
// always inserted as text. `value` and `checked` are set last, once options are in. The page is
// served with `Content-Security-Policy: default-src 'self'`: no inline script or style attribute.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  const late = {};
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'value' || k === 'checked' || k === 'selected') late[k] = v;
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v;  // through CSSOM: the CSP refuses style attributes
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'pointer') el.dataset.pointer = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  for (const [k, v] of Object.entries(late)) el[k] = v;
  return el;
}

// Replaces the children of `el`, skipping null and false (the `cond && h(…)` idiom).
function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
}
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const idFor = (pointer) => 'f' + pointer.replace(/[^A-Za-z0-9_-]/g, '-');

// JSON with sorted keys, to compare drafts.
function canonical(v) {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().filter((k) => v[k] !== undefined)
      .map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

function parseHM(s) {
  const m = /^(\d{2}):(\d{2})$/.exec(s || '');
  if (!m || +m[1] > 23 || +m[2] > 59) return null;
  return +m[1] * 60 + +m[2];
}
const hm = (minutes) => String(Math.floor(minutes / 60)).padStart(2, '0') + ':' +
  String(minutes % 60).padStart(2, '0');

// The wall-clock fields of an RFC 3339 text as written (the establishment's local time), so
// that times read the same whatever the browser's own time zone.
function wall(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?/.exec(text || '');
  if (!m) return null;
  const y = +m[1], mo = +m[2], d = +m[3];
  const wd = (new Date(Date.UTC(y, mo - 1, d)).getUTCDay() + 6) % 7;  // 0 = Monday
  return {y, mo, d, wd, time: m[4] ? `${m[4]}:${m[5]}` : ''};
}
function dayText(w, {year = false, long = false} = {}) {
  if (!w) return '';
  const dayName = long ? DAY_LONG[w.wd] : DAY_SHORT[w.wd] + '.';
  return `${dayName} ${w.d} ${MONTH_SHORT[w.mo - 1]}${year ? ' ' + w.y : ''}`;
}
function instantText(text) {
  const w = wall(text);
  if (!w) return text || '';
  return `${dayText(w, {year: true})} à ${w.time}`;
}
// A closed entry is "YYYY-MM-DD[..YYYY-MM-DD]" in a policy; `effective` gives {range, label}.
const closedRange = (c) => (c && typeof c === 'object' ? String(c.range ?? '') : String(c ?? ''));
function closedText(entry) {
  const range = closedRange(entry);
  const label = entry && typeof entry === 'object' && entry.label && entry.label !== range
    ? ` (${entry.label})` : '';
  return closedDates(range) + label;
}
function closedDates(entry) {
  const [from, to] = String(entry).split('..');
  const a = wall(from), b = to ? wall(to) : null;
  if (!a) return String(entry);
  if (!b) return dayText(a, {year: true, long: true});
  return `du ${dayText(a, {year: true, long: true})} au ${dayText(b, {year: true, long: true})}`;
}

// "Du lundi au jeudi", "Le vendredi", "Les lundi, mercredi et vendredi".
function daysPhrase(days) {
  const idx = [...new Set((days || []).map((d) => DAYS.indexOf(d)).filter((i) => i >= 0))]
    .sort((a, b) => a - b);
  if (!idx.length) return 'Aucun jour';
  if (idx.length === 1) return `Le ${DAY_LONG[idx[0]]}`;
  if (idx.length >= 3 && idx[idx.length - 1] - idx[0] === idx.length - 1) {
    return `Du ${DAY_LONG[idx[0]]} au ${DAY_LONG[idx[idx.length - 1]]}`;
  }
  const names = idx.map((i) => DAY_LONG[i]);
  return `Les ${names.slice(0, -1).join(', ')} et ${names[names.length - 1]}`;
}
function windowPhrase(w) {
  const s = parseHM(w.start), e = parseHM(w.end);
  if (s == null || e == null) return `${daysPhrase(w.days)} : horaires incomplets`;
  let when;
  if (w.end_day && DAYS.includes(w.end_day)) {
    when = `de ${w.start} au ${DAY_LONG[DAYS.indexOf(w.end_day)]} suivant ${w.end}`;
  } else if (e <= s) {
    when = `de ${w.start} au lendemain ${w.end}`;
  } else {
    when = `de ${w.start} à ${w.end}`;
  }
  const only = Array.isArray(w.categories) && w.categories.length
    ? `, seulement pour : ${w.categories.map(categoryText).join(', ')}` : '';
  return `${daysPhrase(w.days)}, ${when}${w.name ? ` (${w.name})` : ''}${only}`;
}

// The weekly windows as intervals in minutes from Monday 00:00, split at the end of the week.
function weekIntervals(windows) {
  const out = [];
  const WEEK = 7 * 1440;
  (windows || []).forEach((w, index) => {
    const s = parseHM(w.start), e = parseHM(w.end);
    if (s == null || e == null || !Array.isArray(w.days)) return;
    for (const day of w.days) {
      const di = DAYS.indexOf(day);
      if (di < 0) continue;
      const start = di * 1440 + s;
      let end;
      if (w.end_day && DAYS.includes(w.end_day)) {
        end = DAYS.indexOf(w.end_day) * 1440 + e;
        while (end <= start) end += WEEK;
      } else {
        end = di * 1440 + e;
        if (end <= start) end += 1440;
      }
      if (end > WEEK) {
        out.push({start, end: WEEK, index});
        out.push({start: 0, end: end - WEEK, index});
      } else {
        out.push({start, end, index});
      }
    }
  });
  return out;
}

// The UTC offset of `tz` at the instant `ms`, in minutes, from Intl.
function offsetMinutes(tz, ms) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute,
    +parts.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}
// "2030-03-12" "21:00" in the establishment's zone, as RFC 3339 with its offset.
function wallToRfc3339(date, time, tz) {
  const guess = Date.parse(`${date}T${time}:00Z`);
  let off = 0;
  try {
    off = offsetMinutes(tz, guess);
    off = offsetMinutes(tz, guess - off * 60000);
  } catch {
    off = -new Date(guess).getTimezoneOffset();
  }
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${date}T${time}:00${sign}${hm(a)}`;
}

// "2026-11-01" → "dim. 1 nov. 2026"; anything else as it is.
function dateText(text) {
  const w = /^\d{4}-\d{2}-\d{2}$/.test(text || '') ? wall(text) : null;
  return w ? dayText(w, {year: true}) : String(text ?? '…');
}

function todayText(shiftDays = 0) {
  const d = new Date(Date.now() + shiftDays * 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-` +
    String(d.getDate()).padStart(2, '0');
}

// ---------------------------------------------------------------------------------------------
// The API

// One request. Answers {status, ok, data (parsed JSON or null), text}; never throws. A 401 on
// anything but sign-in means the token went away: back to the sign-in form.
async function api(method, path, {json, body, contentType} = {}) {
  const headers = {Authorization: `Bearer ${S.token}`, Accept: 'application/json'};
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (contentType) {
    headers['Content-Type'] = contentType;
  }
  let res;
  try {
    res = await fetch(path, {method, headers, body, cache: 'no-store'});
  } catch (e) {
    return {status: 0, ok: false, data: null, text: '',
      message: 'Le service trêve ne répond pas. Vérifiez votre connexion et réessayez.'};
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  const r = {status: res.status, ok: res.ok, data, text, type: res.headers.get('content-type')};
  r.message = r.ok ? '' : problemText(r);
  if (res.status === 401 && path !== '/v1/admin/me') {
    signOut('Votre jeton n\'est plus accepté (révoqué ou modifié). Reconnectez-vous.');
  }
  return r;
}

// The problem's last word: "weaker-policy" from "urn:treve:problem:weaker-policy" or from
// "https://…/weaker-policy".
const problemType = (r) => String(r.data?.type || '').split(/[/:#]/).pop();

function problemText(r) {
  const d = r.data || {};
  const said = d.detail || d.title || '';
  switch (r.status) {
    case 401: return 'Jeton d\'accès inconnu ou absent.';
    case 403: return 'Accès refusé : votre rôle ou votre périmètre ne le permet pas.' +
      (said ? ` (${said})` : '');
    case 404: return 'Introuvable.' + (said ? ` (${said})` : '');
    default: return said ? `${said} (erreur ${r.status})` : `Erreur ${r.status}.`;
  }
}

const policyPath = (uai, what = 'policy') =>
  `/v1/admin/establishments/${encodeURIComponent(uai)}/${what}`;

// ---------------------------------------------------------------------------------------------
// Sign-in and the frame

const app = () => document.getElementById('app');

function renderSignIn(message, kind = 'error') {
  const error = h('p', {class: kind === 'error' ? 'error' : 'notice info', id: 'signin-error',
    role: kind === 'error' ? 'alert' : 'status', testid: kind === 'error' ? 'sign-in-error' : 'signed-out',
    hidden: !message}, message || '');
  const input = h('input', {type: 'password', id: 'token', name: 'token', required: true,
    autocomplete: 'current-password', spellcheck: 'false', testid: 'token-input',
    'aria-describedby': 'token-help signin-error'});
  const form = h('form', {class: 'card signin', testid: 'sign-in-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.className = 'error';
      error.dataset.testid = 'sign-in-error';
      error.textContent = 'Saisissez votre jeton d\'accès.';
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    S.token = token;
    const ok = await loadMe();
    button.disabled = false;
    if (ok === true) return;
    S.token = '';
    error.className = 'error';
    error.setAttribute('role', 'alert');
    error.dataset.testid = 'sign-in-error';
    error.textContent = ok;
    error.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }},
  h('h2', {}, 'Connexion'),
  h('div', {class: 'field'},
    h('label', {for: 'token'}, 'Jeton d\'accès'),
    input,
    h('p', {class: 'help', id: 'token-help'},
      'Le jeton vous a été remis par l\'administrateur du service trêve. Il reste dans cet ' +
      'onglet seulement et disparaît quand vous le fermez.')),
  error);
  const button = h('button', {type: 'submit', class: 'primary', testid: 'sign-in'}, 'Se connecter');
  form.append(h('div', {class: 'actions'}, button));
  put(app(),
    h('header', {class: 'top'}, h('h1', {}, 'trêve ', h('span', {class: 'sub'},
      '— temps de repos des notifications'))),
    h('main', {class: 'page narrow', id: 'main'}, form));
  input.focus();
}

// Answers true when signed in, or the reason why not.
async function loadMe() {
  const r = await api('GET', '/v1/admin/me');
  if (!r.ok || !r.data) return r.message || 'Réponse inattendue du service.';
  S.me = r.data;
  sessionStorage.setItem(TOKEN_KEY, S.token);
  const [uai, tab] = decodeURIComponent(location.hash.replace(/^#\/?/, '')).split('/');
  S.tab = ['policy', 'history', 'audit', 'event'].includes(tab) ? tab : 'policy';
  renderFrame();
  if (uai && /^\d{7}[A-Z]$/.test(uai)) await openSchool(uai, {tab: S.tab});
  else if (schools().length === 1) await openSchool(schools()[0].uai, {tab: S.tab});
  else selectTab(S.tab);
  return true;
}

function signOut(message, kind = 'error') {
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(S, {token: '', me: null, uai: null, doc: null, draft: null, errors: [],
    versions: null, queue: null, auditLoaded: false});
  clearTimeout(S.preview.timer);
  history.replaceState(null, '', location.pathname);
  renderSignIn(message, kind);
}

const isAdmin = () => S.me?.role === 'admin';
const roleText = (role) => ({admin: 'administrateur', auditor: 'auditeur'}[role] || role);
const managedText = (m) => ({file: 'fichier treve.toml', api: 'page d\'administration',
  defaults: 'valeurs par défaut'}[m] || m || 'valeurs par défaut');

// The establishments to list: those with a policy of their own, and the UAIs of a listed scope
// (which may still follow the defaults).
function schools() {
  const list = (S.me?.establishments || []).map((e) => ({uai: e.uai, managed_by: e.managed_by}));
  if (Array.isArray(S.me?.scope)) {
    for (const uai of S.me.scope) {
      if (!list.some((e) => e.uai === uai)) list.push({uai, managed_by: 'defaults'});
    }
  }
  return list.sort((a, b) => a.uai.localeCompare(b.uai));
}

function renderFrame() {
  const me = S.me;
  const wildcard = me.scope === '*' || (Array.isArray(me.scope) && me.scope.includes('*'));
  const tabs = [['policy', 'Politique'], ['history', 'Historique'], ['audit', 'Journal et statistiques'],
    ['event', 'Suivre une notification']];
  const uaiInput = h('input', {id: 'open-uai', type: 'text', inputmode: 'text', maxlength: '8',
    autocomplete: 'off', spellcheck: 'false', pattern: '[0-9]{7}[A-Za-z]',
    placeholder: '0750654D', testid: 'open-uai-input', 'aria-describedby': 'open-uai-help open-uai-error'});
  const uaiError = h('p', {class: 'error', id: 'open-uai-error', hidden: true, role: 'alert'});
  put(app(),
    h('a', {class: 'skip', href: '#main'}, 'Aller au contenu'),
    h('header', {class: 'top'},
      h('h1', {}, 'trêve ', h('span', {class: 'sub'}, '— temps de repos des notifications')),
      h('div', {class: 'who'},
        h('span', {}, h('strong', {testid: 'user-name'}, me.name || ''), ' — ',
          h('span', {testid: 'user-role'}, roleText(me.role))),
        h('button', {type: 'button', testid: 'sign-out', onclick: () => {
          if (isDirty() && !confirm('Des modifications ne sont pas enregistrées. Se déconnecter quand même ?')) return;
          signOut('Vous êtes déconnecté.', 'info');
        }}, 'Se déconnecter'))),
    h('div', {class: 'layout'},
      h('nav', {class: 'schools', 'aria-labelledby': 'schools-title'},
        h('h2', {id: 'schools-title'}, 'Établissements'),
        schools().length
          ? h('ul', {testid: 'school-list'}, schools().map((e) => h('li', {},
            h('button', {type: 'button', class: 'school', testid: `school-${e.uai}`,
              'data-uai': e.uai, onclick: () => openSchool(e.uai)},
            h('span', {class: 'uai'}, e.uai), h('span', {class: 'managed'}, managedText(e.managed_by))))))
          : h('p', {class: 'help'}, wildcard
            ? 'Aucun établissement n\'a encore de politique propre.'
            : 'Aucun établissement dans votre périmètre.'),
        wildcard && h('form', {class: 'open-uai', novalidate: true, onsubmit: (ev) => {
          ev.preventDefault();
          const uai = uaiInput.value.trim().toUpperCase();
          if (!/^\d{7}[A-Z]$/.test(uai)) {
            uaiError.textContent = 'Un UAI s\'écrit avec 7 chiffres et une lettre, par exemple 0750654D.';
            uaiError.hidden = false;
            uaiInput.setAttribute('aria-invalid', 'true');
            uaiInput.focus();
            return;
          }
          uaiError.hidden = true;
          uaiInput.removeAttribute('aria-invalid');
          openSchool(uai);
        }},
        h('label', {for: 'open-uai'}, 'Ouvrir un établissement par son UAI'),
        h('div', {class: 'inline'}, uaiInput,
          h('button', {type: 'submit', testid: 'open-uai'}, 'Ouvrir')),
        h('p', {class: 'help', id: 'open-uai-help'}, 'Votre périmètre couvre tous les établissements.'),
        uaiError)),
      h('main', {class: 'page', id: 'main', tabindex: '-1'},
        h('div', {class: 'school-title', id: 'school-title'}),
        h('div', {role: 'tablist', class: 'tabs', 'aria-label': 'Sections'},
          tabs.map(([key, label]) => h('button', {type: 'button', role: 'tab', id: `tab-${key}`,
            testid: `tab-${key}`, 'aria-controls': `panel-${key}`, 'aria-selected': 'false',
            tabindex: '-1', onclick: () => selectTab(key), onkeydown: tabKeys}, label))),
        tabs.map(([key]) => h('section', {role: 'tabpanel', id: `panel-${key}`,
          testid: `panel-${key}`, 'aria-labelledby': `tab-${key}`, tabindex: '0', hidden: true})))));
  renderSchoolTitle();
}

// Arrow keys, Home and End move between tabs (the WAI-ARIA tabs pattern).
function tabKeys(ev) {
  const all = $$('[role="tab"]');
  const i = all.indexOf(ev.currentTarget);
  let j = null;
  if (ev.key === 'ArrowRight') j = (i + 1) % all.length;
  else if (ev.key === 'ArrowLeft') j = (i - 1 + all.length) % all.length;
  else if (ev.key === 'Home') j = 0;
  else if (ev.key === 'End') j = all.length - 1;
  if (j == null) return;
  ev.preventDefault();
  all[j].focus();
  selectTab(all[j].id.replace('tab-', ''));
}

function selectTab(key) {
  S.tab = key;
  for (const t of $$('[role="tab"]')) {
    const on = t.id === `tab-${key}`;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
  }
  for (const p of $$('[role="tabpanel"]')) p.hidden = p.id !== `panel-${key}`;
  if (S.uai) history.replaceState(null, '', `#/${S.uai}/${key}`);
  if (key === 'policy') renderPolicyPanel();
  if (key === 'history') loadVersions();
  if (key === 'audit' && !S.auditLoaded) renderAuditPanel(true);
  if (key === 'event' && !$('#event-form')) renderEventPanel();
}

function renderSchoolTitle() {
  const el = $('#school-title');
  if (!el) return;
  if (!S.uai) {
    put(el, h('h2', {}, 'Choisissez un établissement'));
    return;
  }
  const q = S.queue;
  put(el,
    h('h2', {}, 'Établissement ', h('span', {class: 'uai', testid: 'school-uai'}, S.uai)),
    S.doc && h('p', {class: 'meta'},
      `Réglé par : ${managedText(S.doc.managed_by)}`,
      S.doc.version != null ? ` · version ${S.doc.version}` : '',
      S.doc.effective?.timezone ? ` · fuseau horaire ${S.doc.effective.timezone}` : ''),
    q && h('p', {class: 'meta', testid: 'queue-info'},
      q.held ? `${q.held} notification${q.held > 1 ? 's' : ''} en attente` : 'Aucune notification en attente',
      q.held && q.next_release ? ` · prochaine remise ${instantText(q.next_release)}` : ''));
}

// ---------------------------------------------------------------------------------------------
// One establishment: its policy document, the draft

async function openSchool(uai, {tab} = {}) {
  if (uai !== S.uai && isDirty() &&
      !confirm('Des modifications ne sont pas enregistrées. Les abandonner ?')) return;
  for (const b of $$('button.school')) {
    if (b.dataset.uai === uai) b.setAttribute('aria-current', 'true');
    else b.removeAttribute('aria-current');
  }
  S.uai = uai;
  S.doc = null;
  S.versions = null;
  S.queue = null;
  S.errors = [];
  S.notice = null;
  S.crises = null;
  S.crisisMessage = null;
  S.auditLoaded = false;  // its filters default to the school open
  renderSchoolTitle();
  if (tab) S.tab = tab;
  if (S.tab === 'audit' || S.tab === 'event') S.tab = 'policy';
  selectTab(S.tab);
  await loadPolicy();
  api('GET', `/v1/admin/queue?establishment=${encodeURIComponent(uai)}`).then((r) => {
    if (r.ok && r.data && S.uai === uai) {
      S.queue = r.data;
      renderSchoolTitle();
    }
  });
  $('#main')?.focus({preventScroll: true});
}

async function loadPolicy() {
  const uai = S.uai;
  const panel = $('#panel-policy');
  if (panel && S.tab === 'policy') put(panel, h('p', {class: 'loading'}, 'Chargement…'));
  const r = await api('GET', policyPath(uai));
  if (uai !== S.uai) return;
  if (!r.ok || !r.data) {
    S.doc = null;
    if (panel) {
      put(panel, h('p', {class: 'error', role: 'alert', testid: 'policy-error'},
        `Impossible d'ouvrir ${uai} : ${r.message || 'réponse inattendue.'}`));
    }
    return;
  }
  S.doc = r.data;
  S.draft = clone(r.data.policy || {});
  S.savedJson = canonical(S.draft);
  S.errors = [];
  const managed = $(`button.school[data-uai="${uai}"] .managed`);
  if (managed) managed.textContent = managedText(r.data.managed_by);
  renderSchoolTitle();
  if (S.tab === 'policy') renderPolicyPanel();
  if (S.tab === 'history') loadVersions();
}

const canEdit = () => isAdmin() && S.doc?.editable === true && S.doc?.managed_by !== 'file';
const isDirty = () => !!S.doc && canEdit() && canonical(S.draft) !== S.savedJson;

// What a key is worth in the draft: its own value, or the inherited one.
const value = (key) => (S.draft && key in S.draft ? S.draft[key] : S.doc?.effective?.[key]);
const inherited = (key) => !(S.draft && key in S.draft);
function own(key) {
  if (!(key in S.draft)) S.draft[key] = clone(S.doc.effective?.[key]) ?? [];
  return S.draft[key];
}

// Every edit goes through here: the grid and the status follow, the preview is asked again.
function changed({rebuild = false} = {}) {
  if (rebuild) renderEditor();
  renderGrid();
  renderSaveBar();
  schedulePreview();
}

// ---------------------------------------------------------------------------------------------
// The policy panel

function renderPolicyPanel() {
  const panel = $('#panel-policy');
  if (!panel) return;
  if (!S.uai) {
    put(panel, h('p', {class: 'help'},
      'Choisissez un établissement dans la liste pour voir ou modifier ses temps de repos.'));
    return;
  }
  if (!S.doc) return;
  const edit = canEdit();
  const notices = [];
  if (S.doc.managed_by === 'file') {
    notices.push(h('p', {class: 'notice', testid: 'policy-notice'},
      'Cet établissement est configuré dans le fichier treve.toml ; modifiez-le là.'));
  } else if (!isAdmin()) {
    notices.push(h('p', {class: 'notice', testid: 'policy-notice'},
      'Consultation seule : votre rôle d\'auditeur permet de lire la politique, pas de la modifier.'));
  } else if (!edit) {
    notices.push(h('p', {class: 'notice', testid: 'policy-notice'},
      'Cette politique ne peut pas être modifiée ici.'));
  } else if (S.doc.managed_by === 'defaults') {
    notices.push(h('p', {class: 'notice info', testid: 'policy-notice'},
      'Cet établissement suit les valeurs par défaut. Vos modifications lui donneront sa propre politique.'));
  }
  if (Array.isArray(S.doc.weaker) && S.doc.weaker.length) {
    notices.push(h('div', {class: 'notice', testid: 'policy-weaker'},
      h('p', {}, h('strong', {}, 'La politique en vigueur est plus faible que le défaut national :')),
      h('ul', {}, S.doc.weaker.map((w) => h('li', {}, w)))));
  }
  if (S.notice) notices.push(noticeElement());
  put(panel,
    ...notices,
    h('section', {class: 'card crisis', id: 'crisis-card', testid: 'crisis-card',
      'aria-labelledby': 'crisis-title'}),
    h('div', {class: 'error-summary', id: 'error-summary', testid: 'error-summary', tabindex: '-1',
      hidden: true}),
    h('div', {class: 'overview'},
      h('section', {class: 'card grid-card', 'aria-labelledby': 'grid-title'},
        h('h3', {id: 'grid-title'}, 'La semaine'),
        h('p', {class: 'help'}, 'En couleur : les temps de repos, pendant lesquels les notifications sont tenues.'),
        h('div', {class: 'grid-scroll', id: 'grid-scroll', tabindex: '0', role: 'region',
          'aria-label': 'Grille de la semaine (défilement horizontal)'})),
      renderPreviewCard()),
    edit && h('div', {class: 'savebar', id: 'savebar', testid: 'savebar'}),
    h('form', {class: 'editor', id: 'policy-editor', testid: 'policy-editor',
      'aria-label': 'Politique de l\'établissement', onsubmit: (ev) => ev.preventDefault()}));
  renderEditor();
  renderGrid();
  renderSaveBar();
  applyErrors();
  schedulePreview(0);
  renderCrisisCard();
  loadCrises();
}

// Built once per panel, then only its text and the revert button change: a status region
// that is rebuilt on every keystroke would be announced over and over.
function renderSaveBar() {
  const bar = $('#savebar');
  if (!bar) return;
  const dirty = isDirty();
  if (!bar.firstChild) {
    put(bar,
      h('p', {testid: 'dirty-status', role: 'status'}),
      h('div', {class: 'actions'},
        h('button', {type: 'button', testid: 'revert', onclick: () => {
          S.draft = JSON.parse(S.savedJson);
          S.errors = [];
          S.notice = null;
          renderPolicyPanel();
          $('[data-testid="save"]')?.focus();
        }}, 'Annuler les modifications'),
        h('button', {type: 'button', class: 'primary', testid: 'save',
          onclick: () => openSaveDialog({kind: 'save'})}, 'Enregistrer…')));
  }
  const status = $('[data-testid="dirty-status"]', bar);
  const text = dirty ? 'Modifications non enregistrées.' : 'Aucune modification.';
  if (status.textContent !== text) status.textContent = text;
  status.className = dirty ? 'dirty' : 'clean';
  $('[data-testid="revert"]', bar).disabled = !dirty;
}

function renderGrid() {
  const box = $('#grid-scroll');
  if (!box) return;
  const windows = value('quiet') || [];
  const intervals = weekIntervals(windows);
  const hours = h('div', {class: 'hours', 'aria-hidden': 'true'},
    Array.from({length: 13}, (_, i) => h('span', {style: `top:${(i * 2) / 24 * 100}%`},
      `${String(i * 2).padStart(2, '0')}h`)));
  const columns = DAYS.map((_, di) => {
    const from = di * 1440, to = from + 1440;
    const blocks = [];
    for (const iv of intervals) {
      const s = Math.max(iv.start, from), e = Math.min(iv.end, to);
      if (e <= s) continue;
      const w = windows[iv.index];
      const until = e - from === 1440 ? '24:00' : hm(e - from);
      const label = `Fenêtre ${iv.index + 1}${w.name ? ` (${w.name})` : ''} : ${hm(s - from)} – ${until}`;
      blocks.push(h('div', {class: `block c${iv.index % 6}`, title: label,
        style: `top:${(s - from) / 1440 * 100}%;height:${(e - s) / 1440 * 100}%`},
        (e - s) >= 150 ? h('span', {}, `${iv.index + 1}`) : null));
    }
    return h('div', {class: 'day'}, h('div', {class: 'day-name'}, DAY_SHORT[di]),
      h('div', {class: 'day-body'}, blocks));
  });
  const description = windows.length
    ? 'Temps de repos : ' + windows.map(windowPhrase).join(' ; ') + '.'
    : 'Aucune fenêtre de repos.';
  put(box, h('div', {class: 'week', role: 'img', 'aria-label': description,
    testid: 'week-grid'}, hours, h('div', {class: 'days'}, columns)));
}

// ---------------------------------------------------------------------------------------------
// The editor (or, when read-only, the same sections as text)

function section(title, id, ...content) {
  return h('section', {class: 'card', 'aria-labelledby': id}, h('h3', {id}, title), ...content);
}
function inheritedNote(key, text) {
  return inherited(key) ? h('p', {class: 'inherited'}, text ||
    'Valeur par défaut (héritée). La modifier la fixe pour cet établissement.') : null;
}

function renderEditor() {
  const form = $('#policy-editor');
  if (!form) return;
  put(form, ...(canEdit() ? editSections() : readSections()));
  applyErrors();
}

function readSections() {
  const windows = value('quiet') || [];
  const closedAll = S.doc.effective?.closed || S.draft.closed || [];
  const delay = value('parent_grade_delay');
  const urgent = value('urgent_categories') || [];
  const holidays = value('holidays') || [];
  return [
    section('Fenêtres de repos', 'sec-quiet',
      windows.length
        ? h('ol', {class: 'plain', testid: 'windows-readonly'}, windows.map((w) => h('li', {}, windowPhrase(w))))
        : h('p', {}, 'Aucune fenêtre.'),
      inheritedNote('quiet', 'Fenêtres par défaut (héritées).')),
    section('Jours fermés', 'sec-closed',
      closedAll.length
        ? h('ul', {class: 'plain', testid: 'closed-readonly'}, closedAll.map((c) => h('li', {}, closedText(c))))
        : h('p', {}, 'Aucun jour fermé en plus des jours fériés.'),
      h('p', {}, holidays.includes('fr-public')
        ? 'Les jours fériés français sont des temps de repos.'
        : 'Les jours fériés ne sont pas des temps de repos.')),
    section('Notes et parents', 'sec-delay',
      h('p', {}, 'Délai avant qu\'un parent reçoive une note, après l\'élève : ',
        h('strong', {}, delayText(delay)))),
    section('Catégories urgentes', 'sec-urgent',
      h('p', {}, urgent.length
        ? 'Une notification urgente peut être envoyée pendant un temps de repos pour : ' +
          urgent.map(categoryText).join(', ') + '.'
        : 'Aucune notification urgente n\'est envoyée pendant un temps de repos.')),
  ];
}

// "1d", "24h", "1h30m", "0" → minutes (null when not a duration), so that "1d" shows as 24 hours.
function durationMinutes(text) {
  const s = String(text ?? '').trim();
  if (/^0+$/.test(s)) return 0;
  const unit = {d: 1440, h: 60, m: 1, s: 1 / 60, ms: 1 / 60000};
  let total = 0, rest = s;
  while (rest) {
    const m = /^(\d+)(ms|d|h|m|s)/.exec(rest);
    if (!m) return null;
    total += +m[1] * unit[m[2]];
    rest = rest.slice(m[0].length);
  }
  return s ? total : null;
}
// The option of DELAYS worth the same as `d`, if any.
const delayKey = (d) => DELAYS.find(([k]) => k === d || (durationMinutes(k) != null &&
  durationMinutes(k) === durationMinutes(d)))?.[0];
const delayText = (d) => DELAYS.find(([k]) => k === delayKey(d))?.[1] ||
  (d == null ? 'défaut' : String(d));

function editSections() {
  return [quietSection(), closedSection(), delaySection(), urgentSection()];
}

function quietSection() {
  const windows = value('quiet') || [];
  const list = h('ol', {class: 'windows', testid: 'windows'});
  windows.forEach((w, i) => list.append(h('li', {}, windowEditor(w, i))));
  return section('Fenêtres de repos', 'sec-quiet',
    h('p', {class: 'help'}, 'Chaque fenêtre commence les jours cochés à l\'heure de début. ' +
      'Une heure de fin plus tôt que le début veut dire le lendemain ; pour une fenêtre sur ' +
      'plusieurs jours (le week-end), choisissez le jour de fin.'),
    inheritedNote('quiet', 'Ce sont les fenêtres par défaut (héritées). En modifier une les ' +
      'remplace toutes par les vôtres pour cet établissement.'),
    h('div', {pointer: '/policy/quiet', id: idFor('/policy/quiet'), class: 'anchor'}),
    list,
    h('button', {type: 'button', testid: 'add-window', onclick: () => {
      own('quiet').push({days: [], start: '20:00', end: '07:00'});
      changed({rebuild: true});
      $(`[data-testid="window-${own('quiet').length - 1}-day-mon"]`)?.focus();
    }}, 'Ajouter une fenêtre'));
}

function windowEditor(w, i) {
  const base = `/policy/quiet/${i}`;
  // An emptied start or end stays as "" so that the API's error names that field; the optional
  // keys go away when emptied.
  const set = (key, v, rebuild = false) => {
    const win = own('quiet')[i];
    if ((v === '' || v == null) && key !== 'start' && key !== 'end') delete win[key];
    else win[key] = v ?? '';
    phrase.textContent = windowPhrase(win);
    changed({rebuild});
  };
  const phrase = h('p', {class: 'phrase'}, windowPhrase(w));
  const days = h('fieldset', {class: 'days-field', pointer: `${base}/days`, id: idFor(`${base}/days`)},
    h('legend', {}, 'Commence le'),
    DAYS.map((d, di) => {
      const id = `w${i}-day-${d}`;
      return h('span', {class: 'day-check'},
        h('input', {type: 'checkbox', id, testid: `window-${i}-day-${d}`,
          checked: (w.days || []).includes(d), onchange: (ev) => {
            const win = own('quiet')[i];
            const set = new Set(win.days || []);
            if (ev.target.checked) set.add(d); else set.delete(d);
            win.days = DAYS.filter((x) => set.has(x));
            phrase.textContent = windowPhrase(win);
            changed();
          }}),
        h('label', {for: id}, h('span', {'aria-hidden': 'true'}, DAY_SHORT[di]),
          h('span', {class: 'sr-only'}, DAY_LONG[di])));
    }));
  const field = (key, label, control) => h('div', {class: 'field'},
    h('label', {for: control.id}, label), control);
  const start = h('input', {type: 'time', id: idFor(`${base}/start`), pointer: `${base}/start`,
    testid: `window-${i}-start`, value: w.start || '', required: true,
    oninput: (ev) => set('start', ev.target.value)});
  const end = h('input', {type: 'time', id: idFor(`${base}/end`), pointer: `${base}/end`,
    testid: `window-${i}-end`, value: w.end || '', required: true,
    oninput: (ev) => set('end', ev.target.value)});
  const endDay = h('select', {id: idFor(`${base}/end_day`), pointer: `${base}/end_day`,
    testid: `window-${i}-end-day`, value: w.end_day || '',
    onchange: (ev) => set('end_day', ev.target.value)},
  h('option', {value: ''}, 'le jour même ou le lendemain'),
  DAYS.map((d, di) => h('option', {value: d}, `le ${DAY_LONG[di]} suivant`)));
  const name = h('input', {type: 'text', id: idFor(`${base}/name`), pointer: `${base}/name`,
    testid: `window-${i}-name`, value: w.name || '', maxlength: '64', placeholder: 'week-end',
    oninput: (ev) => set('name', ev.target.value.trim() ? ev.target.value : '')});
  // No category ticked: the window is the establishment's, followed by every category without
  // windows of its own. Ticked: it holds only those categories (e.g. absences until 06:00).
  const cats = h('fieldset', {class: 'days-field', pointer: `${base}/categories`,
    id: idFor(`${base}/categories`)},
  h('legend', {}, 'Catégories (aucune cochée : toutes celles sans fenêtre propre)'),
  h('div', {class: 'checks'}, CATEGORIES.map(([k, label]) => {
    const id = `w${i}-cat-${k}`;
    return h('span', {class: 'check'},
      h('input', {type: 'checkbox', id, testid: `window-${i}-cat-${k}`,
        checked: (w.categories || []).includes(k), onchange: (ev) => {
          const win = own('quiet')[i];
          const chosen = new Set(win.categories || []);
          if (ev.target.checked) chosen.add(k); else chosen.delete(k);
          const list = CATEGORIES.map(([c]) => c).filter((c) => chosen.has(c));
          set('categories', list.length ? list : null);
        }}),
      h('label', {for: id}, label));
  })));
  return h('fieldset', {class: 'window', pointer: base, id: idFor(base), testid: `window-${i}`},
    h('legend', {}, `Fenêtre ${i + 1}`, w.name ? ` — ${w.name}` : ''),
    days,
    cats,
    h('div', {class: 'row'},
      field('start', 'Début', start),
      field('end', 'Fin', end),
      field('end_day', 'Jour de fin (facultatif)', endDay),
      field('name', 'Nom (facultatif)', name)),
    phrase,
    h('button', {type: 'button', class: 'danger', testid: `window-${i}-remove`,
      'aria-label': `Supprimer la fenêtre ${i + 1}`, onclick: () => {
        own('quiet').splice(i, 1);
        S.errors = [];
        changed({rebuild: true});
        $('[data-testid="add-window"]')?.focus();
      }}, 'Supprimer'));
}

function closedSection() {
  const entries = S.draft.closed || [];
  const saved = (S.doc.policy?.closed || []).map(closedRange);
  const common = (S.doc.effective?.closed || []).filter((c) => !saved.includes(closedRange(c)));
  const from = h('input', {type: 'date', id: 'closed-from', testid: 'closed-from', required: true,
    'aria-describedby': 'closed-new-error'});
  const to = h('input', {type: 'date', id: 'closed-to', testid: 'closed-to',
    'aria-describedby': 'closed-to-help closed-new-error'});
  const addError = h('p', {class: 'error', id: 'closed-new-error', role: 'alert', hidden: true});
  const icsStatus = h('p', {class: 'help', id: 'ics-status', testid: 'ics-status', role: 'status'});
  const holidays = value('holidays') || [];
  return section('Jours fermés', 'sec-closed',
    h('p', {class: 'help'}, 'Les jours fermés (vacances, examens…) sont des temps de repos du ' +
      'matin au soir.'),
    h('div', {class: 'field check'},
      h('input', {type: 'checkbox', id: idFor('/policy/holidays'), pointer: '/policy/holidays',
        testid: 'holidays', checked: holidays.includes('fr-public'), onchange: (ev) => {
          const list = own('holidays').filter((x) => x !== 'fr-public');
          if (ev.target.checked) list.unshift('fr-public');
          S.draft.holidays = list;
          changed();
        }}),
      h('label', {for: idFor('/policy/holidays')}, 'Les jours fériés français sont des temps de repos')),
    h('div', {pointer: '/policy/closed', id: idFor('/policy/closed'), class: 'anchor'}),
    entries.length
      ? h('ul', {class: 'closed-list', testid: 'closed-list'}, entries.map((c, i) => h('li', {
        pointer: `/policy/closed/${i}`, id: idFor(`/policy/closed/${i}`), testid: `closed-${i}`},
      h('span', {}, closedText(c)),
      h('button', {type: 'button', class: 'danger small', testid: `closed-${i}-remove`,
        'aria-label': `Supprimer la fermeture ${closedText(c)}`, onclick: () => {
          S.draft.closed.splice(i, 1);
          if (!S.draft.closed.length && !(S.doc.policy && 'closed' in S.doc.policy)) delete S.draft.closed;
          S.errors = [];
          changed({rebuild: true});
          $('#closed-from')?.focus();
        }}, 'Supprimer'))))
      : h('p', {testid: 'closed-list'}, 'Aucun jour fermé propre à l\'établissement.'),
    common.length ? h('p', {class: 'help'}, 'Aussi fermés, pour tous les établissements : ',
      common.map(closedText).join(' ; '), '.') : null,
    h('fieldset', {class: 'closed-add'},
      h('legend', {}, 'Ajouter une fermeture'),
      h('div', {class: 'row'},
        h('div', {class: 'field'}, h('label', {for: 'closed-from'}, 'Du'), from),
        h('div', {class: 'field'}, h('label', {for: 'closed-to'}, 'Au (inclus, facultatif)'), to),
        h('button', {type: 'button', testid: 'closed-add', onclick: () => {
          const a = from.value, b = to.value;
          let msg = '';
          if (!a) msg = 'Choisissez le premier jour fermé.';
          else if (b && b < a) msg = 'Le dernier jour doit être après le premier.';
          if (msg) {
            addError.textContent = msg;
            addError.hidden = false;
            from.setAttribute('aria-invalid', 'true');
            from.focus();
            return;
          }
          addClosed([b && b !== a ? `${a}..${b}` : a]);
          changed({rebuild: true});
          $('#closed-from')?.focus();
        }}, 'Ajouter')),
      h('p', {class: 'help', id: 'closed-to-help'}, 'Laissez « Au » vide pour un seul jour.'),
      addError),
    h('div', {class: 'field'},
      h('label', {for: 'ics-file'}, 'Importer les fermetures d\'un calendrier (.ics)'),
      h('input', {type: 'file', id: 'ics-file', testid: 'ics-file', accept: '.ics,text/calendar',
        'aria-describedby': 'ics-help ics-status', onchange: importIcs}),
      h('p', {class: 'help', id: 'ics-help'}, 'Par exemple le calendrier des vacances scolaires de ' +
        'votre zone : ses événements sur des journées entières deviennent des jours fermés.')),
    icsStatus);
}

// Adds entries that are not there yet, keeping the list in date order.
function addClosed(entries) {
  const list = S.draft.closed || (S.draft.closed = []);
  let added = 0;
  for (const e of entries) {
    if (!list.includes(e)) {
      list.push(e);
      ++added;
    }
  }
  list.sort();
  return added;
}

async function importIcs(ev) {
  const input = ev.target;
  const file = input.files?.[0];
  if (!file) return;
  const status = $('#ics-status');
  status.textContent = `Lecture de ${file.name}…`;
  const text = await file.text();
  const r = await api('POST', policyPath(S.uai, 'ics'), {body: text, contentType: 'text/calendar'});
  input.value = '';
  if (!r.ok || !Array.isArray(r.data?.closed)) {
    // The calendar's error in French when the API gives it (invalid-calendar's errors).
    const why = r.data?.errors?.[0]?.detail || r.message || 'réponse inattendue.';
    status.textContent = `Import impossible : ${why}`;
    status.className = 'error';
    return;
  }
  const added = addClosed(r.data.closed);
  const ignored = r.data.ignored || 0;
  changed({rebuild: true});
  const st = $('#ics-status');
  st.textContent = `${file.name} : ${added} fermeture${added > 1 ? 's' : ''} ajoutée${added > 1 ? 's' : ''}` +
    (r.data.closed.length > added ? `, ${r.data.closed.length - added} déjà présente(s)` : '') +
    (ignored ? `, ${ignored} événement${ignored > 1 ? 's' : ''} ignoré${ignored > 1 ? 's' : ''} ` +
      '(pas sur des journées entières)' : '') + '. Enregistrez pour les appliquer.';
  // What was ignored, and why, in French.
  const notes = (r.data.warning_details || []).map((w) => w.detail).filter(Boolean);
  if (notes.length) st.append(' ', h('span', {testid: 'ics-warnings'}, `Ignorés : ${notes.join(' ; ')}.`));
  $('#ics-file')?.focus();
}

function delaySection() {
  const raw = value('parent_grade_delay');
  const current = delayKey(raw) ?? raw;
  const options = [...DELAYS];
  if (current != null && !options.some(([k]) => k === current)) options.push([current, String(current)]);
  const id = idFor('/policy/parent_grade_delay');
  return section('Notes et parents', 'sec-delay',
    h('div', {class: 'field'},
      h('label', {for: id}, 'Délai avant qu\'un parent reçoive une note, après l\'élève'),
      h('select', {id, pointer: '/policy/parent_grade_delay', testid: 'parent-grade-delay',
        value: current ?? '24h', onchange: (ev) => {
          S.draft.parent_grade_delay = ev.target.value;
          changed();
        }}, options.map(([k, label]) => h('option', {value: k}, label))),
      h('p', {class: 'help'}, 'La note arrive ensuite aux parents hors des temps de repos.')),
    inheritedNote('parent_grade_delay'));
}

function urgentSection() {
  const current = value('urgent_categories') || [];
  return section('Catégories urgentes', 'sec-urgent',
    h('fieldset', {pointer: '/policy/urgent_categories', id: idFor('/policy/urgent_categories')},
      h('legend', {}, 'Une notification marquée urgente par un logiciel autorisé peut être ' +
        'envoyée pendant un temps de repos si elle est de catégorie :'),
      h('div', {class: 'checks'}, CATEGORIES.map(([k, label]) => {
        const id = `urgent-${k}`;
        return h('span', {class: 'check'},
          h('input', {type: 'checkbox', id, testid: `urgent-${k}`, checked: current.includes(k),
            onchange: (ev) => {
              const set = new Set(own('urgent_categories'));
              if (ev.target.checked) set.add(k); else set.delete(k);
              S.draft.urgent_categories = CATEGORIES.map(([c]) => c).filter((c) => set.has(c));
              changed();
            }}),
          h('label', {for: id}, label));
      }))),
    h('p', {class: 'help'}, 'Le défaut national est « Alertes » seulement ; au-delà, la politique ' +
      'est plus faible et devra être confirmée.'),
    inheritedNote('urgent_categories'));
}

// ---------------------------------------------------------------------------------------------
// Errors from the API, shown next to the control their JSON pointer names

// The control an error's pointer names, or the nearest container; `missing key "end"` at
// /policy/quiet/0 names /policy/quiet/0/end.
function targetFor(pointer, detail = '') {
  const missing = /missing key "([^"]+)"/.exec(detail);
  if (missing) {
    const el = document.querySelector(`[data-pointer="${CSS.escape(`${pointer}/${missing[1]}`)}"]`);
    if (el && el.offsetParent !== null) return el;
  }
  let p = pointer;
  while (p) {
    const el = document.querySelector(`[data-pointer="${CSS.escape(p)}"]`);
    if (el && el.offsetParent !== null) return el;
    if (el && el.closest('dialog[open]')) return el;
    p = p.slice(0, p.lastIndexOf('/'));
  }
  return null;
}

function clearFieldErrors(root = document) {
  for (const e of $$('.field-error', root)) e.remove();
  for (const el of $$('[data-errored]', root)) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/)
      .filter((x) => x && !x.startsWith('err-'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
    delete el.dataset.errored;
  }
}

function markInvalid(el, id) {
  el.dataset.errored = '1';
  if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) el.setAttribute('aria-invalid', 'true');
  const ids = new Set((el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean));
  ids.add(id);
  el.setAttribute('aria-describedby', [...ids].join(' '));
}

// Puts S.errors on the page; answers the errors no control could take.
function applyErrors({announce = false} = {}) {
  clearFieldErrors($('#panel-policy') || document);
  const summary = $('#error-summary');
  const orphans = [];
  S.errors.forEach((err, n) => {
    const target = targetFor(err.pointer || '', err.detail);
    if (!target) {
      orphans.push(err);
      return;
    }
    const id = `err-${n}`;
    const p = h('p', {class: 'field-error', id, testid: 'field-error', 'data-for': err.pointer},
      err.detail || 'Valeur refusée.');
    markInvalid(target, id);
    if (target.tagName === 'FIELDSET') {
      for (const input of $$('input, select', target)) markInvalid(input, id);
      target.append(p);
    } else if (target.classList.contains('anchor') || target.tagName === 'LI') {
      target.append(p);
    } else {
      (target.closest('.field') || target).after(p);
    }
  });
  if (!summary) return orphans;
  if (!S.errors.length || !announce) {
    summary.hidden = !orphans.length;
    put(summary, orphans.length
      ? h('ul', {}, orphans.map((e) => h('li', {}, e.detail || e.pointer))) : '');
    return orphans;
  }
  summary.hidden = false;
  summary.setAttribute('role', 'alert');
  put(summary,
    h('h3', {}, `La politique n'a pas été enregistrée : ${S.errors.length} erreur${S.errors.length > 1 ? 's' : ''}`),
    h('ul', {}, S.errors.map((e) => h('li', {}, h('a', {href: '#', onclick: (ev) => {
      ev.preventDefault();
      const t = targetFor(e.pointer || '', e.detail);
      const focusable = t && (/^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName) ? t : $('input, select, button', t));
      focusable?.focus();
    }}, `${pointerText(e.pointer)} : ${e.detail || 'valeur refusée'}`)))));
  summary.focus();
  return orphans;
}

// "/policy/quiet/1/end" → "Fenêtre 2, fin".
function pointerText(pointer) {
  const parts = String(pointer || '').split('/').slice(1);
  if (parts[0] === 'policy') parts.shift();
  const field = {start: 'début', end: 'fin', end_day: 'jour de fin', name: 'nom', days: 'jours'};
  if (parts[0] === 'quiet' && parts.length > 1) {
    return `Fenêtre ${+parts[1] + 1}` + (parts[2] ? `, ${field[parts[2]] || parts[2]}` : '');
  }
  if (parts[0] === 'closed' && parts.length > 1) return `Jour fermé ${+parts[1] + 1}`;
  return {quiet: 'Fenêtres', closed: 'Jours fermés', parent_grade_delay: 'Délai des notes',
    urgent_categories: 'Catégories urgentes', holidays: 'Jours fériés', timezone: 'Fuseau horaire',
    comment: 'Commentaire'}[parts[0]] || pointer || 'Politique';
}

// ---------------------------------------------------------------------------------------------
// The preview: what the draft would do to a notification sent now (or at a chosen time)

function renderPreviewCard() {
  const p = S.preview;
  const category = h('select', {id: 'preview-category', testid: 'preview-category', value: p.category,
    onchange: (ev) => { p.category = ev.target.value; schedulePreview(0); }},
  CATEGORIES.map(([k, label]) => h('option', {value: k}, label)));
  const role = h('select', {id: 'preview-role', testid: 'preview-role', value: p.role,
    onchange: (ev) => { p.role = ev.target.value; schedulePreview(0); }},
  ROLES.map(([k, label]) => h('option', {value: k}, label)));
  const date = h('input', {type: 'date', id: 'preview-date', testid: 'preview-date', value: p.date,
    onchange: (ev) => { p.date = ev.target.value; schedulePreview(0); }});
  const time = h('input', {type: 'time', id: 'preview-time', testid: 'preview-time', value: p.time,
    onchange: (ev) => { p.time = ev.target.value; schedulePreview(0); }});
  // A user of the ENT: their role and other establishments come from the connector's directory
  // (the role list is then unused).
  const user = h('input', {type: 'text', id: 'preview-user', testid: 'preview-user', value: p.user,
    maxlength: '128', autocomplete: 'off', spellcheck: 'false',
    onchange: (ev) => {
      p.user = ev.target.value.trim();
      role.disabled = !!p.user;
      schedulePreview(0);
    }});
  const connector = h('input', {type: 'text', id: 'preview-connector', testid: 'preview-connector',
    value: p.connector, maxlength: '64', autocomplete: 'off', spellcheck: 'false',
    onchange: (ev) => { p.connector = ev.target.value.trim(); schedulePreview(0); }});
  role.disabled = !!p.user;
  return h('aside', {class: 'card preview', 'aria-labelledby': 'preview-title'},
    h('h3', {id: 'preview-title'}, 'Aperçu'),
    h('p', {class: 'summary', id: 'preview-summary', testid: 'preview-summary',
      'aria-live': 'polite', 'aria-atomic': 'true'}, 'Calcul…'),
    h('details', {class: 'simulate', open: !!p.date},
      h('summary', {}, 'Essayer une autre notification'),
      h('div', {class: 'row'},
        h('div', {class: 'field'}, h('label', {for: 'preview-category'}, 'Catégorie'), category),
        h('div', {class: 'field'}, h('label', {for: 'preview-role'}, 'Destinataire'), role)),
      h('div', {class: 'row'},
        h('div', {class: 'field'}, h('label', {for: 'preview-date'}, 'Envoyée le'), date),
        h('div', {class: 'field'}, h('label', {for: 'preview-time'}, 'à'), time),
        h('button', {type: 'button', testid: 'preview-now', onclick: () => {
          p.date = '';
          p.time = '';
          date.value = '';
          time.value = '';
          schedulePreview(0);
        }}, 'Maintenant')),
      h('p', {class: 'help'}, 'Date et heure de l\'établissement. Vides : maintenant.'),
      h('div', {class: 'row'},
        h('div', {class: 'field'},
          h('label', {for: 'preview-user'}, 'Identifiant ENT de l\'utilisateur'), user),
        h('div', {class: 'field'}, h('label', {for: 'preview-connector'}, 'Connecteur'), connector)),
      h('p', {class: 'help'}, 'Facultatifs : le rôle et les autres établissements de ' +
        'l\'utilisateur viennent alors de l\'annuaire du connecteur.')),
    h('h4', {id: 'quiet-title'}, 'Temps de repos sur 14 jours'),
    h('ul', {class: 'quiet-list', id: 'preview-quiet', testid: 'preview-quiet',
      'aria-labelledby': 'quiet-title'}),
    h('p', {class: 'help', id: 'preview-categories', testid: 'preview-categories', hidden: true}));
}

function schedulePreview(delay = 300) {
  clearTimeout(S.preview.timer);
  S.preview.timer = setTimeout(runPreview, delay);
}

async function runPreview() {
  if (!S.uai || !S.doc) return;
  const seq = ++S.preview.seq;
  const p = S.preview;
  const body = p.user
    ? {category: p.category, user: p.user, connector: p.connector}
    : {category: p.category, role: p.role};
  if (canEdit()) body.policy = S.draft;
  if (p.date) {
    body.at = wallToRfc3339(p.date, p.time || '00:00',
      S.doc.effective?.timezone || 'Europe/Paris');
  }
  const summary = $('#preview-summary');
  summary?.setAttribute('aria-busy', 'true');
  const r = await api('POST', policyPath(S.uai, 'preview'), {json: body});
  if (seq !== S.preview.seq) return;  // a newer one is on its way
  const box = $('#preview-summary'), list = $('#preview-quiet');
  if (!box || !list) return;
  box.removeAttribute('aria-busy');
  if (r.status === 400 && Array.isArray(r.data?.errors)) {
    S.errors = r.data.errors;
    applyErrors();
    box.dataset.state = 'invalid';
    box.textContent = `Aperçu impossible : la politique contient ${S.errors.length} erreur` +
      `${S.errors.length > 1 ? 's' : ''} (signalée${S.errors.length > 1 ? 's' : ''} sous les champs).`;
    put(list);
    return;
  }
  if (!r.ok || !r.data) {
    box.dataset.state = 'error';
    box.textContent = `Aperçu indisponible : ${r.message}`;
    put(list);
    return;
  }
  if (S.errors.length) {
    S.errors = [];
    applyErrors();
  }
  box.dataset.state = 'ok';
  box.textContent = r.data.summary || (r.data.held
    ? `Tenue jusqu'au ${instantText(r.data.release_at)} (${r.data.reason || ''}).`
    : 'Remise immédiatement.');
  // Categories with windows of their own have their own quiet times: name them, and how many
  // intervals each has over the 14 days, so that choosing one above shows them.
  const perCategory = r.data.categories && typeof r.data.categories === 'object' ? r.data.categories : {};
  const named = Object.keys(perCategory).filter((c) => Array.isArray(perCategory[c]));
  const note = $('#preview-categories');
  if (note) {
    note.hidden = !named.length;
    note.textContent = named.length
      ? 'Fenêtres propres à une catégorie : ' + named.map((c) =>
        `${categoryText(c)} (${perCategory[c].length} temps de repos)`).join(', ') +
        '. Choisissez la catégorie ci-dessus pour les voir.'
      : '';
  }
  const quiet = Array.isArray(r.data.quiet) ? r.data.quiet : [];
  put(list, ...(quiet.length ? quiet.map((q) => {
    const a = wall(q.start), b = wall(q.end);
    const same = a && b && a.y === b.y && a.mo === b.mo && a.d === b.d;
    const text = a && b
      ? `${dayText(a)} ${a.time} → ${same ? '' : dayText(b) + ' '}${b.time}`
      : `${q.start} → ${q.end}`;
    // A label that only restates the interval ("mardi 11 mars à 20:00 → …") is left out.
    const cause = q.label && !q.label.includes('→') ? q.label : null;
    return h('li', {title: q.label || null}, h('span', {class: 'when'}, text),
      cause ? h('span', {class: 'label'}, cause) : null);
  }) : [h('li', {}, 'Aucun temps de repos.')]));
}

// ---------------------------------------------------------------------------------------------
// Crisis mode: notifications delivered at once for a while (docs/policy.md "Crisis mode")

const crisesPath = (uai, rest = '') =>
  `/v1/admin/establishments/${encodeURIComponent(uai)}/crises${rest}`;
const schoolZone = () => S.doc?.effective?.timezone || 'Europe/Paris';

// Date and time, in the establishment's zone, `hours` from now.
function wallIn(hours) {
  const t = Date.now() + hours * 3600000;
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {timeZone: schoolZone(),
    hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
    minute: '2-digit'}).formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  return {date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}`};
}

async function loadCrises() {
  const uai = S.uai;
  if (!uai) return;
  const r = await api('GET', crisesPath(uai));
  if (uai !== S.uai) return;
  S.crises = r.ok && Array.isArray(r.data) ? r.data : null;
  if (!r.ok) S.crisisMessage = {text: `Mode crise indisponible : ${r.message}`, kind: 'error'};
  renderCrisisCard();
}

function crisisCategories(c) {
  const all = Array.isArray(c.categories) ? c.categories : [];
  return all.length === CATEGORIES.length ? 'toutes les catégories' : all.map(categoryText).join(', ');
}

function crisisMessageElement() {
  const m = S.crisisMessage;
  return m && h('p', {class: m.kind === 'error' ? 'error' : `notice ${m.kind}`,
    role: m.kind === 'error' ? 'alert' : 'status', testid: 'crisis-message'}, m.text);
}

// One action on the crisis; its answer becomes the card's message, the preview is asked again.
async function crisisAction(method, path, json, done) {
  const uai = S.uai;
  const r = await api(method, path, {json});
  if (uai !== S.uai) return r;
  S.crisisMessage = r.ok ? {text: done(r.data), kind: 'ok'} : {text: r.message, kind: 'error'};
  await loadCrises();
  schedulePreview(0);
  return r;
}

function renderCrisisCard() {
  const card = $('#crisis-card');
  if (!card) return;
  const list = S.crises || [];
  const open = list.find((c) => c.open);
  const admin = isAdmin();
  const parts = [h('h3', {id: 'crisis-title'}, 'Mode crise')];
  if (open) {
    parts.push(h('div', {class: 'notice', testid: 'crisis-open'},
      h('p', {}, h('strong', {}, 'Mode crise en cours'), ` depuis le ${instantText(open.opened_at)}` +
        ` (ouvert par ${open.opened_by}) jusqu'au ${instantText(open.until)}.`),
      h('p', {}, `Motif : « ${open.reason} ». Les notifications (${crisisCategories(open)}) ` +
        'sont remises aussitôt, sans temps de repos.')));
  } else {
    parts.push(h('p', {class: 'help', testid: 'crisis-none'},
      'Aucun mode crise en cours. En cas de crise (tempête, confinement…), il fait remettre ' +
      'aussitôt les notifications de l\'établissement, pour 72 heures au plus.'));
  }
  const message = crisisMessageElement();
  if (message) parts.push(message);
  if (admin && open) {
    const end = wallIn(24);
    const date = h('input', {type: 'date', id: 'crisis-extend-date', testid: 'crisis-extend-date',
      value: end.date});
    const time = h('input', {type: 'time', id: 'crisis-extend-time', testid: 'crisis-extend-time',
      value: end.time});
    parts.push(h('form', {class: 'row', testid: 'crisis-extend-form', onsubmit: (ev) => {
      ev.preventDefault();
      crisisAction('POST', crisesPath(S.uai, `/${open.id}/extend`),
        {until: wallToRfc3339(date.value, time.value || '00:00', schoolZone())},
        (c) => `Mode crise prolongé jusqu'au ${instantText(c.until)}.`);
    }},
    h('div', {class: 'field'}, h('label', {for: 'crisis-extend-date'}, 'Nouvelle fin, le'), date),
    h('div', {class: 'field'}, h('label', {for: 'crisis-extend-time'}, 'à'), time),
    h('button', {type: 'submit', testid: 'crisis-extend'}, 'Prolonger'),
    h('button', {type: 'button', class: 'danger', testid: 'crisis-close', onclick: () => {
      if (!confirm('Fermer le mode crise ? Les notifications seront de nouveau tenues pendant les temps de repos.')) return;
      crisisAction('POST', crisesPath(S.uai, `/${open.id}/close`), undefined,
        () => 'Mode crise fermé : les temps de repos s\'appliquent de nouveau.');
    }}, 'Fermer le mode crise')));
  } else if (admin) {
    const end = wallIn(24);
    const reason = h('textarea', {id: 'crisis-reason', testid: 'crisis-reason', maxlength: '500',
      rows: '2', required: true, 'aria-describedby': 'crisis-reason-error'});
    const reasonError = h('p', {class: 'error', id: 'crisis-reason-error', hidden: true});
    const date = h('input', {type: 'date', id: 'crisis-until-date', testid: 'crisis-until-date',
      value: end.date});
    const time = h('input', {type: 'time', id: 'crisis-until-time', testid: 'crisis-until-time',
      value: end.time});
    const release = h('input', {type: 'checkbox', id: 'crisis-release', testid: 'crisis-release'});
    const boxes = CATEGORIES.map(([k, label]) => h('label', {class: 'check'},
      h('input', {type: 'checkbox', testid: `crisis-category-${k}`, value: k, checked: true}), label));
    parts.push(h('details', {class: 'crisis-open-form'},
      h('summary', {testid: 'crisis-start'}, 'Ouvrir le mode crise'),
      h('form', {novalidate: true, testid: 'crisis-form', onsubmit: (ev) => {
        ev.preventDefault();
        if (!reason.value.trim()) {
          reasonError.textContent = 'Le motif est obligatoire.';
          reasonError.hidden = false;
          reason.setAttribute('aria-invalid', 'true');
          reason.focus();
          return;
        }
        reasonError.hidden = true;
        reason.removeAttribute('aria-invalid');
        const chosen = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked)
          .map((i) => i.value);
        const body = {reason: reason.value.trim(),
          until: wallToRfc3339(date.value, time.value || '00:00', schoolZone()),
          release_held: release.checked};
        if (chosen.length !== CATEGORIES.length) body.categories = chosen;
        crisisAction('POST', crisesPath(S.uai), body, (c) =>
          `Mode crise ouvert jusqu'au ${instantText(c.until)}` +
          (c.release_held ? ` ; ${c.replanned} notification${c.replanned > 1 ? 's' : ''} retenue` +
            `${c.replanned > 1 ? 's' : ''} libérée${c.replanned > 1 ? 's' : ''}.` : '.'));
      }},
      h('div', {class: 'field'}, h('label', {for: 'crisis-reason'}, 'Motif (obligatoire)'), reason,
        reasonError),
      h('fieldset', {}, h('legend', {}, 'Catégories concernées'), h('div', {class: 'checks'}, boxes)),
      h('div', {class: 'row'},
        h('div', {class: 'field'}, h('label', {for: 'crisis-until-date'}, 'Fin, le'), date),
        h('div', {class: 'field'}, h('label', {for: 'crisis-until-time'}, 'à'), time)),
      h('p', {class: 'help'}, 'Heure de l\'établissement ; 72 heures au plus, prolongeable.'),
      h('div', {class: 'field'}, h('label', {class: 'check', for: 'crisis-release'}, release,
        ' Libérer tout de suite les notifications retenues')),
      h('button', {type: 'submit', testid: 'crisis-submit'}, 'Ouvrir le mode crise'))));
  }
  if (list.length) {
    parts.push(h('details', {class: 'crisis-history'},
      h('summary', {}, `Crises précédentes et en cours (${list.length})`),
      h('ul', {testid: 'crisis-list'}, list.map((c) => h('li', {testid: `crisis-${c.id}`},
        `${instantText(c.opened_at)} → ${instantText(c.closed_at || c.until)} : « ${c.reason} »` +
        ` (${c.opened_by}` + (c.open ? ', en cours)' : c.closed_by === 'expiry'
          ? ', terminée à son échéance)' : `, fermée par ${c.closed_by})`))))));
  }
  put(card, ...parts);
}

// ---------------------------------------------------------------------------------------------
// Saving and rolling back: one dialog asking for the comment, then for confirmation when weaker

function openSaveDialog(mode) {
  $('dialog.save')?.remove();
  let confirmShown = false;
  const comment = h('textarea', {id: 'save-comment', name: 'comment', rows: '3', required: true,
    maxlength: '500', pointer: '/comment', testid: 'save-comment', 'aria-describedby': 'save-comment-help'});
  const commentError = h('p', {class: 'field-error', id: 'err-comment', hidden: true});
  const weakerBox = h('div', {class: 'weaker', hidden: true, testid: 'weaker-box'});
  const conflictBox = h('div', {class: 'conflict', hidden: true, testid: 'version-conflict', role: 'alert'});
  const errorBox = h('p', {class: 'error', role: 'alert', hidden: true, testid: 'save-error'});
  const confirmBox = h('input', {type: 'checkbox', id: 'confirm-weaker', testid: 'confirm-weaker'});
  const submit = h('button', {type: 'submit', class: 'primary', testid: 'save-confirm'},
    mode.kind === 'save' ? 'Enregistrer' : 'Revenir à cette version');
  const title = mode.kind === 'save'
    ? 'Enregistrer la politique'
    : `Revenir à la version ${mode.version}`;
  const dialog = h('dialog', {class: 'save', testid: 'save-dialog', 'aria-labelledby': 'save-title'},
    h('form', {method: 'dialog', novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      errorBox.hidden = true;
      if (!comment.value.trim()) {
        commentError.textContent = 'Écrivez un commentaire : il explique ce changement dans l\'historique.';
        commentError.hidden = false;
        comment.setAttribute('aria-invalid', 'true');
        comment.setAttribute('aria-describedby', 'save-comment-help err-comment');
        comment.focus();
        return;
      }
      commentError.hidden = true;
      comment.removeAttribute('aria-invalid');
      if (confirmShown && !confirmBox.checked) {
        errorBox.textContent = 'Cochez la case pour confirmer cette politique plus faible, ou annulez.';
        errorBox.hidden = false;
        confirmBox.focus();
        return;
      }
      submit.disabled = true;
      await send(comment.value.trim(), confirmShown && confirmBox.checked);
      submit.disabled = !conflictBox.hidden;  // after a conflict, only reloading helps
    }},
    h('h2', {id: 'save-title'}, title),
    h('p', {}, mode.kind === 'save'
      ? `Les notifications en attente de ${S.uai} seront replanifiées selon la nouvelle politique.`
      : `Une nouvelle version, identique à la version ${mode.version}, sera créée.`),
    h('div', {class: 'field'},
      h('label', {for: 'save-comment'}, 'Commentaire (obligatoire)'),
      comment,
      h('p', {class: 'help', id: 'save-comment-help'},
        'Visible dans l\'historique : par exemple « Vote du conseil d\'administration du 12 novembre ».'),
      commentError),
    weakerBox, conflictBox, errorBox,
    h('div', {class: 'actions'},
      h('button', {type: 'button', testid: 'save-cancel', onclick: () => dialog.close()}, 'Annuler'),
      submit)));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  comment.focus();

  async function send(text, confirmWeaker) {
    let r;
    if (mode.kind === 'save') {
      r = await api('PUT', policyPath(S.uai), {json: {policy: S.draft, comment: text,
        confirm_weaker: confirmWeaker, expected_version: S.doc.version ?? null}});
    } else {
      r = await api('POST', policyPath(S.uai, 'rollback'), {json: {version: mode.version,
        comment: text, confirm_weaker: confirmWeaker}});
    }
    if (!S.me) return;  // signed out on 401
    if (r.ok) {
      dialog.close();
      const v = r.data?.version;
      const parts = [mode.kind === 'save'
        ? `Version ${v} enregistrée.`
        : `Version ${v} créée : retour à la version ${mode.version}.`];
      const n = r.data?.replanned || 0;
      if (n) parts.push(`${n} notification${n > 1 ? 's' : ''} en attente replanifiée${n > 1 ? 's' : ''}.`);
      if (r.data?.weaker?.length) {
        parts.push('Politique plus faible que le défaut national, signalée dans le journal d\'audit.');
      }
      S.notice = {text: parts.join(' '), kind: 'ok'};
      await loadPolicy();  // renders the open tab, the notice on top
      $('[data-testid="save-status"]')?.focus();
      return;
    }
    const type = problemType(r);
    if (r.status === 400 && Array.isArray(r.data?.errors)) {
      const commentErr = r.data.errors.find((e) => e.pointer === '/comment');
      if (commentErr) {
        commentError.textContent = commentErr.detail;
        commentError.hidden = false;
        comment.setAttribute('aria-invalid', 'true');
        comment.focus();
        return;
      }
      dialog.close();
      S.errors = r.data.errors;
      if (S.tab !== 'policy') selectTab('policy');
      applyErrors({announce: true});
      return;
    }
    if (r.status === 409 && (type === 'weaker-policy' || Array.isArray(r.data?.weaker))) {
      confirmShown = true;
      weakerBox.hidden = false;
      put(weakerBox,
        h('p', {role: 'alert'}, h('strong', {}, 'Cette politique est plus faible que le défaut national :')),
        h('ul', {testid: 'weaker-reasons'}, (r.data?.weaker || []).map((w) => h('li', {}, w))),
        h('div', {class: 'field check'}, confirmBox,
          h('label', {for: 'confirm-weaker'}, 'Je confirme cette politique plus faible que le défaut national')),
        h('p', {class: 'help'}, 'Elle sera enregistrée et signalée dans le journal d\'audit.'));
      confirmBox.focus();
      return;
    }
    if (r.status === 409 && type === 'version-conflict') {
      conflictBox.hidden = false;
      put(conflictBox,
        h('p', {}, 'Quelqu\'un d\'autre a modifié cette politique depuis que vous l\'avez ouverte. ' +
          'Rechargez-la pour voir la version actuelle (vos modifications non enregistrées seront perdues).'),
        h('button', {type: 'button', testid: 'reload-policy', onclick: async () => {
          dialog.close();
          S.notice = {text: 'Politique rechargée : voici la version actuelle.', kind: 'info'};
          await loadPolicy();
        }}, 'Recharger la politique'));
      $('[data-testid="reload-policy"]', conflictBox)?.focus();
      return;
    }
    if (r.status === 409 && type === 'managed-by-file') {
      errorBox.textContent = 'Cet établissement est configuré dans le fichier treve.toml ; modifiez-le là.';
    } else {
      errorBox.textContent = `Échec de l'enregistrement : ${r.message}`;
    }
    errorBox.hidden = false;
  }
}

// The outcome of the last save or rollback, focusable so that it is read out once focused.
function noticeElement() {
  return h('p', {class: `notice ${S.notice.kind}`, role: 'status', tabindex: '-1', testid: 'save-status'},
    S.notice.text);
}

// ---------------------------------------------------------------------------------------------
// History

async function loadVersions() {
  const panel = $('#panel-history');
  if (!panel) return;
  if (!S.uai) {
    put(panel, h('p', {class: 'help'}, 'Choisissez un établissement pour voir son historique.'));
    return;
  }
  put(panel, h('p', {class: 'loading'}, 'Chargement…'));
  const uai = S.uai;
  const r = await api('GET', policyPath(uai, 'versions'));
  if (uai !== S.uai) return;
  if (!r.ok || !Array.isArray(r.data)) {
    put(panel, h('p', {class: 'error', role: 'alert'},
      `Historique indisponible : ${r.message || 'réponse inattendue.'}`));
    return;
  }
  S.versions = r.data;
  // Newest first: the first is the one in force (the policy document may be older than the list).
  const current = S.versions.length ? Math.max(...S.versions.map((v) => v.version)) : S.doc?.version;
  const rollback = canEdit();
  put(panel,
    S.notice && noticeElement(),
    h('h3', {}, 'Historique des versions'),
    S.versions.length ? h('div', {class: 'table-scroll', tabindex: '0', role: 'region',
      'aria-label': 'Historique des versions'},
    h('table', {testid: 'versions-table'},
      h('thead', {}, h('tr', {},
        ['Version', 'Auteur', 'Date', 'Commentaire', 'Plus faible', rollback ? 'Action' : null]
          .filter(Boolean).map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, S.versions.map((v) => h('tr', {testid: `version-${v.version}`},
        h('th', {scope: 'row'}, String(v.version), v.version === current ? h('span', {class: 'tag'}, 'en vigueur') : ''),
        h('td', {}, v.author || ''),
        h('td', {}, localDateTime(v.at)),
        h('td', {}, v.comment || '', v.rollback_of != null
          ? h('span', {class: 'tag'}, `retour à la version ${v.rollback_of}`) : ''),
        h('td', {}, v.weaker && (v.weaker === true || v.weaker.length)
          ? h('span', {class: 'tag warn', title: Array.isArray(v.weaker) ? v.weaker.join(' ; ') : ''}, 'plus faible')
          : 'non'),
        rollback ? h('td', {}, v.version === current ? '' : h('button', {type: 'button',
          testid: `rollback-${v.version}`, 'aria-label': `Revenir à la version ${v.version}`,
          onclick: () => openSaveDialog({kind: 'rollback', version: v.version})},
        'Revenir à cette version')) : null)))))
      : h('p', {testid: 'versions-empty'}, S.doc?.managed_by === 'file'
        ? 'Cet établissement est réglé par le fichier treve.toml : ses changements sont dans le ' +
          'journal d\'audit (configuration modifiée).'
        : 'Aucune version enregistrée par cette page.'));
}

// An instant for people, in the browser's time zone.
function localDateTime(text) {
  const t = Date.parse(text);
  if (Number.isNaN(t)) return text || '';
  return new Intl.DateTimeFormat('fr-FR', {dateStyle: 'medium', timeStyle: 'short'}).format(new Date(t));
}

// ---------------------------------------------------------------------------------------------
// Audit: the release log, the statistics, the CSV export

function auditQuery(format) {
  const q = new URLSearchParams();
  const v = (id) => $(`#${id}`)?.value || '';
  if (v('audit-from')) q.set('from', v('audit-from'));
  if (v('audit-to')) q.set('to', v('audit-to'));
  if (v('audit-establishment')) q.set('establishment', v('audit-establishment'));
  if (format !== 'stats') {
    if (v('audit-kind')) q.set('kind', v('audit-kind'));
    if (v('audit-category')) q.set('category', v('audit-category'));
  }
  if (format === 'json') q.set('limit', String(AUDIT_LIMIT));
  if (format === 'json' || format === 'csv') q.set('format', format);
  return q.toString();
}

function renderAuditPanel(load) {
  const panel = $('#panel-audit');
  if (!panel) return;
  const me = S.me;
  const wildcard = me.scope === '*';
  const uais = [...new Set([...(S.uai ? [S.uai] : []), ...schools().map((e) => e.uai)])];
  const estOptions = [];
  if (wildcard || uais.length !== 1) {
    estOptions.push(h('option', {value: ''}, wildcard ? 'Tous les établissements' : 'Tout mon périmètre'));
  }
  for (const u of uais) estOptions.push(h('option', {value: u}, u));
  const field = (id, label, control) => h('div', {class: 'field'}, h('label', {for: id}, label), control);
  put(panel,
    h('form', {class: 'card filters', testid: 'audit-filters', onsubmit: (ev) => {
      ev.preventDefault();
      loadAudit();
    }},
    h('h3', {}, 'Période et filtres'),
    h('div', {class: 'row'},
      field('audit-from', 'Du', h('input', {type: 'date', id: 'audit-from', testid: 'audit-from',
        value: todayText(-30)})),
      field('audit-to', 'Au (inclus)', h('input', {type: 'date', id: 'audit-to', testid: 'audit-to',
        value: todayText()})),
      field('audit-establishment', 'Établissement', h('select', {id: 'audit-establishment',
        testid: 'audit-establishment', value: S.uai || ''}, estOptions)),
      field('audit-category', 'Catégorie', h('select', {id: 'audit-category', testid: 'audit-category'},
        h('option', {value: ''}, 'Toutes'), CATEGORIES.map(([k, l]) => h('option', {value: k}, l)))),
      field('audit-kind', 'Type d\'enregistrement', h('select', {id: 'audit-kind', testid: 'audit-kind'},
        h('option', {value: ''}, 'Tous'), KINDS.map(([k, l]) => h('option', {value: k}, l))))),
    h('div', {class: 'actions'},
      h('button', {type: 'submit', class: 'primary', testid: 'audit-load'}, 'Afficher'),
      h('button', {type: 'button', testid: 'audit-export', onclick: exportCsv}, 'Exporter en CSV')),
    h('p', {class: 'help', id: 'audit-status', testid: 'audit-status', role: 'status'})),
    h('section', {class: 'card', 'aria-labelledby': 'report-title', testid: 'report-section'},
      h('h3', {id: 'report-title'}, 'Rapport au conseil d\'administration'),
      h('p', {class: 'help'}, 'Un rapport en français, sans donnée personnelle, avec ses ' +
        'graphiques : notifications tenues, heures de réception, envois du soir et du week-end, ' +
        'durées d\'attente, acheminement, notes, devoirs tardifs et crises. Il s\'ouvre dans un ' +
        'nouvel onglet ; imprimez-le (Ctrl+P) pour l\'enregistrer en PDF.'),
      h('div', {class: 'row'},
        field('report-from', 'Du', h('input', {type: 'date', id: 'report-from', testid: 'report-from',
          value: todayText(-30), required: true})),
        field('report-to', 'Au (inclus)', h('input', {type: 'date', id: 'report-to', testid: 'report-to',
          value: todayText(), required: true})),
        field('report-establishment', 'Établissement', h('select', {id: 'report-establishment',
          testid: 'report-establishment', value: S.uai || uais[0] || ''},
        uais.map((u) => h('option', {value: u}, u))))),
      h('div', {class: 'actions'},
        h('button', {type: 'button', class: 'primary', testid: 'report-open', onclick: openReport},
          'Ouvrir le rapport')),
      h('p', {class: 'help', id: 'report-status', testid: 'report-status', role: 'status'})),
    h('section', {class: 'card', 'aria-labelledby': 'stats-title'},
      h('h3', {id: 'stats-title'}, 'Statistiques de la période'),
      h('p', {class: 'help'}, 'Les chiffres à présenter au conseil d\'administration. Une ' +
        'notification adressée à un élève et à deux parents compte pour trois remises.'),
      h('div', {id: 'stats', testid: 'stats'})),
    h('section', {class: 'card', 'aria-labelledby': 'log-title'},
      h('h3', {id: 'log-title'}, 'Journal'),
      h('div', {id: 'audit-log', testid: 'audit-log'})));
  if (load) loadAudit();
}

async function loadAudit() {
  S.auditLoaded = true;
  const status = $('#audit-status');
  const from = $('#audit-from').value, to = $('#audit-to').value;
  if (from && to && to < from) {
    status.textContent = 'La fin de la période doit être après son début.';
    status.className = 'error';
    return;
  }
  status.className = 'help';
  status.textContent = 'Chargement…';
  const [stats, log] = await Promise.all([
    api('GET', `/v1/admin/stats?${auditQuery('stats')}`),
    api('GET', `/v1/admin/audit?${auditQuery('json')}`),
  ]);
  if (!S.me) return;
  renderStats(stats);
  renderLog(log);
  const failed = [stats, log].filter((r) => !r.ok);
  status.className = failed.length ? 'error' : 'help';
  status.textContent = failed.length
    ? `Chargement incomplet : ${failed.map((r) => r.message).join(' ; ')}`
    : 'Journal et statistiques à jour.';
  $('#panel-audit').dataset.state = failed.length ? 'error' : 'loaded';
}

const STAT_ROWS = [
  ['received', 'Événements reçus des logiciels'],
  ['deliveries', 'Remises décidées (une par destinataire)'],
  ['held', 'dont tenues pendant un temps de repos', true],
  ['sent_at_once', 'dont envoyées aussitôt (hors temps de repos)', true],
  ['bypassed', 'dont urgentes, envoyées pendant un temps de repos', true],
  ['bypass_refused', 'Urgences refusées (logiciel ou catégorie non autorisés)'],
  ['released', 'Remises à la fin d\'un temps de repos'],
  ['retracted', 'Retirées par l\'expéditeur pendant l\'attente'],
  ['replanned', 'Replanifiées après un changement de politique'],
  ['held_again', 'Tenues à nouveau : un temps de repos a commencé avant l\'envoi'],
  ['delivered', 'Transmises au service de diffusion'],
  ['retrying', 'Échecs de transmission, réessayés'],
  ['dead_lettered', 'Échecs définitifs'],
  ['replayed', 'Renvoyées par un administrateur'],
];

function renderStats(r) {
  const box = $('#stats');
  if (!r.ok || !r.data) {
    put(box, h('p', {class: 'error'}, `Statistiques indisponibles : ${r.message || 'réponse inattendue.'}`));
    return;
  }
  const d = r.data;
  const totals = d.totals || {};
  const n = (k) => (k === 'deliveries' ? d.deliveries ?? 0 : totals[k] ?? 0);
  const percent = (x) => x.toLocaleString('fr-FR', {maximumFractionDigits: 1});
  const share = (k) => (d.deliveries ? ` (${percent(100 * n(k) / d.deliveries)} %)` : '');
  const fmt = (x) => Number(x || 0).toLocaleString('fr-FR');
  const cats = Object.keys(d.by_category || {});
  const hours = (d.by_hour || []).filter((x) => Object.keys(x).some((k) => k !== 'hour' && x[k]));
  put(box,
    h('p', {class: 'meta'}, `Du ${dateText(d.from)} au ${dateText(d.to)}`, d.timezone ? ` (${d.timezone})` : '',
      Array.isArray(d.establishments) && d.establishments.length ? ` · ${d.establishments.join(', ')}` : ''),
    h('div', {class: 'table-scroll'}, h('table', {testid: 'stats-table', class: 'stats'},
      h('caption', {class: 'sr-only'}, 'Statistiques de la période'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Indicateur'), h('th', {scope: 'col', class: 'num'}, 'Nombre'))),
      h('tbody', {}, STAT_ROWS.map(([k, label, sub]) => h('tr', {class: sub ? 'sub' : ''},
        h('th', {scope: 'row'}, label),
        h('td', {class: 'num'}, fmt(n(k)), sub ? share(k) : '')))))),
    cats.length ? h('details', {},
      h('summary', {}, 'Par catégorie'),
      h('div', {class: 'table-scroll'}, h('table', {testid: 'stats-by-category'},
        h('thead', {}, h('tr', {}, ['Catégorie', 'Tenues', 'Envoyées aussitôt', 'Urgentes', 'Transmises']
          .map((t, i) => h('th', {scope: 'col', class: i ? 'num' : ''}, t)))),
        h('tbody', {}, cats.map((c) => h('tr', {},
          h('th', {scope: 'row'}, CATEGORIES.find(([k]) => k === c)?.[1] || c),
          ['held', 'sent_at_once', 'bypassed', 'delivered'].map((k) =>
            h('td', {class: 'num'}, fmt(d.by_category[c][k]))))))))) : null,
    hours.length ? h('details', {},
      h('summary', {}, 'Par heure de la journée'),
      h('div', {class: 'table-scroll'}, h('table', {testid: 'stats-by-hour'},
        h('thead', {}, h('tr', {}, ['Heure', 'Reçus', 'Tenues', 'Envoyées aussitôt', 'Transmises']
          .map((t, i) => h('th', {scope: 'col', class: i ? 'num' : ''}, t)))),
        h('tbody', {}, hours.map((x) => h('tr', {},
          h('th', {scope: 'row'}, `${String(x.hour).padStart(2, '0')} h`),
          ['received', 'held', 'sent_at_once', 'delivered'].map((k) =>
            h('td', {class: 'num'}, fmt(x[k]))))))))) : null);
}

// The records of the answer: a JSON array, {records: […]}, or JSON lines.
function recordsOf(r) {
  if (Array.isArray(r.data)) return r.data;
  if (Array.isArray(r.data?.records)) return r.data.records;
  if (r.text && !r.data) {
    try {
      return r.text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    } catch {
      return null;
    }
  }
  return null;
}

function detailText(detail) {
  let d = detail;
  if (typeof d === 'string') {
    try {
      d = JSON.parse(d);
    } catch {
      return d;
    }
  }
  if (!d || typeof d !== 'object') return String(d ?? '');
  // Digests are for the CSV export; here their first digits are enough to tell them apart.
  const short = (t) => String(t).replace(/\b([0-9a-f]{12})[0-9a-f]{28,}\b/g, '$1…');
  return Object.entries(d).map(([k, v]) => `${k} : ${short(typeof v === 'object' ? JSON.stringify(v) : v)}`).join(' · ');
}

function renderLog(r) {
  const box = $('#audit-log');
  const records = r.ok ? recordsOf(r) : null;
  if (!records) {
    put(box, h('p', {class: 'error'}, `Journal indisponible : ${r.message || 'réponse inattendue.'}`));
    return;
  }
  const kind = (k) => KINDS.find(([x]) => x === k)?.[1] || k;
  put(box,
    h('p', {class: 'meta', testid: 'audit-count'}, records.length
      ? `${records.length} enregistrement${records.length > 1 ? 's' : ''}` +
        (records.length >= AUDIT_LIMIT ? ` (les ${AUDIT_LIMIT} premiers ; l'export CSV contient toute la période)` : '')
      : 'Aucun enregistrement pour cette période et ces filtres.'),
    records.length ? h('div', {class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Journal'},
      h('table', {testid: 'audit-table', class: 'log'},
        h('thead', {}, h('tr', {}, ['N°', 'Date (heure locale)', 'Type', 'Établissement', 'Catégorie',
          'Destinataire', 'Source / événement', 'Détail'].map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, records.map((x) => h('tr', {},
          h('td', {}, String(x.seq ?? '')),
          h('td', {class: 'nowrap'}, x.at_local ? instantText(x.at_local) : localDateTime(x.at_utc)),
          h('td', {}, kind(x.kind)),
          h('td', {}, x.establishment || ''),
          h('td', {}, x.category ? categoryText(x.category) : ''),
          h('td', {}, x.role ? ROLES.find(([k]) => k === x.role)?.[1].replace(/^un /, '') || x.role : '',
            x.recipient ? h('code', {title: 'pseudonyme'}, ` ${String(x.recipient).slice(0, 8)}…`) : ''),
          h('td', {}, [x.source, x.event_id].filter(Boolean).join(' / ')),
          h('td', {class: 'detail'}, detailText(x.detail))))))) : null);
}

// ---------------------------------------------------------------------------------------------
// One notification: each copy (one per recipient and channel), by its connector and its id

const roleName = (role) => ROLES.find(([k]) => k === role)?.[1].replace(/^un /, '') || role || '';
const stateText = (state) => STATES.find(([k]) => k === state)?.[1] || state || '';

function renderEventPanel() {
  const panel = $('#panel-event');
  if (!panel) return;
  const error = (id) => h('p', {class: 'field-error', id, hidden: true});
  const sourceError = error('event-source-error');
  const idError = error('event-id-error');
  const field = (id, label, help, err) => h('div', {class: 'field'},
    h('label', {for: id}, label),
    h('input', {type: 'text', id, testid: id, autocomplete: 'off', spellcheck: 'false', required: true,
      'aria-describedby': `${id}-help ${id}-error`}),
    h('p', {class: 'help', id: `${id}-help`}, help), err);
  put(panel,
    h('form', {class: 'card event-form', id: 'event-form', testid: 'event-form', novalidate: true,
      'aria-labelledby': 'event-title', onsubmit: (ev) => {
        ev.preventDefault();
        lookUpEvent();
      }},
    h('h3', {id: 'event-title'}, 'Suivre une notification'),
    h('p', {class: 'help'}, 'Ce que trêve a fait d\'une notification, destinataire par destinataire et ' +
      'canal par canal : retenue, libérée, transmise ou en échec. Les destinataires sont désignés ' +
      'par leur pseudonyme, comme dans le journal ; leurs adresses ne sont jamais affichées.'),
    h('div', {class: 'row'},
      field('event-source', 'Logiciel émetteur (connecteur)', 'Par exemple ent ou vie-scolaire.', sourceError),
      field('event-id', 'Identifiant de la notification', 'Tel que le logiciel l\'a donné, par exemple msg-8812.',
        idError)),
    h('div', {class: 'actions'},
      h('button', {type: 'submit', class: 'primary', testid: 'event-search'}, 'Rechercher'))),
    h('section', {class: 'card', 'aria-labelledby': 'event-result-title'},
      h('h3', {id: 'event-result-title'}, 'Résultat'),
      h('p', {class: 'help', id: 'event-status', testid: 'event-status', role: 'status', 'aria-live': 'polite'},
        'Saisissez le connecteur et l\'identifiant, puis « Rechercher ».'),
      h('div', {id: 'event-result', testid: 'event-result'})));
}

async function lookUpEvent() {
  const sourceInput = $('#event-source'), idInput = $('#event-id');
  const status = $('#event-status'), box = $('#event-result');
  const source = sourceInput.value.trim(), id = idInput.value;
  let first = null;
  for (const [input, value, text] of [[sourceInput, source, 'Saisissez le connecteur qui a envoyé la notification.'],
    [idInput, id.trim(), 'Saisissez l\'identifiant de la notification.']]) {
    const err = $(`#${input.id}-error`);
    err.textContent = value ? '' : text;
    err.hidden = !!value;
    if (value) input.removeAttribute('aria-invalid');
    else input.setAttribute('aria-invalid', 'true');
    if (!value && !first) first = input;
  }
  if (first) {
    first.focus();
    return;
  }
  status.className = 'help';
  status.textContent = 'Recherche…';
  delete box.dataset.state;
  const r = await api('GET', `/v1/admin/events?${new URLSearchParams({source, id})}`);
  if (!S.me) return;
  if (!r.ok || !r.data || !Array.isArray(r.data.deliveries)) {
    put(box);
    box.dataset.state = 'error';
    status.className = 'error';
    status.textContent = r.status === 404
      ? `Aucune notification « ${id} » du connecteur « ${source} » dans votre périmètre.`
      : `Recherche impossible : ${r.message || 'réponse inattendue.'}`;
    return;
  }
  const e = r.data;
  const copies = e.deliveries;
  const counts = new Map();
  for (const c of copies) counts.set(c.state, (counts.get(c.state) || 0) + 1);
  status.className = 'help';
  status.textContent = `Notification « ${e.id} » trouvée : ${copies.length} copie${copies.length > 1 ? 's' : ''}` +
    (counts.size ? ` (${[...counts].map(([k, n]) => `${stateText(k).toLowerCase()} : ${n}`).join(', ')})` : '') + '.';
  const release = (c) => {
    if (c.released_at) return `effectuée ${instantText(c.released_at)}`;
    if (c.state === 'retracted') return 'annulée';
    if (c.release_at) return `prévue ${instantText(c.release_at)}`;
    return 'en attente d\'une politique valide';
  };
  box.dataset.state = 'loaded';
  put(box,
    h('p', {class: 'meta', testid: 'event-meta'},
      `Établissement ${e.establishment} · ${categoryText(e.category)} · reçue ${instantText(e.received_at)}`),
    copies.length ? h('div', {class: 'table-scroll', tabindex: '0', role: 'region',
      'aria-label': 'Copies de la notification'},
    h('table', {testid: 'event-table', class: 'copies'},
      h('caption', {class: 'sr-only'}, `Copies de la notification ${e.id} du connecteur ${e.source}`),
      h('thead', {}, h('tr', {}, ['Destinataire', 'Rôle', 'Canal', 'État', 'Tentatives', 'Libération',
        'Dernière erreur'].map((t, i) => h('th', {scope: 'col', class: i === 4 ? 'num' : ''}, t)))),
      h('tbody', {}, copies.map((c) => h('tr', {testid: `copy-${c.seq}`, 'data-state': c.state},
        h('td', {}, h('code', {title: `pseudonyme ${c.recipient}`}, `${String(c.recipient).slice(0, 8)}…`)),
        h('td', {}, roleName(c.role)),
        h('td', {class: 'nowrap'}, c.sink || h('span', {class: 'help'}, 'choisi à l\'envoi'),
          c.digest ? h('span', {class: 'tag', title: c.digest}, 'résumé du matin') : ''),
        h('td', {}, stateText(c.state)),
        h('td', {class: 'num'}, String(c.attempts ?? 0)),
        h('td', {class: 'nowrap'}, release(c)),
        h('td', {class: 'detail'}, c.last_error || '—'))))))
      : h('p', {}, 'Cette notification n\'a aucune copie.'));
}

// The report to the conseil d'administration: fetched with the token (a link could not carry
// it), then shown as a document of its own in a new tab, from which the browser prints it to PDF.
// The tab is opened at the click, before the answer comes, so that no pop-up blocker stops it.
async function openReport() {
  const status = $('#report-status');
  const from = $('#report-from').value, to = $('#report-to').value;
  const uai = $('#report-establishment').value;
  if (!from || !to || !uai) {
    status.className = 'error';
    status.textContent = 'Indiquez l\'établissement et les deux dates de la période.';
    return;
  }
  if (to < from) {
    status.className = 'error';
    status.textContent = 'La fin de la période doit être après son début.';
    return;
  }
  const tab = window.open('', '_blank');
  status.className = 'help';
  status.textContent = 'Préparation du rapport…';
  const q = new URLSearchParams({establishment: uai, from, to});
  let res;
  try {
    res = await fetch(`/v1/admin/report?${q}`, {
      headers: {Authorization: `Bearer ${S.token}`, Accept: 'text/html'}, cache: 'no-store'});
  } catch {
    if (tab) tab.close();
    status.className = 'error';
    status.textContent = 'Rapport impossible : le service trêve ne répond pas.';
    return;
  }
  if (!res.ok) {
    if (tab) tab.close();
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* not a problem document */ }
    status.className = 'error';
    status.textContent = `Rapport impossible : ${problemText({status: res.status, data})}`;
    if (res.status === 401) signOut('Votre jeton n\'est plus accepté. Reconnectez-vous.');
    return;
  }
  const url = URL.createObjectURL(new Blob([await res.text()], {type: 'text/html;charset=utf-8'}));
  setTimeout(() => URL.revokeObjectURL(url), 600000);
  if (tab) {
    tab.location.href = url;
    status.textContent = 'Rapport ouvert dans un nouvel onglet. Imprimez-le (Ctrl+P) pour ' +
      'l\'enregistrer en PDF.';
  } else {
    status.textContent = 'Votre navigateur a bloqué le nouvel onglet : ';
    status.append(h('a', {href: url, target: '_blank', testid: 'report-link'}, 'ouvrir le rapport'),
      '.');
  }
}

async function exportCsv() {
  const status = $('#audit-status');
  status.className = 'help';
  status.textContent = 'Préparation de l\'export…';
  let res;
  try {
    res = await fetch(`/v1/admin/audit?${auditQuery('csv')}`, {
      headers: {Authorization: `Bearer ${S.token}`, Accept: 'text/csv'}, cache: 'no-store'});
  } catch {
    status.className = 'error';
    status.textContent = 'Export impossible : le service trêve ne répond pas.';
    return;
  }
  if (!res.ok) {
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* not a problem document */ }
    status.className = 'error';
    status.textContent = `Export impossible : ${problemText({status: res.status, data})}`;
    if (res.status === 401) signOut('Votre jeton n\'est plus accepté. Reconnectez-vous.');
    return;
  }
  const blob = await res.blob();
  const est = $('#audit-establishment').value || 'tous';
  const name = `treve-journal-${est}-${$('#audit-from').value || 'debut'}-${$('#audit-to').value || 'fin'}.csv`;
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: name, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  status.textContent = `Export téléchargé : ${name}.`;
}

// ---------------------------------------------------------------------------------------------

window.addEventListener('beforeunload', (ev) => {
  if (isDirty()) {
    ev.preventDefault();
    ev.returnValue = '';
  }
});

if (S.token) {
  loadMe().then((ok) => {
    if (ok !== true) signOut(ok);
  });
} else {
  renderSignIn();
}
