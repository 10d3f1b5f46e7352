// The live feed every page uses: an EventSource on a server event stream, shown in #live-status.
// @ts-check

/**
 * One optional handler per event name of an event map such as `PublicEvents`.
 * @template E
 * @typedef {{ [K in keyof E]?: (data: E[K]) => void }} LiveHandlers
 */

/**
 * Shows the stream's state; the attribute drives the colour, the text is for everyone.
 * @param {string} state
 */
export function setLiveStatus(state) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state;
}

/**
 * Parses an SSE data field, ignoring frames that are not JSON.
 * @param {Event} event
 * @returns {unknown}
 */
function parseEvent(event) {
  if (!(event instanceof MessageEvent)) return null;
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

/**
 * Subscribes to `url` and calls `handlers[event](data)` for each JSON frame. EventSource retries
 * network errors by itself; when the server refuses the stream (CLOSED) `onClosed` decides what
 * to do next (by default: try again in 5 s). `onStatus` hears "live" on each (re)connection and
 * "reconnecting" on each failure (by default it is {@linkcode setLiveStatus}). The data is
 * trusted to match the event map `E` (server/web/contract.ts), as the server builds it from the
 * same types.
 * @template E
 * @param {string} url
 * @param {LiveHandlers<E>} handlers
 * @param {(again: () => void) => void} [onClosed]
 * @param {(state: "live" | "reconnecting") => void} [onStatus]
 */
export function subscribe(
  url,
  handlers,
  onClosed = (again) => setTimeout(again, 5000),
  onStatus = setLiveStatus,
) {
  const start = () => {
    const source = new EventSource(url);
    source.addEventListener("open", () => onStatus("live"));
    source.addEventListener("error", () => {
      onStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) onClosed(start);
    });
    for (const name in handlers) {
      const handle = handlers[name];
      if (!handle) continue;
      source.addEventListener(name, (event) => {
        const data = parseEvent(event);
        if (data) handle(/** @type {E[typeof name]} */ (data));
      });
    }
  };
  start();
}
