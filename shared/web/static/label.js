// The labelling page: one frame at a time, answers by button or key, Prev / Next through
// the queue, and the next frames fetched and decoded ahead so Next shows one at once.
// Every action runs after the one before it (a fast typist's keys are never reordered).
(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("label-config").textContent);
  const PREFETCH = 8; // frames ahead kept decoded
  const BATCH = 20; // positions asked for at once
  const $ = (id) => document.getElementById(id);
  const img = $("frame");
  const items = new Map(); // position -> {position, frame, image, label, revision}
  const decoded = new Map(); // image URL -> Promise (resolves when the image is decoded)
  const keys = new Map(); // key -> {task, cls} | "unusable"
  const tasks = config.tasks.map((task) => task.name);
  let position = config.position;
  let total = config.total;
  let labelled = config.labelled;
  let chosen = {}; // task -> class picked on this frame, not yet saved
  let chain = Promise.resolve();
  let stopped = false; // a conflict: nothing more is sent until the page is reloaded
  window.vidcurateNavigation = []; // ms from a Next/Prev to the frame painted (benchmarks)

  for (const task of config.tasks) {
    for (const c of task.classes) if (c.key) keys.set(c.key, { task: task.name, cls: c.name });
  }
  keys.set(config.unusable_key, "unusable");
  if (config.item) items.set(config.item.position, config.item);

  function csrf() {
    const wanted = config.csrf_cookie + "=";
    for (const part of document.cookie.split("; ")) {
      if (part.startsWith(wanted)) return decodeURIComponent(part.slice(wanted.length));
    }
    return "";
  }

  function notice(text) {
    const box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function failure(response) {
    let message = `error ${response.status}`;
    try {
      message = (await response.json()).error || message;
    } catch (_) {
      /* not JSON: keep the status */
    }
    if (response.status === 409 || response.status === 401) {
      stopped = true;
      message += " (reload the page)";
    }
    notice(message);
    return null;
  }

  function decode(url) {
    let ready = decoded.get(url);
    if (!ready) {
      const image = new Image();
      image.src = url;
      ready = image.decode().then(() => image, () => null);
      decoded.set(url, ready);
    }
    return ready;
  }

  const inFlight = new Map(); // start -> Promise of a batch being fetched

  function fetchFrom(start) {
    let pending = inFlight.get(start);
    if (!pending) {
      pending = fetchBatch(start).finally(() => inFlight.delete(start));
      inFlight.set(start, pending);
    }
    return pending;
  }

  async function fetchBatch(start) {
    const url = `${config.api.frames}?start=${start}&count=${BATCH}&version=${config.version}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return failure(response);
    const body = await response.json();
    total = body.total;
    for (const item of body.items) if (!items.has(item.position)) items.set(item.position, item);
    return body;
  }

  async function itemAt(p) {
    if (p < 0 || p >= total) return null;
    if (!items.has(p)) await fetchFrom(p);
    return items.get(p) || null;
  }

  function prefetch(p) {
    // Ask for the next batch before it is needed, and decode the next frames' images.
    const last = Math.min(p + PREFETCH, total - 1);
    if (last > p && !items.has(last) && !stopped) fetchFrom(p + 1);
    for (let q = p + 1; q <= last; q += 1) {
      const item = items.get(q);
      if (item) decode(item.image);
    }
    const previous = items.get(p - 1);
    if (previous) decode(previous.image);
  }

  function paintChoices(item) {
    const label = item && item.label;
    for (const button of document.querySelectorAll("button.choice[data-task]")) {
      const picked = chosen[button.dataset.task];
      const saved = label && !label.unusable && label.classes[button.dataset.task];
      const on = picked ? picked === button.dataset.class : saved === button.dataset.class;
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    $("unusable").setAttribute("aria-pressed", label && label.unusable ? "true" : "false");
  }

  function paintProgress() {
    $("labelled").textContent = String(labelled);
    $("progress").value = labelled;
    $("progress").max = total || 1;
  }

  function paintNavigation() {
    $("prev").disabled = position <= 0;
    $("next").disabled = position >= total;
  }

  function showDone() {
    $("frame-box").hidden = true;
    $("answers").hidden = true;
    $("done").hidden = false;
    const left = total - labelled;
    $("done-title").textContent = left > 0 ? "End of the queue" : "Queue done";
    $("done-text").textContent =
      left > 0
        ? `${left} frame(s) of your queue are still unlabelled.`
        : `You labelled every frame of your queue (${total}). Thank you!`;
    $("first-unlabelled").hidden = left <= 0;
    $("position").textContent = String(total);
    img.dataset.position = String(total);
    paintNavigation();
  }

  async function show(p, started) {
    if (p < 0) return;
    chosen = {};
    notice("");
    if (p >= total) {
      position = total;
      history.replaceState(null, "", `?position=${total}`);
      showDone();
      return;
    }
    const item = await itemAt(p);
    if (!item) return;
    await decode(item.image);
    position = p;
    img.src = item.image;
    img.dataset.position = String(p);
    $("frame-box").hidden = false;
    $("answers").hidden = false;
    $("done").hidden = true;
    $("position").textContent = String(p + 1);
    paintChoices(item);
    paintNavigation();
    history.replaceState(null, "", `?position=${p}`);
    if (started !== undefined) {
      requestAnimationFrame(() => {
        window.vidcurateNavigation.push(performance.now() - started);
        img.dataset.shown = String(p);
      });
    } else {
      img.dataset.shown = String(p);
    }
    prefetch(p);
  }

  async function save(answer) {
    const item = items.get(position);
    if (!item || stopped) return;
    const response = await fetch(config.api.labels, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", [config.csrf_header]: csrf() },
      body: JSON.stringify({
        position: item.position,
        frame: item.frame,
        queue_version: config.version,
        revision: item.revision,
        classes: answer.unusable ? {} : answer.classes,
        unusable: Boolean(answer.unusable),
      }),
    });
    if (!response.ok) {
      await failure(response);
      return;
    }
    const body = await response.json();
    item.label = body.label;
    item.revision = body.revision;
    labelled = body.labelled;
    total = body.total;
    paintProgress();
    await show(position + 1, performance.now());
  }

  async function choose(task, cls) {
    if (position >= total) return;
    chosen[task] = cls;
    const item = items.get(position);
    const saved = item && item.label && !item.label.unusable ? item.label.classes : {};
    const answer = {};
    for (const name of tasks) answer[name] = chosen[name] || saved[name];
    paintChoices(item);
    if (tasks.every((name) => answer[name])) await save({ classes: answer });
  }

  function enqueue(action) {
    chain = chain.then(action).catch((error) => notice(String(error)));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement) return;
    const started = performance.now();
    if (event.key === "ArrowRight") {
      event.preventDefault();
      enqueue(() => show(Math.min(position + 1, total), started));
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      enqueue(() => show(Math.max(position - 1, 0), started));
    } else if (keys.has(event.key.toLowerCase())) {
      const what = keys.get(event.key.toLowerCase());
      event.preventDefault();
      if (what === "unusable") enqueue(() => save({ unusable: true }));
      else enqueue(() => choose(what.task, what.cls));
    }
  });
  $("next").addEventListener("click", () => {
    const started = performance.now();
    enqueue(() => show(Math.min(position + 1, total), started));
  });
  $("prev").addEventListener("click", () => {
    const started = performance.now();
    enqueue(() => show(Math.max(position - 1, 0), started));
  });
  $("unusable").addEventListener("click", () => enqueue(() => save({ unusable: true })));
  for (const button of document.querySelectorAll("button.choice[data-task]")) {
    button.addEventListener("click", () =>
      enqueue(() => choose(button.dataset.task, button.dataset.class)),
    );
  }
  $("first-unlabelled").addEventListener("click", () => {
    window.location.assign("/label");
  });

  paintProgress();
  paintNavigation();
  if (config.item) {
    decode(config.item.image).then(() => {
      img.dataset.shown = String(position);
    });
    paintChoices(config.item);
    prefetch(position);
  } else {
    showDone();
  }
})();
