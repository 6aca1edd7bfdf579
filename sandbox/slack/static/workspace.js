/* Sandbox Slack workspace page: renders the server's snapshot, sends what a person does to /ui/*. */
"use strict";

const BASE = location.pathname.replace(/[^/]*$/, "");  // e.g. "/slack/"
const XERO_COMMANDS = [
  ["help", "What the bot can do"], ["connect", "Connect a Xero organisation"], ["list", "List connections"],
  ["remove", "Remove a connection"], ["export INV-123", "Send Forecast invoices to Xero, for approval"],
  ["import customers", "Import customers"], ["import purchase-orders", "Import purchase orders"],
  ["settings", "Settings"],
];
const EMOJI = {
  scales: "⚖️", ballot_box_with_check: "☑️", white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", no_entry: "⛔", no_entry_sign: "🚫",
  hourglass: "⌛", hourglass_flowing_sand: "⏳", rocket: "🚀", tada: "🎉", moneybag: "💰", receipt: "🧾",
  link: "🔗", lock: "🔒", unlock: "🔓", page_facing_up: "📄", chart_with_upwards_trend: "📈", information_source: "ℹ️",
  red_circle: "🔴", large_green_circle: "🟢", large_yellow_circle: "🟡", large_blue_circle: "🔵",
  arrows_counterclockwise: "🔄", inbox_tray: "📥", outbox_tray: "📤", gear: "⚙️", wave: "👋",
  bust_in_silhouette: "👤", calendar: "📅", date: "📅", memo: "📝", eyes: "👀", bulb: "💡", dollar: "💵",
  heavy_plus_sign: "➕", wastebasket: "🗑️", clipboard: "📋", mag: "🔍", sparkles: "✨", bell: "🔔", office: "🏢",
  package: "📦", money_with_wings: "💸", thumbsup: "👍", "+1": "👍", thumbsdown: "👎", robot_face: "🤖",
  ledger: "📒", books: "📚", card_index: "📇", credit_card: "💳", heavy_minus_sign: "➖", question: "❓",
  exclamation: "❗", point_right: "👉", key: "🔑", electric_plug: "🔌", bar_chart: "📊", file_folder: "📁",
  hammer_and_wrench: "🛠️", zap: "⚡", smile: "😄", slightly_smiling_face: "🙂", broken_heart: "💔",
  rotating_light: "🚨", repeat: "🔁", thinking_face: "🤔", leftwards_arrow_with_hook: "↩️",
};
const STATEFUL_TYPES = new Set(["static_select", "external_select", "users_select", "conversations_select",
  "channels_select", "multi_static_select", "multi_external_select", "multi_users_select",
  "multi_conversations_select", "multi_channels_select", "checkboxes", "radio_buttons", "datepicker", "timepicker",
  "plain_text_input", "number_input", "email_text_input", "url_text_input"]);

const HOME = "HOME";  // the bot's App Home tab, shown where a channel's messages would be
const app = {
  user: null, channel: null, snapshot: null, stream: null, lastSeen: {}, hidden: new Set(),
  renderedModalKey: null, renderedHomeKey: null,
};

// ---------------------------------------------------------------- helpers
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "html") node.innerHTML = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function escapeHtml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

async function postJson(path, body) {
  const response = await fetch(BASE + path, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  let result = {};
  try { result = await response.json(); } catch (error) { result = {ok: false, error: "bad_response"}; }
  return result;
}

function toast(text) {
  const node = document.getElementById("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 5000);
}

function formatTime(ts) {
  const date = new Date(parseFloat(ts) * 1000);
  return date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

function userName(userId) {
  const user = app.snapshot && app.snapshot.users[userId];
  return user ? user.real_name : userId;
}

function channelLabel(channelId) {
  const channel = app.snapshot && app.snapshot.channels.find(c => c.id === channelId);
  return channel ? (channel.is_im ? channel.name : channel.name) : channelId;
}

// ---------------------------------------------------------------- text rendering
function emojify(escaped) {
  return escaped.replace(/:([a-z0-9_+\-]+):/g, (all, name) => EMOJI[name] || all);
}

function plainText(textObject) {
  if (!textObject) return "";
  const escaped = escapeHtml(textObject.text || "").replace(/\n/g, "<br>");
  return textObject.emoji === false ? escaped : emojify(escaped);
}

function decodeEntities(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function safeHref(url) {
  return /^(https?:|mailto:)/i.test(url) ? url : "#";
}

function renderSpecial(inner) {
  const [target, label] = [inner.split("|")[0], inner.split("|").slice(1).join("|")];
  if (target.startsWith("@")) {
    const userId = target.slice(1);
    const me = userId === app.user ? " me" : "";
    return `<span class="mention${me}">@${escapeHtml(label || userName(userId))}</span>`;
  }
  if (target.startsWith("#")) {
    return `<span class="mention">#${escapeHtml(label || channelLabel(target.slice(1)))}</span>`;
  }
  if (target.startsWith("!subteam^")) {
    const group = app.snapshot.usergroups[target.slice(9)];
    return `<span class="mention">${escapeHtml(label || (group ? "@" + group.handle : "@group"))}</span>`;
  }
  if (target.startsWith("!date^")) return escapeHtml(label || target);
  if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
  const text = label || target.replace(/^mailto:/, "");
  return `<a href="${escapeHtml(safeHref(target))}" target="_blank" rel="noopener noreferrer">${escapeHtml(text)}</a>`;
}

function formatInline(escaped) {
  const wrap = (marker, tag) => new RegExp(
    `(^|[^\\w${marker}])\\${marker}(?!\\s)([^${marker}\\n]*?[^\\s${marker}])\\${marker}(?![\\w${marker}])`, "g");
  return escaped
    .replace(wrap("*", "b"), "$1<b>$2</b>")
    .replace(wrap("_", "i"), "$1<i>$2</i>")
    .replace(wrap("~", "s"), "$1<s>$2</s>");
}

function mrkdwnLine(line) {
  // Special <...> tokens become placeholders so *<url|bold links>* still work.
  const tokens = [];
  const withPlaceholders = line.replace(/<([^<>]+)>/g, (all, inner) => {
    tokens.push(renderSpecial(decodeEntities(inner)));
    return `\u0000${tokens.length - 1}\u0000`;
  });
  const parts = decodeEntities(withPlaceholders).split(/(`[^`\n]+`)/);
  const html = parts.map(part => part.startsWith("`") && part.endsWith("`") && part.length > 1
    ? `<code>${escapeHtml(part.slice(1, -1))}</code>`
    : emojify(formatInline(escapeHtml(part)))).join("");
  return html.replace(/\u0000(\d+)\u0000/g, (all, index) => tokens[Number(index)]);
}

function mrkdwn(text) {
  const chunks = String(text || "").split(/```/);
  return chunks.map((chunk, index) => {
    if (index % 2 === 1) return `<pre>${escapeHtml(decodeEntities(chunk.replace(/^\n/, "")))}</pre>`;
    const lines = chunk.split("\n");
    let html = "";
    let quote = [];
    const flushQuote = () => {
      if (quote.length) html += `<blockquote>${quote.join("<br>")}</blockquote>`;
      quote = [];
    };
    lines.forEach((line, lineIndex) => {
      const quoted = line.match(/^(?:&gt;|>)\s?(.*)$/);
      if (quoted) { quote.push(mrkdwnLine(quoted[1])); return; }
      flushQuote();
      html += mrkdwnLine(line) + (lineIndex < lines.length - 1 ? "<br>" : "");
    });
    flushQuote();
    return html;
  }).join("");
}

function textObject(obj) {
  if (!obj) return "";
  return obj.type === "mrkdwn" ? mrkdwn(obj.text) : plainText(obj);
}

function textNode(obj, className) {
  return h("div", {class: className || "bk-text", html: textObject(obj)});
}

// ---------------------------------------------------------------- confirm dialogs
function confirmDialog(confirm) {
  if (!confirm) return Promise.resolve(true);
  return new Promise(resolve => {
    const layer = document.getElementById("confirm-layer");
    const finish = answer => { layer.innerHTML = ""; resolve(answer); };
    const okClass = "bk-button confirm-ok" + (confirm.style === "danger" ? " danger-solid" : " primary");
    layer.append(h("div", {class: "modal-backdrop"},
      h("div", {class: "modal confirm-dialog", role: "dialog"},
        h("div", {class: "modal-header"}, h("h2", {class: "modal-title confirm-title", html: plainText(confirm.title)})),
        h("div", {class: "modal-body confirm-text", html: textObject(confirm.text)}),
        h("div", {class: "modal-footer"},
          h("button", {class: "bk-button confirm-deny", onclick: () => finish(false)},
            (confirm.deny && confirm.deny.text) || "Cancel"),
          h("button", {class: okClass, style: confirm.style === "danger" ? "background:#e01e5a;color:#fff" : null,
            onclick: () => finish(true)}, (confirm.confirm && confirm.confirm.text) || "Confirm")))));
  });
}

// ---------------------------------------------------------------- surfaces (message or modal)
function messageSurface(message) {
  return {kind: "message", channel: message.channel_id || app.channel, ts: message.ts, root: null};
}

function stateValues(root) {
  const values = {};
  root.querySelectorAll("[data-action-id]").forEach(node => {
    if (!node._getValue || !STATEFUL_TYPES.has(node.dataset.type)) return;
    const blockId = node.dataset.blockId;
    values[blockId] = values[blockId] || {};
    values[blockId][node.dataset.actionId] = node._getValue();
  });
  return values;
}

function shouldDispatch(surface, blockType, block) {
  if (surface.kind === "message") return true;
  return blockType !== "input" || Boolean(block.dispatch_action);
}

async function sendAction(surface, blockId, element, selection) {
  const body = {user: app.user, block_id: blockId, action_id: element.action_id, selection: selection || {},
    state_values: surface.root ? stateValues(surface.root) : {}};
  if (surface.kind === "view") body.view_id = surface.viewId;
  else { body.channel = surface.channel; body.message_ts = surface.ts; }
  const result = await postJson("ui/action", body);
  if (!result.ok) toast(`⚠️ The app did not respond (${result.error}). Slack would show a warning here.`);
  refresh();
}

// ---------------------------------------------------------------- elements
function optionLabel(option) {
  return option && option.text ? plainText(option.text) : "";
}

function sameOption(a, b) {
  return a && b && a.value === b.value;
}

function menuSource(element) {
  const type = element.type.replace(/^multi_/, "");
  if (type === "users_select") {
    return app.snapshot.human_user_ids.concat([app.snapshot.bot_user_id]).map(id => ({
      text: {type: "plain_text", text: userName(id)}, value: id}));
  }
  if (type === "conversations_select" || type === "channels_select") {
    const publicOnly = type === "channels_select" ||
      (element.filter && element.filter.include && !element.filter.include.includes("im"));
    return app.snapshot.channels.filter(c => !(publicOnly && c.is_im)).map(c => ({
      text: {type: "plain_text", text: c.is_im ? c.name : "#" + c.name}, value: c.id}));
  }
  return null;
}

function initialSelection(element, preserved) {
  const type = element.type;
  const multi = type.startsWith("multi_");
  const base = type.replace(/^multi_/, "");
  if (preserved) {
    const keys = ["selected_options", "selected_option", "selected_users", "selected_user",
      "selected_conversations", "selected_conversation", "selected_channels", "selected_channel"];
    const key = keys.find(k => k in preserved);
    return toOptionList(element, key ? preserved[key] : null);
  }
  if (base === "static_select" || base === "external_select") {
    return multi ? (element.initial_options || []) : (element.initial_option ? [element.initial_option] : []);
  }
  const suffix = base === "users_select" ? "user" : base === "channels_select" ? "channel" : "conversation";
  let initial = multi ? element[`initial_${suffix}s`] : element[`initial_${suffix}`];
  if (!initial && element.default_to_current_conversation) initial = multi ? [app.channel] : app.channel;
  return toOptionList(element, initial);
}

function toOptionList(element, selected) {
  if (selected === null || selected === undefined) return [];
  const list = Array.isArray(selected) ? selected : [selected];
  const source = menuSource(element);
  if (!source) return list;
  return list.map(id => source.find(option => option.value === id) || {text: {type: "plain_text", text: id}, value: id});
}

function selectionValue(element, selected) {
  const type = element.type;
  const multi = type.startsWith("multi_");
  const base = type.replace(/^multi_/, "");
  const ids = selected.map(option => option.value);
  const cleanOption = option => {
    const clean = {text: option.text, value: option.value};
    if (option.description) clean.description = option.description;
    return clean;
  };
  if (base === "users_select") return multi ? {type, selected_users: ids} : {type, selected_user: ids[0] || null};
  if (base === "channels_select") {
    return multi ? {type, selected_channels: ids} : {type, selected_channel: ids[0] || null};
  }
  if (base === "conversations_select") {
    return multi ? {type, selected_conversations: ids} : {type, selected_conversation: ids[0] || null};
  }
  return multi ? {type, selected_options: selected.map(cleanOption)}
    : {type, selected_option: selected[0] ? cleanOption(selected[0]) : null};
}

function closeMenus(except) {
  document.querySelectorAll(".bk-menu").forEach(menu => { if (menu !== except) menu.remove(); });
}

function renderMenuSelect(element, surface, blockId, dispatch, preserved) {
  const multi = element.type.startsWith("multi_");
  const external = element.type.endsWith("external_select");
  const overflow = element.type === "overflow";
  let selected = overflow ? [] : initialSelection(element, preserved);
  const root = h("div", {class: "bk-select" + (overflow ? " bk-overflow" : ""),
    dataset: {type: element.type, actionId: element.action_id, blockId}});
  const trigger = h("button", {type: "button", class: "bk-select-trigger"});
  root.append(trigger);
  root._getValue = () => selectionValue(element, selected);

  const paint = () => {
    trigger.innerHTML = "";
    if (overflow) { trigger.textContent = "⋯"; return; }
    if (!selected.length) {
      trigger.append(h("span", {class: "bk-placeholder", html: plainText(element.placeholder) || "Select an item"}));
    } else if (multi) {
      selected.forEach(option => trigger.append(h("span", {class: "bk-chip"}, h("span", {html: optionLabel(option)}),
        h("span", {class: "bk-chip-remove", title: "Remove", onclick: event => {
          event.stopPropagation();
          selected = selected.filter(o => !sameOption(o, option));
          paint();
          if (dispatch) sendAction(surface, blockId, element, selectionValue(element, selected));
        }}, "×"))));
    } else {
      trigger.append(h("span", {class: "bk-selected", html: optionLabel(selected[0])}));
    }
  };

  const choose = async option => {
    closeMenus();
    if (overflow) {
      if (!(await confirmDialog(element.confirm))) return;
      if (option.url) window.open(option.url, "_blank", "noopener");
      sendAction(surface, blockId, element, {type: "overflow", selected_option: {text: option.text, value: option.value}});
      return;
    }
    if (multi) {
      selected = selected.some(o => sameOption(o, option)) ? selected.filter(o => !sameOption(o, option))
        : selected.concat([option]);
      if (element.max_selected_items && selected.length > element.max_selected_items) selected.shift();
    } else {
      selected = [option];
    }
    paint();
    if (dispatch) {
      if (!(await confirmDialog(element.confirm))) return;
      sendAction(surface, blockId, element, selectionValue(element, selected));
    }
  };

  const openMenu = () => {
    const existing = root.querySelector(".bk-menu");
    if (existing) { existing.remove(); return; }
    closeMenus();
    const list = h("ul", {class: "bk-menu-options"});
    const search = h("input", {class: "bk-menu-search", type: "text", placeholder: external ? "Type to search…" : "Search"});
    const menu = h("div", {class: "bk-menu"}, overflow ? null : search, list);
    const fill = (options, groups, status) => {
      list.innerHTML = "";
      if (status) list.append(h("li", {class: "bk-menu-status"}, status));
      const addOption = option => list.append(h("li", {
        class: "bk-option" + (selected.some(o => sameOption(o, option)) ? " selected" : ""),
        dataset: {value: option.value}, onclick: () => choose(option)},
      h("span", {html: optionLabel(option)}),
      option.description ? h("span", {class: "bk-option-description", html: plainText(option.description)}) : null));
      (options || []).forEach(addOption);
      (groups || []).forEach(group => {
        list.append(h("li", {class: "bk-option-group-label", html: plainText(group.label)}));
        (group.options || []).forEach(addOption);
      });
      if (!status && !(options || []).length && !(groups || []).some(g => (g.options || []).length)) {
        list.append(h("li", {class: "bk-menu-status"}, "No items found"));
      }
    };
    const localOptions = () => menuSource(element) || element.options || [];
    const filterLocal = () => {
      const query = search.value.trim().toLowerCase();
      const matches = option => !query || (option.text.text || "").toLowerCase().includes(query);
      fill(localOptions().filter(matches), (element.option_groups || []).map(g => ({
        label: g.label, options: (g.options || []).filter(matches)})));
    };
    let searchRound = 0;
    const searchExternal = async () => {
      const minimum = element.min_query_length === undefined ? 3 : element.min_query_length;
      const query = search.value;
      if (query.length < minimum) { fill([], [], `Type at least ${minimum} character${minimum === 1 ? "" : "s"}…`); return; }
      const round = ++searchRound;
      fill([], [], "Searching…");
      const body = {user: app.user, block_id: blockId, action_id: element.action_id, value: query,
        state_values: surface.root ? stateValues(surface.root) : {}};
      if (surface.kind === "view") body.view_id = surface.viewId;
      else { body.channel = surface.channel; body.message_ts = surface.ts; }
      const result = await postJson("ui/options", body);
      if (round !== searchRound) return;
      if (!result.ok) { fill([], [], `⚠️ No options: the app answered ${result.error}`); return; }
      fill(result.options, result.option_groups);
    };
    let debounce = null;
    search.addEventListener("input", () => {
      if (!external) { filterLocal(); return; }
      clearTimeout(debounce);
      debounce = setTimeout(searchExternal, 250);
    });
    search.addEventListener("click", event => event.stopPropagation());
    root.append(menu);
    if (external) searchExternal(); else filterLocal();
    if (!overflow) search.focus();
  };
  trigger.addEventListener("click", event => { event.stopPropagation(); openMenu(); });
  paint();
  return root;
}

function renderButton(element, surface, blockId) {
  const classes = "bk-button" + (element.style ? " " + element.style : "");
  const button = h("button", {type: "button", class: classes, html: plainText(element.text),
    dataset: {type: "button", actionId: element.action_id, blockId, value: element.value}});
  button.addEventListener("click", async () => {
    if (!(await confirmDialog(element.confirm))) return;
    if (element.url) window.open(element.url, "_blank", "noopener");
    button.classList.add("pending");
    await sendAction(surface, blockId, element, {});
    button.classList.remove("pending");
  });
  return button;
}

function renderChoices(element, surface, blockId, dispatch, preserved) {
  const multiple = element.type === "checkboxes";
  const name = `${blockId}:${element.action_id}:${Math.random().toString(36).slice(2)}`;
  const initial = preserved ? (multiple ? preserved.selected_options || [] : [preserved.selected_option].filter(Boolean))
    : (multiple ? element.initial_options || [] : [element.initial_option].filter(Boolean));
  const root = h("div", {class: "bk-choices", dataset: {type: element.type, actionId: element.action_id, blockId}});
  const inputs = (element.options || []).map(option => {
    const input = h("input", {type: multiple ? "checkbox" : "radio", name, value: option.value,
      checked: initial.some(o => sameOption(o, option))});
    input._option = option;
    root.append(h("label", {class: "bk-choice"}, input, h("span", {}, h("span", {html: textObject(option.text)}),
      option.description ? h("span", {class: "bk-option-description", html: textObject(option.description)}) : null)));
    return input;
  });
  const clean = option => Object.fromEntries(Object.entries(option).filter(([key]) => key !== "url"));
  root._getValue = () => {
    const chosen = inputs.filter(input => input.checked).map(input => clean(input._option));
    return multiple ? {type: element.type, selected_options: chosen} : {type: element.type, selected_option: chosen[0] || null};
  };
  root.addEventListener("change", () => { if (dispatch) sendAction(surface, blockId, element, root._getValue()); });
  return root;
}

function renderDatepicker(element, surface, blockId, dispatch, preserved) {
  const isTime = element.type === "timepicker";
  const key = isTime ? "selected_time" : "selected_date";
  const initial = preserved ? preserved[key] : (isTime ? element.initial_time : element.initial_date);
  const input = h("input", {type: isTime ? "time" : "date", class: "bk-date", value: initial || null,
    dataset: {type: element.type, actionId: element.action_id, blockId}});
  input._getValue = () => ({type: element.type, [key]: input.value || null});
  input.addEventListener("change", () => { if (dispatch) sendAction(surface, blockId, element, input._getValue()); });
  return input;
}

function renderTextInput(element, surface, blockId, dispatch, preserved) {
  const multiline = element.type === "plain_text_input" && element.multiline;
  const inputType = {number_input: "number", email_text_input: "email", url_text_input: "url"}[element.type] || "text";
  const initial = preserved ? preserved.value : element.initial_value;
  const attrs = {class: "bk-text-input", placeholder: element.placeholder ? element.placeholder.text : null,
    maxlength: element.max_length || null, dataset: {type: element.type, actionId: element.action_id, blockId}};
  const input = multiline ? h("textarea", attrs) : h("input", {...attrs, type: inputType});
  input.value = initial || "";
  input._getValue = () => ({type: element.type, value: input.value === "" ? null : input.value});
  if (dispatch) {
    input.addEventListener("keydown", event => {
      if (event.key === "Enter" && !multiline) { event.preventDefault(); sendAction(surface, blockId, element, input._getValue()); }
    });
  }
  return input;
}

function renderImage(element) {
  return h("img", {src: element.image_url, alt: element.alt_text || "", title: element.alt_text || null});
}

function renderElement(element, surface, blockId, dispatch, preserved) {
  switch (element.type) {
    case "button": return renderButton(element, surface, blockId);
    case "image": return renderImage(element);
    case "overflow":
    case "static_select": case "multi_static_select": case "external_select": case "multi_external_select":
    case "users_select": case "multi_users_select": case "conversations_select": case "multi_conversations_select":
    case "channels_select": case "multi_channels_select":
      return renderMenuSelect(element, surface, blockId, dispatch, preserved);
    case "checkboxes": case "radio_buttons": return renderChoices(element, surface, blockId, dispatch, preserved);
    case "datepicker": case "timepicker": return renderDatepicker(element, surface, blockId, dispatch, preserved);
    case "plain_text_input": case "number_input": case "email_text_input": case "url_text_input":
      return renderTextInput(element, surface, blockId, dispatch, preserved);
    default: return h("span", {class: "bk-unsupported"}, `Unsupported element: ${element.type}`);
  }
}

// ---------------------------------------------------------------- blocks
function preservedFor(surface, blockId, actionId) {
  const values = surface.preserved || {};
  return values[blockId] ? values[blockId][actionId] : undefined;
}

function renderBlock(block, surface) {
  const blockId = block.block_id;
  const node = h("div", {class: `block bk-block-${block.type}`, dataset: {blockId}});
  const element = (el, dispatch) => renderElement(el, surface, blockId, dispatch,
    preservedFor(surface, blockId, el.action_id));
  switch (block.type) {
    case "header":
      node.append(h("div", {class: "bk-header", html: plainText(block.text)}));
      break;
    case "section": {
      const main = h("div", {class: "bk-section-main"});
      if (block.text) main.append(textNode(block.text));
      if (block.fields) main.append(h("div", {class: "bk-fields"}, block.fields.map(field => textNode(field, "bk-field"))));
      const section = h("div", {class: "bk-section"}, main);
      if (block.accessory) {
        section.append(h("div", {class: "bk-accessory"}, element(block.accessory, shouldDispatch(surface, "section", block))));
      }
      node.append(section);
      break;
    }
    case "divider":
      node.append(h("hr", {class: "bk-divider"}));
      break;
    case "context":
      node.append(h("div", {class: "bk-context"}, (block.elements || []).map(item =>
        item.type === "image" ? renderImage(item) : h("span", {html: textObject(item)}))));
      break;
    case "actions":
      node.append(h("div", {class: "bk-actions"}, (block.elements || []).map(el => element(el, true))));
      break;
    case "image":
      node.append(h("div", {class: "bk-image"},
        block.title ? h("div", {class: "bk-image-title", html: plainText(block.title)}) : null, renderImage(block)));
      break;
    case "input": {
      const error = surface.errors && surface.errors[blockId];
      const input = h("div", {class: "bk-input" + (error ? " has-error" : "")},
        h("label", {class: "bk-label"}, h("span", {html: plainText(block.label)}),
          block.optional ? h("span", {class: "bk-optional"}, " (optional)") : null),
        element(block.element, shouldDispatch(surface, "input", block)),
        error ? h("div", {class: "bk-input-error"}, error) : null,
        block.hint ? h("div", {class: "bk-hint", html: plainText(block.hint)}) : null);
      node.append(input);
      break;
    }
    case "rich_text":
      node.append(h("div", {class: "bk-text", html: mrkdwn(richTextToMrkdwn(block))}));
      break;
    default:
      node.append(h("div", {class: "bk-unsupported"}, `Unsupported block: ${block.type}`));
  }
  return node;
}

function richTextToMrkdwn(block) {
  const walk = item => {
    if (item.type === "text") return item.text;
    if (item.type === "link") return `<${item.url}|${item.text || item.url}>`;
    if (item.type === "user") return `<@${item.user_id}>`;
    if (item.type === "channel") return `<#${item.channel_id}>`;
    if (item.type === "emoji") return `:${item.name}:`;
    return (item.elements || []).map(walk).join(item.type === "rich_text_list" ? "\n" : "");
  };
  return (block.elements || []).map(walk).join("\n");
}

function renderBlocks(blocks, surface) {
  return h("div", {class: "blocks"}, (blocks || []).map(block => renderBlock(block, surface)));
}

// ---------------------------------------------------------------- messages
function messageKey(message) {
  return JSON.stringify([message.ts, message.text, message.blocks, message.files, message.is_edited, app.user]);
}

function renderMessage(message) {
  const author = app.snapshot.users[message.user] || {real_name: message.user, color: "#616061"};
  const surface = {kind: "message", channel: app.channel, ts: message.ts};
  const inThread = message.thread_ts && message.thread_ts !== message.ts;
  const body = h("div", {class: "message-body"},
    message.is_ephemeral ? h("div", {class: "ephemeral-note"}, "👁 Only visible to you",
      h("span", {class: "dismiss", onclick: () => { app.hidden.add(message.ts); renderMessages(); }}, "Dismiss message"))
      : null,
    h("div", {class: "message-meta"},
      h("span", {class: "message-author"}, author.real_name),
      author.is_bot ? h("span", {class: "app-badge"}, "APP") : null,
      h("span", {class: "message-time"}, formatTime(message.ts)),
      message.is_edited ? h("span", {class: "message-edited"}, "(edited)") : null,
      inThread ? h("span", {class: "thread-note"}, "↳ reply in thread") : null),
    message.blocks && message.blocks.length ? renderBlocks(message.blocks, surface)
      : h("div", {class: "message-text", html: mrkdwn(message.text)}),
    ...(message.files || []).map(file => h("a", {class: "message-file", href: file.url_private, target: "_blank",
      rel: "noopener"}, `📄 ${file.title || file.name} · ${file.name} · ${file.size} bytes`)));
  const node = h("div", {class: "message" + (message.is_ephemeral ? " ephemeral" : "") + (inThread ? " thread-reply" : ""),
    dataset: {ts: message.ts, user: message.user}},
    h("div", {class: "avatar", style: `background:${author.color}`}, author.real_name.slice(0, 1)), body);
  surface.root = node;
  node._key = messageKey(message);
  return node;
}

function renderMessages() {
  const container = document.getElementById("messages");
  const messages = (app.snapshot.messages[app.channel] || []).filter(m => !app.hidden.has(m.ts));
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const existing = new Map([...container.querySelectorAll(".message")].map(node => [node.dataset.ts, node]));
  container.querySelectorAll(".empty-channel").forEach(node => node.remove());
  const wanted = messages.map(message => {
    const current = existing.get(message.ts);
    return current && current._key === messageKey(message) ? current : renderMessage(message);
  });
  existing.forEach((node, ts) => { if (!wanted.includes(node)) node.remove(); });
  wanted.forEach((node, index) => {
    if (container.children[index] !== node) container.insertBefore(node, container.children[index] || null);
  });
  if (!messages.length) {
    const channel = app.snapshot.channels.find(c => c.id === app.channel);
    container.append(h("div", {class: "empty-channel"}, channel && channel.is_im
      ? "This is the very beginning of your direct message history with Ledgerline."
      : "This is the very beginning of the channel. Type /xero help below."));
  }
  const focused = app.focusTs && messageNode(container, app.focusTs);
  if (focused) {  // opened from a permalink: that message, highlighted
    focused.classList.add("focused");
    focused.scrollIntoView({block: "center"});
    app.focusTs = null;
  } else if (atBottom || !renderMessages.done) container.scrollTop = container.scrollHeight;
  renderMessages.done = true;
}

function messageNode(container, ts) {
  return [...container.querySelectorAll(".message")].find(node => node.dataset.ts === ts) || null;
}

// chat.getPermalink's ".../#C0APPROVALS/p1700000000000100" names the message with ts 1700000000.000100.
function permalinkTs(permalink) {
  const digits = /^p(\d{7,})$/.exec(permalink || "");
  return digits ? `${digits[1].slice(0, -6)}.${digits[1].slice(-6)}` : null;
}

// ---------------------------------------------------------------- App Home
function renderHome() {
  const container = document.getElementById("messages");
  const home = app.snapshot.home;
  const key = JSON.stringify([home && home.id, home && home.hash, home && home.blocks, app.user]);
  if (key === app.renderedHomeKey && container.querySelector(".home-tab")) return;
  app.renderedHomeKey = key;
  container.innerHTML = "";
  const node = h("div", {class: "home-tab", dataset: {viewId: home ? home.id : ""}});
  if (home) {
    node.append(renderBlocks(home.blocks, {kind: "view", viewId: home.id, root: node}));
  } else {
    node.append(h("div", {class: "empty-channel"}, "Opening the bot's Home…"));
  }
  container.append(node);
}

// ---------------------------------------------------------------- sidebar and header
function renderSidebar() {
  const channels = document.getElementById("channel-list");
  const dms = document.getElementById("dm-list");
  channels.innerHTML = "";
  dms.innerHTML = "";
  dms.append(h("li", {class: "channel-link home-link" + (app.channel === HOME ? " active" : ""),
    dataset: {channel: HOME}, onclick: () => selectChannel(HOME)},
  h("span", {class: "app-dot"}, "L"), h("span", {}, "Ledgerline · Home")));
  app.snapshot.channels.forEach(channel => {
    const messages = app.snapshot.messages[channel.id] || [];
    const latest = messages.length ? messages[messages.length - 1].ts : "0";
    if (channel.id === app.channel) app.lastSeen[channel.id] = latest;
    const unread = channel.id !== app.channel && app.lastSeen[channel.id] !== undefined && latest > app.lastSeen[channel.id];
    const item = h("li", {class: "channel-link" + (channel.id === app.channel ? " active" : "") + (unread ? " unread" : ""),
      dataset: {channel: channel.id}, onclick: () => selectChannel(channel.id)},
    channel.is_im ? h("span", {class: "app-dot"}, "L") : h("span", {class: "prefix"}, "#"),
    h("span", {}, channel.name));
    (channel.is_im ? dms : channels).append(item);
    if (app.lastSeen[channel.id] === undefined) app.lastSeen[channel.id] = latest;
  });
  document.getElementById("composer").hidden = app.channel === HOME;
  if (app.channel === HOME) {
    document.getElementById("channel-title").textContent = "Ledgerline · Home";
    document.getElementById("channel-purpose").textContent = "The bot's App Home tab";
    return;
  }
  const current = app.snapshot.channels.find(c => c.id === app.channel);
  document.getElementById("channel-title").textContent = current.is_im ? current.name : "# " + current.name;
  document.getElementById("channel-purpose").textContent = current.purpose || "";
  document.getElementById("composer-input").placeholder = current.is_im ? `Message ${current.name}` : `Message #${current.name}`;
}

function renderUserSwitcher() {
  const select = document.getElementById("user-switcher");
  if (select.options.length) { select.value = app.user; return; }
  app.snapshot.human_user_ids.forEach(id => {
    const user = app.snapshot.users[id];
    select.append(h("option", {value: id}, `${user.real_name}${user.is_admin ? " (admin)" : ""}`));
  });
  select.value = app.user;
  select.addEventListener("change", () => switchUser(select.value));
}

// ---------------------------------------------------------------- modals
function modalKey(modal, depth) {
  return JSON.stringify([modal.view.id, modal.view.hash, modal.errors, modal.notice, depth, app.user]);
}

function renderModals() {
  const layer = document.getElementById("modal-layer");
  const modals = app.snapshot.modals;
  if (!modals.length) { layer.innerHTML = ""; app.renderedModalKey = null; return; }
  const modal = modals[modals.length - 1];
  const key = modalKey(modal, modals.length);
  if (key === app.renderedModalKey) return;
  const current = layer.querySelector(".modal");
  let preserved = modal.view.state && modal.view.state.values;
  if (current && current.dataset.viewId === modal.view.id) preserved = stateValues(current);
  app.renderedModalKey = key;
  layer.innerHTML = "";
  layer.append(renderModal(modal, modals.length, preserved));
}

function renderModal(modal, depth, preserved) {
  const view = modal.view;
  const node = h("div", {class: "modal", role: "dialog", dataset: {viewId: view.id, callbackId: view.callback_id}});
  const surface = {kind: "view", viewId: view.id, root: node, errors: modal.errors, preserved};
  const close = wholeStack => postJson("ui/close", {user: app.user, view_id: view.id, whole_stack: wholeStack}).then(refresh);
  const submit = h("button", {type: "button", class: "bk-button primary modal-submit", html: plainText(view.submit),
    disabled: view.submit_disabled || null});
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    const result = await postJson("ui/submit", {user: app.user, view_id: view.id, state_values: stateValues(node)});
    submit.disabled = false;
    if (!result.ok && result.error !== "invalid_input") toast(`⚠️ ${result.error}`);
    refresh();
  });
  const parts = [
    h("div", {class: "modal-header"},
      depth > 1 ? h("button", {type: "button", class: "modal-back", title: "Back", onclick: () => close(false)}, "←")
        : h("span", {class: "modal-app-icon"}, "X"),
      h("h2", {class: "modal-title", html: plainText(view.title)}),
      h("button", {type: "button", class: "modal-dismiss", title: "Close", onclick: () => close(true)}, "×")),
    modal.notice ? h("div", {class: "modal-notice"}, "⚠️ " + modal.notice) : null,
    h("div", {class: "modal-body"}, renderBlocks(view.blocks, surface)),
    h("div", {class: "modal-footer"},
      h("button", {type: "button", class: "bk-button modal-close", onclick: () => close(false),
        html: view.close ? plainText(view.close) : "Cancel"}),
      view.submit ? submit : null)];
  node.append(...parts.filter(Boolean));
  return h("div", {class: "modal-backdrop"}, node);
}

// ---------------------------------------------------------------- composer
async function sendComposer() {
  const input = document.getElementById("composer-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  hideCommandHints();
  const result = await postJson("ui/message", {user: app.user, channel: app.channel, text});
  if (!result.ok && result.error && !/operation_timeout|dispatch_failed/.test(result.error)) toast(`⚠️ ${result.error}`);
  refresh();
}

function hideCommandHints() {
  document.getElementById("command-hints").hidden = true;
}

function showCommandHints() {
  const input = document.getElementById("composer-input");
  const list = document.getElementById("command-hints");
  const text = input.value;
  if (!text.startsWith("/") || text.includes("\n")) { hideCommandHints(); return; }
  const typed = text.replace(/^\/xero\s*/, "").toLowerCase();
  const matches = "/xero".startsWith(text.trim()) || text.startsWith("/xero")
    ? XERO_COMMANDS.filter(([command]) => command.startsWith(typed) || typed === "") : [];
  list.innerHTML = "";
  matches.forEach(([command, description]) => list.append(h("li", {onclick: () => {
    input.value = `/xero ${command}`;
    hideCommandHints();
    input.focus();
  }}, h("b", {}, `/xero ${command}`), h("span", {class: "hint-desc"}, description))));
  list.hidden = !matches.length;
}

// ---------------------------------------------------------------- navigation and data
function selectChannel(channelId) {
  app.channel = channelId;
  localStorage.setItem("sandbox-slack-channel", channelId);
  history.replaceState(null, "", `?user=${app.user}#${channelId}`);
  renderMessages.done = false;
  app.renderedHomeKey = null;
  document.getElementById("messages").innerHTML = "";
  render();
  if (channelId === HOME) { openHome(); return; }
  document.getElementById("composer-input").focus();
}

async function openHome() {
  // Like Slack: opening the tab sends app_home_opened; the bot answers with views.publish.
  const result = await postJson("ui/home", {user: app.user});
  if (!result.ok) toast(`⚠️ The app did not respond (${result.error}).`);
  refresh();
}

function switchUser(userId) {
  app.user = userId;
  localStorage.setItem("sandbox-slack-user", userId);
  if (app.channel && app.channel.startsWith("D")) app.channel = "D" + userId.slice(1);
  history.replaceState(null, "", `?user=${userId}#${app.channel}`);
  app.renderedModalKey = null;
  app.renderedHomeKey = null;
  document.getElementById("messages").innerHTML = "";
  renderMessages.done = false;
  connectStream();
  if (app.channel === HOME) openHome(); else refresh();
}

function render() {
  if (!app.snapshot) return;
  if (app.channel !== HOME && !app.snapshot.channels.some(c => c.id === app.channel)) {
    app.channel = app.snapshot.channels[0].id;
  }
  renderUserSwitcher();
  renderSidebar();
  if (app.channel === HOME) renderHome(); else renderMessages();
  renderModals();
}

let refreshing = null;
let refreshAgain = false;
async function refresh() {
  if (refreshing) { refreshAgain = true; return refreshing; }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      const user = app.user;
      const response = await fetch(`${BASE}ui/state?user=${encodeURIComponent(user)}`);
      const snapshot = await response.json();
      if (user === app.user) { app.snapshot = snapshot; render(); }
    } while (refreshAgain);
  })();
  try { await refreshing; } finally { refreshing = null; }
}

function connectStream() {
  if (app.stream) app.stream.close();
  app.stream = new EventSource(`${BASE}ui/stream?user=${encodeURIComponent(app.user)}`);
  app.stream.addEventListener("changed", () => refresh());
}

function start() {
  const params = new URLSearchParams(location.search);
  app.user = params.get("user") || localStorage.getItem("sandbox-slack-user") || "U0ADMIN";
  const [channel, permalink] = location.hash.slice(1).split("/");
  app.channel = channel || localStorage.getItem("sandbox-slack-channel") || "C0GENERAL";
  app.focusTs = permalinkTs(permalink);
  const input = document.getElementById("composer-input");
  document.getElementById("composer").addEventListener("submit", event => { event.preventDefault(); sendComposer(); });
  input.addEventListener("keydown", event => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); sendComposer(); }
    if (event.key === "Escape") hideCommandHints();
  });
  input.addEventListener("input", showCommandHints);
  document.addEventListener("click", event => { if (!event.target.closest(".bk-menu")) closeMenus(); });
  document.addEventListener("keydown", event => { if (event.key === "Escape") closeMenus(); });
  connectStream();
  if (app.channel === HOME) openHome(); else refresh();
}

start();
