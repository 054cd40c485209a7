// Tiny DOM helpers: build elements without innerHTML, so no value can inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Server sentences mark commands and names in backticks (the CLI prints them so): as code here.
export function prose(text) {
  if (typeof text !== "string") return text;
  return text.split(/`([^`\n]+)`/).map((part, i) => (i % 2 ? h("code", {}, part) : part)).filter((part) => part !== "");
}

export function banner(level, title, ...body) {
  return h("div", { class: `banner banner-${level}`, role: level === "error" ? "alert" : "status" },
    title ? h("strong", {}, title) : null, ...body.map(prose));
}

export function empty(title, text, action = null) {
  return h("div", { class: "empty" }, h("h3", {}, title), h("p", {}, text), action);
}

// Show an API error beside its input (by `field`), else in the form's error slot.
export function showFieldError(form, error, fallbackSlot) {
  clearFieldErrors(form);
  const input = error.field ? form.querySelector(`[name="${CSS.escape(error.field)}"]`) : null;
  if (input) {
    const field = input.closest(".field");
    field?.classList.add("invalid");
    input.setAttribute("aria-invalid", "true");
    const slot = field?.querySelector(".field-error");
    if (slot) {
      slot.textContent = error.message;
      slot.hidden = false;
      input.focus();
      return;
    }
  }
  replace(fallbackSlot, banner("error", null, error.message));
}

export function clearFieldErrors(form) {
  for (const field of form.querySelectorAll(".field.invalid")) field.classList.remove("invalid");
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.textContent = "";
    slot.hidden = true;
  }
}
