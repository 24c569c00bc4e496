// Building DOM from data. Text is only ever set as text (textContent or text nodes): nothing
// that came from the server or another user is parsed as HTML anywhere in this page.

/** The element with this id (the page's skeleton is in index.html). */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

/**
 * `h("li", {class: "message", dataset: {seq: 3}}, "text", child)`: an element whose string
 * children become text nodes. Attributes are set one by one; `on*` names are refused, so an
 * event handler can only be attached with addEventListener.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) throw new Error(`use addEventListener, not ${name}`);
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content with these children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function show(element, visible = true) {
  element.hidden = !visible;
}
