// Building elements from data: text always goes in as text, never as HTML, so nothing a user
// wrote can become markup.

/** An element with `props` (text: its text, class: its classes, others: attributes) and children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value);
  }
  el.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return el;
}
