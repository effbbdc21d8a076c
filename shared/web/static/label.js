// The labelling page: one frame at a time, answers by button or key, Prev / Next through
// the queue, and the next frames fetched and decoded ahead so Next shows one at once.
//
// Actions (keys, clicks) run one after another, in order. An answer moves on at once; its
// POST goes out in the background, in order with the other answers, so a frame's second
// answer always names the revision its first one made. Any refusal stops answering (the
// page says why and how to go on) rather than letting the annotator label into the void.
(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("label-config").textContent);
  const PREFETCH = 8; // frames ahead kept fetched and decoded
  const KEEP_BEHIND = 3; // decoded frames kept behind the current one
  const BATCH = 20; // positions asked for at once
  const $ = (id) => document.getElementById(id);
  const img = $("frame");
  const items = new Map(); // position -> {position, frame, image, label, revision}
  const decoded = new Map(); // image URL -> {position, ready: Promise}
  const inFlight = new Map(); // start -> Promise of a batch being fetched
  const keys = new Map(); // key -> {task, cls} | "unusable"
  const tasks = config.tasks.map((task) => task.name);
  let position = config.position;
  let total = config.total;
  let labelled = config.labelled;
  let chosen = {}; // task -> class picked on this visit of the frame, not yet saved
  let actions = Promise.resolve(); // what the annotator asked for, in order
  let saves = Promise.resolve(); // answers being written, in order
  let stopped = ""; // why answering stopped (a refusal); "" while all is well
  window.vidcurateNavigation = []; // ms from a key or click to the next frame painted

  for (const task of config.tasks) {
    for (const c of task.classes) if (c.key) keys.set(c.key, { task: task.name, cls: c.name });
  }
  keys.set(config.unusable_key, "unusable");
  if (config.item) items.set(config.item.position, config.item);

  const csrf = () => window.vidcurateCsrf(config.csrf_cookie);

  function notice(text) {
    const box = $("notice");
    const shown = stopped || text || "";
    box.textContent = shown;
    box.hidden = !shown;
  }

  function stop(message) {
    stopped = `${message} Nothing more is saved until you reload the page.`;
    for (const button of document.querySelectorAll("button.choice")) button.disabled = true;
    $("reload").hidden = false;
    notice();
  }

  async function refusal(response) {
    let message = `The server answered ${response.status}.`;
    try {
      message = (await response.json()).error || message;
    } catch (_) {
      /* not JSON: keep the status */
    }
    return message;
  }

  function decode(item) {
    let entry = decoded.get(item.image);
    if (!entry) {
      const image = new Image();
      image.src = item.image;
      entry = { position: item.position, ready: image.decode().then(() => image, () => null) };
      decoded.set(item.image, entry);
    }
    return entry.ready;
  }

  function evict(p) {
    // Keep only the decoded frames around the current one: a long session stays small.
    for (const [url, entry] of decoded) {
      if (entry.position < p - KEEP_BEHIND || entry.position > p + PREFETCH + 1) {
        decoded.delete(url);
      }
    }
  }

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
    if (!response.ok) {
      stop(await refusal(response));
      return null;
    }
    const body = await response.json();
    total = body.total;
    $("total").textContent = String(total);
    for (const item of body.items) {
      const known = items.get(item.position);
      if (known && known.frame !== item.frame) {
        stop("Your queue changed since this page was loaded.");
        return null;
      }
      if (!known) items.set(item.position, item);
    }
    return body;
  }

  async function itemAt(p) {
    if (p < 0 || p >= total) return null;
    if (!items.has(p)) await fetchFrom(p);
    return items.get(p) || null;
  }

  function prefetch(p) {
    const last = Math.min(p + PREFETCH, total - 1);
    if (last > p && !items.has(last) && !stopped) fetchFrom(p + 1);
    for (let q = Math.max(p - 1, 0); q <= last; q += 1) {
      const item = items.get(q);
      if (item) decode(item);
    }
    evict(p);
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
    const changing = Boolean(label) && Object.keys(chosen).length > 0;
    $("hint").hidden = !changing;
  }

  function paintProgress() {
    $("labelled").textContent = String(labelled);
    $("total").textContent = String(total);
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

  function painted(p, started) {
    requestAnimationFrame(() => {
      if (started !== undefined) window.vidcurateNavigation.push(performance.now() - started);
      img.dataset.shown = String(p);
    });
  }

  async function show(p, started) {
    if (p < 0) return;
    chosen = {};
    notice();
    if (p >= total) {
      position = total;
      history.replaceState(null, "", `?position=${total}`);
      showDone();
      painted(total, started);
      return;
    }
    const item = await itemAt(p);
    if (!item) return;
    await decode(item);
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
    painted(p, started);
    prefetch(p);
  }

  function write(item, answer) {
    // In order after the answers before it; the revision is read when the request goes out.
    saves = saves.then(async () => {
      if (stopped) return;
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
        stop(await refusal(response));
        return;
      }
      const body = await response.json();
      item.revision = body.revision;
      labelled = body.labelled;
      total = body.total;
      paintProgress();
      if (position >= total) showDone(); // the counts the done state gives are final now
    });
    return saves;
  }

  async function answer(result, started) {
    const item = items.get(position);
    if (!item || stopped) return;
    if (!item.label) {
      labelled += 1; // at once; the server's count replaces it when the answer is written
      paintProgress();
    }
    item.label = result.unusable
      ? { classes: {}, unusable: true }
      : { classes: result.classes, unusable: false };
    write(item, result);
    await show(position + 1, started);
  }

  function merged() {
    const item = items.get(position);
    const saved = item && item.label && !item.label.unusable ? item.label.classes : {};
    const out = {};
    for (const name of tasks) out[name] = chosen[name] || saved[name];
    return out;
  }

  async function choose(task, cls, started) {
    if (position >= total || stopped) return;
    chosen[task] = cls;
    const item = items.get(position);
    paintChoices(item);
    // A new frame is saved once every task is answered; a labelled one once every task is
    // answered again, or on Enter (a change of one task).
    if (tasks.every((name) => chosen[name])) await answer({ classes: merged() }, started);
  }

  async function confirm(started) {
    const classes = merged();
    if (position >= total || stopped || !Object.keys(chosen).length) return;
    if (tasks.every((name) => classes[name])) await answer({ classes }, started);
  }

  function enqueue(action) {
    actions = actions.then(action).catch((error) => notice(String(error)));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement) return;
    const started = performance.now();
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "ArrowRight") {
      event.preventDefault();
      enqueue(() => show(Math.min(position + 1, total), started));
    } else if (key === "ArrowLeft") {
      event.preventDefault();
      enqueue(() => show(Math.max(position - 1, 0), started));
    } else if (event.repeat) {
      // a held key answers one frame, not every frame that passes under it
    } else if (key === "Enter") {
      event.preventDefault();
      enqueue(() => confirm(started));
    } else if (keys.has(key)) {
      const what = keys.get(key);
      event.preventDefault();
      if (what === "unusable") enqueue(() => answer({ unusable: true }, started));
      else enqueue(() => choose(what.task, what.cls, started));
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
  $("unusable").addEventListener("click", () => {
    const started = performance.now();
    enqueue(() => answer({ unusable: true }, started));
  });
  for (const button of document.querySelectorAll("button.choice[data-task]")) {
    button.addEventListener("click", () => {
      const started = performance.now();
      enqueue(() => choose(button.dataset.task, button.dataset.class, started));
    });
  }
  $("save-change").addEventListener("click", () => {
    const started = performance.now();
    enqueue(() => confirm(started));
  });
  $("first-unlabelled").addEventListener("click", () => window.location.assign("/label"));
  $("reload").addEventListener("click", () => window.location.reload());

  paintProgress();
  paintNavigation();
  if (config.item) {
    decode(config.item).then(() => {
      img.dataset.shown = String(position);
    });
    paintChoices(config.item);
    prefetch(position);
  } else {
    showDone();
  }
})();
