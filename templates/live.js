// The live feed both pages use: an EventSource on one of the server's event streams, its state
// shown in #live-status, and JSON frames handed to the page.

/** Shows the stream's state; the attribute drives the colour, the text is for everyone. */
export function setLiveStatus(state) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state;
}

/** Parses an SSE data field, ignoring frames that are not JSON. */
function parseEvent(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

/**
 * Subscribes to `url` and calls `handlers[event](data)` for each JSON frame. EventSource retries
 * network errors by itself; when the server refuses the stream (CLOSED) `onClosed` decides what
 * to do next (by default: try again in 5 s).
 */
export function subscribe(url, handlers, onClosed = (again) => setTimeout(again, 5000)) {
  const start = () => {
    const source = new EventSource(url);
    source.addEventListener("open", () => setLiveStatus("live"));
    source.addEventListener("error", () => {
      setLiveStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) onClosed(start);
    });
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        const data = parseEvent(event);
        if (data) handle(data);
      });
    }
  };
  start();
}
