// The live view: server-sent events from /ui/live/events, written with textContent only (event data
// is user data; it never reaches innerHTML).
"use strict";
(function () {
  const rows = document.getElementById("live-events");
  const state = document.getElementById("live-state");
  const source = new EventSource("/ui/live/events");
  const cell = (row, text) => {
    const td = row.insertCell();
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  };
  source.onopen = () => { state.textContent = "connected"; };
  source.onerror = () => { state.textContent = "reconnecting…"; };
  source.addEventListener("unavailable", () => { state.textContent = "Kafka unavailable; retrying"; });
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const row = document.createElement("tr");
    cell(row, event.occurred_at);
    cell(row, event.type);
    const link = document.createElement("a");
    link.href = "/ui/jobs/" + encodeURIComponent(String(event.job_id));
    link.textContent = String(event.job_id);
    cell(row, "").appendChild(link);
    cell(row, event.seq);
    cell(row, event.status);
    rows.prepend(row);
    while (rows.rows.length > 200) rows.deleteRow(-1);
  };
})();
