// The <iframe> snippet that puts a mount's player (/embed/<mount>) on another site: one
// definition for the admin's Connect view and the tests that frame it from another origin.
// @ts-check

/** The player's size in the snippet: one row, as embed.css lays it out. */
export const EMBED_WIDTH_PX = 400;
export const EMBED_HEIGHT_PX = 120;

/**
 * Escapes text for an HTML attribute value in double quotes.
 * @param {string} text
 */
function attr(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The HTML to paste into another site's page. `origin` is the server's public origin
 * (`https://radio.example`), `mount` the mount path (`/live`), `title` the frame's accessible
 * name (the stream's name). The values are escaped: a stream name is an encoder's text.
 * @param {string} origin
 * @param {string} mount
 * @param {string} title
 * @returns {string}
 * @example embedSnippet("https://radio.example", "/live", "Live")
 */
export function embedSnippet(origin, mount, title) {
  const src = `${origin.replace(/\/+$/, "")}/embed${mount}`;
  return `<iframe src="${attr(src)}" title="${attr(title)}" width="${EMBED_WIDTH_PX}" ` +
    `height="${EMBED_HEIGHT_PX}" style="border:0;max-width:100%" allow="autoplay" ` +
    `loading="lazy"></iframe>`;
}
