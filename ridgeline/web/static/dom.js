// Building DOM nodes without HTML strings (so nothing from the API is ever parsed as markup).

// el("a", {href: "#/", class: "x", text: "Fleet", dataset: {id: 1}}, child, [children], ...):
// `class`/`className`, `text` and `dataset` are set as such; every other key is an attribute
// (true gives an empty one; null, undefined and false leave it out). Children may be nodes,
// strings, numbers or arrays of them; null, undefined and false are skipped.
export function el(tag, attrs = {}, ...children) {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class" || key === "className") made.className = value;
    else if (key === "text") made.textContent = value;
    else if (key === "dataset") Object.assign(made.dataset, value);
    else made.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    made.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return made;
}
