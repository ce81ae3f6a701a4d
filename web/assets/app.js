// Cove web app: plain JavaScript, no build step, no third-party code.
//
// Rule: text from the network (posts, names, bios, ads) reaches the page only through
// el() and its children, which become text nodes (textContent), never HTML. Nothing in
// this file assigns innerHTML, outerHTML or insertAdjacentHTML, and the server's
// Content-Security-Policy forbids inline script, so a post holding <script> is just text.
'use strict';

// ---- DOM helpers -------------------------------------------------------------------

/** An element with attributes, event listeners (`onclick`...) and children (text or nodes). */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (selector) => document.querySelector(selector);

function time(ms) {
  return el('time', { datetime: new Date(ms).toISOString() }, new Date(ms).toLocaleString());
}

function notice(text, isError) {
  const box = $('#notice');
  box.textContent = text || '';
  box.className = isError ? 'error' : '';
}

// ---- the JSON API ------------------------------------------------------------------

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch('/api' + path, options);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) throw new Error('Signed out: open the URL that `cove web` prints.');
    throw new Error(data && data.error ? data.error : `${response.status} ${response.statusText}`);
  }
  return data;
}

/** Runs an action from a button or form, showing its error instead of throwing. The old
 *  notice goes first, so that the action may leave one of its own ("Profile saved."). */
async function act(what, fn) {
  notice('');
  try {
    return await fn();
  } catch (e) {
    notice(`${what}: ${e.message}`, true);
    return undefined;
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

// ---- state -------------------------------------------------------------------------

const state = {
  groups: [],
  group: null, // GroupInfo of the chosen group
  order: 'new',
  window: '',
  view: null, // {refresh(), chat(item)?, room?}
  events: null, // EventSource
};

function groupId() {
  return state.group ? state.group.id : undefined;
}

// ---- pieces ------------------------------------------------------------------------

function who(item) {
  const name = item.nickname || 'anonymous';
  return el('span', { class: 'who' },
    el('a', { href: `#/member/${item.author}`, class: 'nick' }, name),
    ' ', el('code', { class: 'fp', title: 'fingerprint of the pseudonym' }, item.fingerprint),
    item.mine ? el('span', { class: 'tag' }, 'you') : null);
}

function recommendButton(item) {
  const mine = item.recommended_by_me;
  return el('button', {
    class: 'recommend',
    'aria-pressed': mine ? 'true' : 'false',
    title: mine ? 'Withdraw your recommendation' : 'Recommend',
    onclick: () => act('Recommend', async () => {
      await api('POST', `/messages/${item.id}/recommend`, { undo: mine });
      await refresh();
    }),
  }, mine ? '★ Recommended' : '☆ Recommend', ' ', el('span', { class: 'count' }, String(item.recommendations)));
}

function editForm(item, container) {
  const title = el('input', { 'aria-label': 'Title', class: 'edit-title', maxlength: 256, value: item.title || '' });
  const text = el('textarea', { 'aria-label': 'Text', class: 'edit-text', rows: 4, required: true });
  text.value = item.text;
  const form = el('form', {
    class: 'edit',
    onsubmit: (e) => {
      e.preventDefault();
      act('Edit', async () => {
        await api('PUT', `/messages/${item.id}`, { title: title.value || null, text: text.value });
        await refresh();
      });
    },
  }, item.kind === 'post' ? title : null, text,
  el('button', { type: 'submit' }, 'Save'),
  el('button', { type: 'button', onclick: () => refresh() }, 'Cancel'));
  container.replaceChildren(form);
  text.focus();
}

function itemActions(item, body) {
  const admin = state.group && state.group.admin;
  // Every button says what it acts on to a screen reader: the item's text describes it.
  const about = `text-${item.id}`;
  const actions = [recommendButton(item)];
  if (item.kind === 'post') {
    actions.push(el('a', { href: `#/thread/${item.id}`, class: 'replies' },
      `${item.replies} ${item.replies === 1 ? 'reply' : 'replies'}`));
  }
  if (item.mine) {
    actions.push(el('button', { class: 'edit-btn', 'aria-describedby': about, onclick: () => editForm(item, body) }, 'Edit'));
    actions.push(el('button', {
      class: 'delete-btn',
      'aria-describedby': about,
      onclick: () => confirm('Delete this for everyone?') && act('Delete', async () => {
        await api('DELETE', `/messages/${item.id}`);
        await refresh();
      }),
    }, 'Delete'));
  } else {
    actions.push(el('button', {
      class: 'mute-btn',
      'aria-describedby': about,
      title: 'Hide everything this member posts, on this device only',
      onclick: () => act('Mute', async () => {
        await api('POST', '/mute', { group: groupId(), member: item.author, undo: false });
        await refresh();
      }),
    }, 'Mute'));
  }
  if (admin) {
    actions.push(el('button', {
      class: 'remove-btn',
      'aria-describedby': about,
      onclick: () => confirm('Remove this for everyone?') && act('Remove', async () => {
        await api('POST', '/admin/remove', { id: item.id });
        await refresh();
      }),
    }, 'Remove'));
    // A ban and what it does (and does not) hide are explained on the member's page.
    if (!item.mine) actions.push(el('a', { class: 'ban-link', href: `#/member/${item.author}` }, 'Ban or moderate author'));
  }
  return el('div', { class: 'actions' }, actions);
}

function itemView(item) {
  if (item.kind === 'ad' && item.ad) return adView(item.ad);
  const body = el('div', { class: 'body' },
    item.title ? el('h3', { class: 'title' },
      item.kind === 'post' ? el('a', { href: `#/thread/${item.id}` }, item.title) : item.title) : null,
    el('p', { class: 'text', id: `text-${item.id}` }, item.text));
  return el('article', { class: `item ${item.kind}`, 'data-id': item.id },
    el('header', {}, who(item), ' · ', time(item.created_at), item.edited ? el('span', { class: 'edited' }, ' (edited)') : null),
    body,
    itemActions(item, body));
}

function adView(ad) {
  const offer = ad.offer;
  return el('article', { class: 'item ad', 'data-id': ad.id, 'aria-label': 'Advertisement' },
    el('header', {}, el('span', { class: 'ad-label' }, 'Ad'), ' · ', ad.advertiser_name, ' · ', time(ad.created_at)),
    el('h3', { class: 'title' }, ad.title),
    el('p', { class: 'text' }, ad.body),
    offer ? el('dl', { class: 'offer' },
      el('dt', {}, 'Place'), el('dd', {}, offer.place.name, ', ', offer.place.address),
      offer.coupon ? [el('dt', {}, 'Coupon'), el('dd', {}, el('code', { class: 'coupon' }, offer.coupon))] : null,
      el('dt', {}, 'Valid until'), el('dd', {}, time(offer.valid_until))) : null,
    ad.profile ? el('p', { class: 'muted' }, ad.profile.place.name, ' · ', ad.profile.contact) : null);
}

/** Re-renders `container` with `render()` without losing the keyboard's place: a control
 *  focused inside an item (`[data-id]`) is focused again in the item's new rendering. */
function keepFocus(container, render) {
  const active = document.activeElement;
  const item = active && active !== container && container.contains(active) ? active.closest('[data-id]') : null;
  const place = item && { id: item.dataset.id, tag: active.tagName, cls: active.className, text: active.textContent };
  render();
  if (!place) return;
  const again = [...container.querySelectorAll('[data-id]')].find((e) => e.dataset.id === place.id);
  const controls = again ? [...again.querySelectorAll(place.tag)].filter((e) => e.className === place.cls) : [];
  const target = controls.find((e) => e.textContent === place.text) || controls[0];
  if (target) target.focus();
}

function list(items, render, empty) {
  if (!items.length) return el('p', { class: 'muted' }, empty);
  return el('div', { class: 'list' }, items.map(render));
}

// ---- views -------------------------------------------------------------------------

function feedView(main) {
  const order = el('select', { id: 'order', 'aria-label': 'Order',
    onchange: () => { state.order = order.value; view.refresh(); } },
  ['new', 'hot', 'top'].map((o) => el('option', { value: o, selected: state.order === o }, o)));
  const windowPick = el('select', { id: 'window', 'aria-label': 'Window',
    onchange: () => { state.window = windowPick.value; view.refresh(); } },
  [['', 'all time'], ['86400', '24 hours'], ['604800', '7 days'], ['2592000', '30 days']]
    .map(([v, label]) => el('option', { value: v, selected: state.window === v }, label)));
  const title = el('input', { id: 'compose-title', 'aria-label': 'Title (optional)', placeholder: 'Title (optional)', maxlength: 256 });
  const text = el('textarea', { id: 'compose-text', 'aria-label': 'Write a post', placeholder: 'Write a post', rows: 3, required: true });
  const compose = el('form', {
    class: 'compose',
    onsubmit: (e) => {
      e.preventDefault();
      act('Post', async () => {
        await api('POST', '/posts', { group: groupId(), title: title.value || null, text: text.value });
        title.value = '';
        text.value = '';
        await view.refresh();
      });
    },
  }, el('h2', {}, 'New post'), title, text, el('button', { id: 'compose-send', type: 'submit' }, 'Post'));
  // Not a live region: the feed is re-read whole on every change, which a screen reader
  // would read out whole. New chat lines are announced (the room's log), posts are not.
  const items = el('section', { id: 'feed', 'aria-label': 'Feed' });
  main.replaceChildren(compose, el('div', { class: 'controls' },
    el('label', {}, 'Order ', order), el('label', {}, 'Window ', windowPick)), items);
  const view = {
    // live: a re-read because something changed, not a new look (ads are not counted again).
    async refresh(live) {
      const feed = await api('GET', '/feed' + query({ group: groupId(), order: state.order, window_secs: state.window, limit: 100, live: live ? 'true' : '' }));
      keepFocus(items, () => items.replaceChildren(list(feed, itemView, 'No posts yet.')));
    },
  };
  return view;
}

function threadView(main, id) {
  let target = id;
  const to = el('span', { id: 'reply-to' }, 'the post');
  const text = el('textarea', { id: 'reply-text', 'aria-label': 'Reply', placeholder: 'Reply', rows: 3, required: true });
  const form = el('form', {
    class: 'compose',
    onsubmit: (e) => {
      e.preventDefault();
      act('Reply', async () => {
        await api('POST', `/messages/${target}/replies`, { text: text.value });
        text.value = '';
        target = id;
        to.textContent = 'the post';
        await view.refresh();
      });
    },
  }, el('h2', {}, 'Reply to ', to), text, el('button', { id: 'reply-send', type: 'submit' }, 'Reply'));
  const body = el('section', { id: 'thread', 'aria-label': 'Thread' });
  main.replaceChildren(el('p', {}, el('a', { href: '#/feed' }, '← Feed')), body, form);
  const view = {
    async refresh() {
      const thread = await api('GET', `/threads/${id}`);
      const replies = thread.replies.map(({ depth, item }) => {
        const node = itemView(item);
        node.style.setProperty('--depth', Math.min(depth, 6));
        node.classList.add('reply');
        node.querySelector('.actions').append(el('button', {
          class: 'reply-btn',
          onclick: () => { target = item.id; to.textContent = item.nickname || item.fingerprint; text.focus(); },
        }, 'Reply'));
        return node;
      });
      keepFocus(body, () => body.replaceChildren(itemView(thread.root), el('h2', {}, 'Replies'),
        replies.length ? el('div', { class: 'list' }, replies) : el('p', { class: 'muted' }, 'No replies yet.')));
    },
  };
  return view;
}

function roomsView(main) {
  const name = el('input', { id: 'room-name', 'aria-label': 'Room name', placeholder: 'Room name', required: true, maxlength: 64 });
  const form = el('form', {
    class: 'inline',
    onsubmit: (e) => {
      e.preventDefault();
      act('Create room', async () => {
        const room = await api('POST', '/rooms', { group: groupId(), name: name.value });
        location.hash = `#/room/${room}`;
      });
    },
  }, name, el('button', { id: 'room-create', type: 'submit' }, 'Create room'));
  const rooms = el('section', { id: 'rooms', 'aria-label': 'Rooms' });
  main.replaceChildren(el('h2', {}, 'Rooms'), rooms, form);
  return {
    async refresh() {
      const all = await api('GET', '/rooms' + query({ group: groupId() }));
      rooms.replaceChildren(list(all, (r) => el('p', {}, el('a', { href: `#/room/${r.id}`, class: 'room' }, r.name)), 'No rooms yet.'));
    },
  };
}

function roomView(main, room) {
  const seen = new Set();
  // A log: a screen reader announces each new line as it is appended, and nothing else.
  const lines = el('ol', { id: 'lines', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Chat' });
  const title = el('h2', {}, 'Room');
  const text = el('input', { id: 'say-text', 'aria-label': 'Message', placeholder: 'Message', required: true, autocomplete: 'off' });
  const form = el('form', {
    class: 'inline',
    onsubmit: (e) => {
      e.preventDefault();
      const line = text.value;
      text.value = '';
      act('Send', () => api('POST', `/rooms/${room}/lines`, { group: groupId(), text: line }));
    },
  }, text, el('button', { id: 'say-send', type: 'submit' }, 'Send'));
  main.replaceChildren(el('p', {}, el('a', { href: '#/rooms' }, '← Rooms')), title, lines, form);
  function add(item) {
    if (seen.has(item.id)) return;
    seen.add(item.id);
    lines.append(el('li', { 'data-id': item.id },
      el('span', { class: 'who' }, item.nickname || 'anonymous', ' ', el('code', { class: 'fp' }, item.fingerprint)),
      ' ', el('span', { class: 'text' }, item.text)));
    lines.scrollTop = lines.scrollHeight;
  }
  return {
    room,
    async refresh() {
      const rooms = await api('GET', '/rooms' + query({ group: groupId() }));
      const found = rooms.find((r) => r.id === room);
      title.textContent = found ? found.name : 'Room';
      const history = await api('GET', `/rooms/${room}/lines` + query({ group: groupId(), limit: 100 }));
      // Lines deleted, removed or muted since leave; the others stay (not re-announced).
      const shown = new Set(history.map((item) => item.id));
      for (const li of [...lines.children]) {
        if (!shown.has(li.dataset.id)) {
          seen.delete(li.dataset.id);
          li.remove();
        }
      }
      history.forEach(add);
    },
    chat: add,
  };
}

function memberView(main, member) {
  const box = el('section', { id: 'member', 'aria-labelledby': 'member-title' });
  main.replaceChildren(el('h2', { id: 'member-title' }, 'Member'), box);
  const view = {
    async refresh() {
      const [profiles, info] = await Promise.all([
        api('GET', '/profiles' + query({ member })),
        api('GET', '/admin' + query({ group: groupId() })),
      ]);
      const admin = state.group && state.group.admin;
      const muted = info.muted.includes(member);
      const banned = info.banned.some(([m]) => m === member);
      const change = (what, path, body, done) => act(what, async () => {
        const answer = await api('POST', path, { group: groupId(), member, ...body });
        await view.refresh();
        notice(done(answer));
      });
      const mute = el('button', {
        id: 'member-mute',
        onclick: () => change(muted ? 'Unmute' : 'Mute', '/mute', { undo: muted },
          () => (muted ? 'Unmuted.' : 'Muted: their posts are hidden on this device.')),
      }, muted ? 'Unmute' : 'Mute');
      const parts = [
        el('p', {}, 'Pseudonym ', el('code', { class: 'key' }, member)),
        list(profiles.filter((p) => p.group === groupId()), profileCard, 'No profile in this group.'),
        el('p', { id: 'member-state' }, [banned ? 'Banned.' : '', muted ? 'Muted by you.' : ''].filter(Boolean).join(' ') || 'Neither banned nor muted.'),
        el('div', { class: 'actions' }, mute),
      ];
      if (admin) parts.push(banPart(member, banned, change));
      box.replaceChildren(...parts);
    },
  };
  return view;
}

/** An admin's choices for a member. A ban refuses the member's new messages and hides none
 *  of the old ones (PROTOCOL.md §14: no admin erases history by banning); taking the old
 *  ones down is a separate, visible choice: a `remove` of each, which hides it for everyone. */
function banPart(member, banned, change) {
  const ask = (question, removePosts) => () => confirm(question) && change('Ban', '/admin/ban',
    { undo: false, remove_posts: removePosts },
    (answer) => (removePosts ? `Banned; ${answer.removed.length} of their messages removed for everyone.` : 'Banned.'));
  const buttons = banned
    ? [el('button', { id: 'member-unban', onclick: () => change('Unban', '/admin/ban', { undo: true }, () => 'Unbanned.') }, 'Unban')]
    : [el('button', {
      id: 'member-ban',
      'aria-describedby': 'ban-help',
      onclick: ask('Ban this member? Their new messages will be refused; what they already posted stays visible.', false),
    }, 'Ban'),
    el('button', {
      id: 'member-ban-remove',
      'aria-describedby': 'ban-help',
      onclick: ask('Ban this member and remove every post, reply and chat line of theirs for everyone?', true),
    }, 'Ban and remove their posts')];
  return el('section', { 'aria-labelledby': 'ban-title' },
    el('h3', { id: 'ban-title' }, 'Ban'),
    el('p', { id: 'ban-help', class: 'muted' },
      'A ban refuses this member’s new messages from now on. It does not hide what they already posted: ',
      'no admin can erase a member’s history by banning. “Ban and remove their posts” also removes ',
      'each of their posts, replies and chat lines, for everyone, and says so in the group.'),
    el('div', { class: 'actions' }, buttons));
}

function profileCard(p) {
  return el('dl', { class: 'profile' },
    el('dt', {}, 'Group'), el('dd', {}, p.group_name),
    el('dt', {}, 'Nickname'), el('dd', {}, p.nickname || '(none)'),
    el('dt', {}, 'Fingerprint'), el('dd', {}, el('code', {}, p.fingerprint)),
    el('dt', {}, 'Bio'), el('dd', { class: 'bio' }, p.bio || ''));
}

function profileView(main) {
  const nickname = el('input', { id: 'nickname', required: true, maxlength: 64 });
  const bio = el('textarea', { id: 'bio', rows: 3, maxlength: 1024 });
  const form = el('form', {
    class: 'stack',
    onsubmit: (e) => {
      e.preventDefault();
      act('Profile', async () => {
        await api('PUT', '/profile', { group: groupId(), nickname: nickname.value, bio: bio.value || null });
        notice('Profile saved.');
        await view.refresh();
      });
    },
  }, el('label', { for: 'nickname' }, 'Nickname'), nickname,
  el('label', { for: 'bio' }, 'Bio'), bio,
  el('button', { id: 'profile-save', type: 'submit' }, 'Save profile'));
  const mine = el('section', { 'aria-label': 'Your profiles' });
  main.replaceChildren(el('h2', {}, 'Your profile in this group'), form, el('h2', {}, 'Your profiles'), mine);
  const view = {
    async refresh() {
      const profiles = await api('GET', '/profiles');
      const here = profiles.find((p) => p.group === groupId());
      if (here && document.activeElement !== nickname && document.activeElement !== bio) {
        nickname.value = here.nickname || '';
        bio.value = here.bio || '';
      }
      mine.replaceChildren(list(profiles, profileCard, 'No profiles.'));
    },
  };
  return view;
}

function adsView(main) {
  const ads = el('section', { id: 'ads', 'aria-label': 'Ads for you' });
  const interests = el('ul', { id: 'interests' });
  const key = el('input', { id: 'interest', 'aria-label': 'Interest', placeholder: 'interest:coffee', required: true });
  const form = el('form', {
    class: 'inline',
    onsubmit: (e) => {
      e.preventDefault();
      act('Interest', async () => {
        await api('POST', '/interests', { add: [key.value.trim()] });
        key.value = '';
        await view.refresh();
      });
    },
  }, key, el('button', { id: 'interest-add', type: 'submit' }, 'Add'));
  main.replaceChildren(el('h2', {}, 'Ads for you'), ads,
    el('h2', {}, 'Your private interests'),
    el('p', { class: 'muted' }, 'Ads are matched on this device; your interests are never sent anywhere.'),
    interests, form);
  const view = {
    async refresh() {
      const [matched, mine] = await Promise.all([api('GET', '/ads' + query({ group: groupId() })), api('GET', '/interests')]);
      ads.replaceChildren(list(matched, adView, 'No ads match your interests.'));
      interests.replaceChildren(...mine.map((k) => el('li', {}, k, ' ',
        el('button', { 'aria-label': `Remove ${k}`, onclick: () => act('Interest', async () => { await api('POST', '/interests', { remove: [k] }); await view.refresh(); }) }, 'Remove'))));
    },
  };
  return view;
}

function adminView(main) {
  const box = el('section', { id: 'admin' });
  main.replaceChildren(el('h2', {}, 'Moderation'), box);
  return {
    async refresh() {
      const info = await api('GET', '/admin' + query({ group: groupId() }));
      const admin = state.group && state.group.admin;
      const banned = list(info.banned, ([member, since]) => el('p', {},
        el('a', { href: `#/member/${member}` }, el('code', {}, member.slice(0, 16))), ' since ', time(since), ' ',
        admin ? el('button', { onclick: () => act('Unban', async () => { await api('POST', '/admin/ban', { group: groupId(), member, undo: true }); await refresh(); }) }, 'Unban') : null),
      'Nobody is banned.');
      const muted = list(info.muted, (member) => el('p', {},
        el('a', { href: `#/member/${member}` }, el('code', {}, member.slice(0, 16))), ' ',
        el('button', { onclick: () => act('Unmute', async () => { await api('POST', '/mute', { group: groupId(), member, undo: true }); await refresh(); }) }, 'Unmute')),
      'You muted nobody.');
      const parts = [el('h3', {}, 'Banned'), banned, el('h3', {}, 'Muted by you'), muted];
      if (admin) parts.push(inviteForm(), await grantsPart());
      else parts.push(el('p', { class: 'muted' }, 'You are not an admin of this group.'));
      box.replaceChildren(...parts);
    },
  };
}

function inviteForm() {
  const ttl = el('select', { id: 'invite-ttl', 'aria-label': 'Valid for' },
    [['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']]
      .map(([v, label]) => el('option', { value: v, selected: v === '604800' }, label)));
  const uses = el('input', { id: 'invite-uses', type: 'number', min: 1, max: 10000, value: 1, 'aria-label': 'Admits how many people' });
  const out = el('div', { id: 'invite-out' });
  const form = el('form', {
    class: 'inline',
    onsubmit: (e) => {
      e.preventDefault();
      act('Invite', async () => {
        const made = await api('POST', '/invites', { group: groupId(), ttl_secs: Number(ttl.value), uses: Number(uses.value) });
        const text = el('textarea', { id: 'invite', readonly: true, rows: 4, 'aria-label': 'Invite' });
        text.value = made.invite;
        out.replaceChildren(text, el('img', { src: made.qr, alt: 'QR code of the invite', class: 'qr', width: 256, height: 256 }));
      });
    },
  }, el('label', {}, 'Valid for ', ttl), el('label', {}, 'For ', uses, ' people'), el('button', { id: 'invite-create', type: 'submit' }, 'Create invite'));
  return el('section', {}, el('h3', {}, 'Invite'), form, out);
}

async function grantsPart() {
  const grants = await api('GET', '/grants' + query({ group: groupId() }));
  const key = el('input', { id: 'grant-key', 'aria-label': 'Advertiser key', placeholder: 'advertiser key (hex)', required: true });
  const name = el('input', { id: 'grant-name', 'aria-label': 'Name', placeholder: 'name', required: true });
  const days = el('input', { id: 'grant-days', 'aria-label': 'Days', type: 'number', min: 1, value: 30 });
  const quota = el('input', { id: 'grant-quota', 'aria-label': 'Daily quota', type: 'number', min: 1, value: 3 });
  const targeting = el('input', { id: 'grant-targeting', 'aria-label': 'Allowed targeting', placeholder: 'interest:coffee area:gangnam' });
  const form = el('form', {
    class: 'stack',
    onsubmit: (e) => {
      e.preventDefault();
      act('Grant', async () => {
        await api('POST', '/grants', {
          group: groupId(), key: key.value.trim(), name: name.value,
          not_after: Date.now() + Number(days.value) * 86400000,
          daily_quota: Number(quota.value),
          targeting: targeting.value.split(/\s+/).filter(Boolean),
        });
        await refresh();
      });
    },
  }, key, name, el('label', {}, 'Days ', days), el('label', {}, 'Ads per day ', quota), targeting,
  el('button', { type: 'submit' }, 'Authorise advertiser'));
  const rows = list(grants, (g) => el('p', {}, g.grant.name, ' ', el('code', {}, String(g.id).slice(0, 12)),
    g.revoked ? el('span', { class: 'tag' }, 'revoked') : el('button', {
      onclick: () => act('Revoke', async () => { await api('POST', '/grants/revoke', { group: groupId(), grant_or_key: g.id }); await refresh(); }),
    }, 'Revoke')), 'No advertiser grants.');
  return el('section', {}, el('h3', {}, 'Advertisers'), rows, form);
}

/** History sync as it happens (node-wide), kept up to date by the events' `sync` figures. */
function syncActivity() {
  const figures = el('dl', { id: 'sync-activity' });
  let last = null;
  return {
    figures,
    show(a) {
      // Counters only grow: figures older than those shown (a slow re-read) are dropped.
      if (last && (a.started < last.started || a.finished < last.finished || a.fetched < last.fetched)) return;
      last = a;
      figures.replaceChildren(
        el('dt', {}, 'Sessions running'), el('dd', { id: 'sync-running' }, String(a.running)),
        el('dt', {}, 'Sessions started'), el('dd', { id: 'sync-started' }, String(a.started)),
        el('dt', {}, 'Sessions finished'), el('dd', { id: 'sync-finished' }, String(a.finished)),
        el('dt', {}, 'Messages fetched'), el('dd', { id: 'sync-fetched' }, String(a.fetched)));
      figures.setAttribute('aria-busy', a.running > 0 ? 'true' : 'false');
    },
  };
}

/** How often the status view re-reads the node's figures. */
const STATUS_POLL_MS = 3000;

function statusView(main) {
  const box = el('section', { id: 'status', 'aria-label': 'Node' });
  const activity = syncActivity();
  // Announced when a sync asked for here ends, not at every figure.
  const syncOut = el('div', { id: 'sync-out', role: 'status' });
  let syncing = false;
  const sync = el('button', {
    id: 'sync',
    onclick: () => !syncing && act('Sync', async () => {
      syncing = true;
      sync.setAttribute('aria-disabled', 'true');
      syncOut.textContent = 'Syncing…';
      try {
        const reports = await api('POST', '/sync', { group: groupId() });
        syncOut.replaceChildren(list(reports, (r) => el('p', {},
          `peer …${r.peer.slice(-8)}: fetched ${r.accepted} new, ${r.missing} missing, ${r.peer_missing} they lacked`,
          r.error ? ` (${r.error})` : ''), 'No member to sync with.'));
      } finally {
        syncing = false;
        sync.removeAttribute('aria-disabled');
      }
    }),
  }, 'Sync now');
  main.replaceChildren(el('h2', {}, 'Status'), box,
    el('section', { 'aria-labelledby': 'sync-title' }, el('h3', { id: 'sync-title' }, 'Sync, all groups'),
      activity.figures, sync, syncOut));
  const view = {
    sync: activity.show,
    async refresh() {
      const [status, peers] = await Promise.all([api('GET', '/status'), api('GET', '/peers')]);
      activity.show(status.sync);
      const health = status.group_health.find((h) => h.group === groupId());
      box.replaceChildren(el('dl', {},
        // One peer id per group: this node's in the selected group's private network.
        el('dt', {}, 'Peer id in this group'), el('dd', {}, el('code', {}, (status.networks.find((n) => n.group === groupId()) || {}).peer_id || '-')),
        el('dt', {}, 'Peers connected'), el('dd', {}, String(status.peers)),
        el('dt', {}, 'Messages accepted'), el('dd', {}, String(status.accepted)),
        el('dt', {}, 'Rejected'), el('dd', {}, Object.entries(status.rejected).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'),
        el('dt', {}, 'Waiting for a member to confirm'), el('dd', {}, String(status.outbox)),
        el('dt', {}, 'Store'), el('dd', {}, `${(status.store_bytes / 1048576).toFixed(1)} MiB`),
        health ? [el('dt', {}, 'This group'), el('dd', {}, `${health.members_connected} members connected, mesh ${health.mesh_peers}`, health.problem ? el('strong', {}, ` — ${health.problem}`) : '')] : null),
      el('h3', {}, 'Peers'),
      list(peers, (p) => el('p', {}, el('code', {}, p.peer), ' ', p.addrs.join(' ')), 'No peers connected.'));
    },
  };
  // Peers come and go, and a group's network moves to a new key, without any message
  // being stored, so no event tells the page: while this view is shown (and the tab
  // visible), it re-reads every STATUS_POLL_MS.
  const poll = setInterval(() => {
    if (state.view !== view) clearInterval(poll);
    else if (document.visibilityState === 'visible') refresh(true);
  }, STATUS_POLL_MS);
  return view;
}

// ---- routing and live events -------------------------------------------------------

let refreshTimer = null;
async function refresh(live) {
  if (!state.view) return;
  // A re-read leaves the notice of the action that caused it ("Banned.") in place.
  try {
    await state.view.refresh(live === true);
  } catch (e) {
    notice(`Load: ${e.message}`, true);
  }
}

/** A change arrived: re-read the view soon (several changes make one re-read). */
function changed() {
  if (document.querySelector('form.edit')) return; // an edit in progress keeps its text
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh(true), 150);
}

function listen() {
  if (state.events) state.events.close();
  state.events = null;
  if (!state.group) return;
  const room = state.view && state.view.room;
  const source = new EventSource('/api/events' + query({ group: groupId(), room }));
  // Never re-render under the user's hands: each view's re-read keeps its forms' text.
  source.addEventListener('change', () => changed());
  source.addEventListener('chat', (e) => {
    if (state.view && state.view.chat) state.view.chat(JSON.parse(e.data));
  });
  source.addEventListener('sync', (e) => {
    if (state.view && state.view.sync) state.view.sync(JSON.parse(e.data));
  });
  state.events = source;
}

/** Shows the view the address names. `moved`: the user went there (a link, the back
 *  button), so the keyboard focus goes to the new view, where Tab continues. */
function route(moved) {
  const main = $('#main');
  if (!state.group) {
    main.replaceChildren(el('p', {}, 'You belong to no group yet: join one with `cove join`, then reload.'));
    return;
  }
  const [, name, arg] = (location.hash || '#/feed').split('/');
  const views = {
    feed: () => feedView(main),
    thread: () => threadView(main, arg),
    rooms: () => roomsView(main),
    room: () => roomView(main, arg),
    member: () => memberView(main, arg),
    profile: () => profileView(main),
    ads: () => adsView(main),
    admin: () => adminView(main),
    status: () => statusView(main),
  };
  state.view = (views[name] || views.feed)();
  const section = { thread: 'feed', room: 'rooms', member: 'admin' }[name] || name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#/${section}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  listen();
  refresh();
  if (moved === true) {
    notice(''); // it spoke of the view left behind
    main.focus();
  }
}

async function start() {
  const groups = await act('Load groups', () => api('GET', '/groups'));
  state.groups = groups || [];
  const pick = $('#group');
  pick.replaceChildren(...state.groups.map((g) => el('option', { value: g.id }, g.name)));
  state.group = state.groups[0] || null;
  pick.addEventListener('change', () => {
    state.group = state.groups.find((g) => g.id === pick.value) || null;
    route();
  });
  window.addEventListener('hashchange', () => route(true));
  // The skip link moves the focus past the header without changing the address (#/...).
  $('#skip').addEventListener('click', (e) => {
    e.preventDefault();
    $('#main').focus();
  });
  route();
}

document.addEventListener('DOMContentLoaded', start);
