// DOM helpers for the page scripts: h() builds elements with text-only content; typed lookups.
// @ts-check
//
// h() is how server values reach new elements: as text nodes and attribute values, never as
// markup, since names and titles come from encoders.

/**
 * Attributes for {@linkcode h}: a string or number is set with setAttribute, `true` sets an
 * empty attribute, `false`, null and undefined leave it out, and a function under `on<event>`
 * becomes a listener.
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attrs
 */

/**
 * A new `<tag>` with `attrs` and `children`; strings become text nodes, never HTML.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Node | string)} children
 * @returns {HTMLElementTagNameMap[K]}
 * @example h("button", { type: "button", class: "small", onclick: kick }, "Kick")
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === "function") {
      if (!key.startsWith("on")) throw new TypeError(`Cannot set ${key}: it is not an event`);
      el.addEventListener(key.slice(2), value);
    } else if (key.startsWith("on")) {
      // An inline handler is code from a string: the one thing this helper exists to prevent.
      throw new TypeError(`Cannot set ${key}: event handlers must be functions`);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(key, String(value));
    }
  }
  el.append(...children);
  return el;
}

/**
 * The element with `id`, checked to be a `type`; throws when the page lacks it, since every
 * caller needs it to work at all.
 * @template {Element} T
 * @param {string} id
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new TypeError(`Cannot find #${id}: the page changed`);
  return el;
}

/**
 * The first element under `root` matching `selector`, checked to be a `type`.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function part(root, selector, type) {
  const el = root.querySelector(selector);
  if (!(el instanceof type)) throw new TypeError(`Cannot find ${selector}: the template changed`);
  return el;
}

/**
 * The form control named `name`, checked to be a `type` (a name used twice would be a list).
 * @template {Element} T
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
export function field(form, name, type) {
  const el = form.elements.namedItem(name);
  if (!(el instanceof type)) throw new TypeError(`Cannot find the field ${name}: the form changed`);
  return el;
}

/**
 * A clone of a `<template>`'s first element.
 * @param {HTMLTemplateElement} template
 * @returns {HTMLElement}
 */
export function cloneFirst(template) {
  const el = template.content.firstElementChild?.cloneNode(true);
  if (!(el instanceof HTMLElement)) {
    throw new TypeError(`Cannot clone #${template.id}: it is empty`);
  }
  return el;
}
