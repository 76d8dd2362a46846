// Seat choices a buyer makes from the seat map (`GET /v1/events/{id}/seats`):
// a block in the popular rows, any seats, or best-available by section.

/**
 * The available seats of a seat map response (`GET /v1/events/{id}/seats`) as
 * `{id, section, row, number}`, or null if it is not a seat map. Only the ids of available
 * seats are taken out of the JSON (a GJSON selector, evaluated in Go), so thousands of
 * VUs holding a map each do not hold thousands of parsed seat objects each.
 */
export function availableSeats(res) {
  let ids;
  try {
    ids = res.json('sections.#.seats.#(status=="available")#.id');
  } catch (_) {
    return null;
  }
  if (!Array.isArray(ids)) return null;
  const out = [];
  for (const section of ids) {
    for (const id of section || []) {
      const seat = parseSeatId(id);
      if (seat) out.push(seat);
    }
  }
  return out;
}

/** `A-1-2` → `{id, section: 'A', row: 1, number: 2}` (the section is all before the last two parts). */
export function parseSeatId(id) {
  const parts = String(id).split('-');
  if (parts.length < 3) return null;
  const number = Number(parts.pop());
  const row = Number(parts.pop());
  return { id, section: parts.join('-'), row, number };
}

export function randInt(lo, hi) {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Up to `quantity` seats out of `seats`, the way a fan picks them: start at a random
 * seat and prefer its neighbours in the same row, then the rest of the row, then any.
 */
export function pickTogether(seats, quantity) {
  if (seats.length <= quantity) return seats.map((s) => s.id);
  const start = seats[Math.floor(Math.random() * seats.length)];
  const byDistance = (s) =>
    (s.section === start.section ? 0 : 1e6) +
    (s.row === start.row ? 0 : 1e3 * Math.abs(s.row - start.row)) +
    Math.abs(s.number - start.number);
  return shuffle(seats.slice())
    .sort((a, b) => byDistance(a) - byDistance(b))
    .slice(0, quantity)
    .map((s) => s.id);
}

/**
 * The hold body a buyer sends: `{"seats": [...]}` or `{"section", "quantity"}`, or null
 * when nothing is available. `available` comes from `availableSeats`; `exclude` is a Set
 * of ids known to be taken since.
 *   kind 'popular': seats in `popular.section` rows 1..`popular.rows` (else anywhere);
 *   kind 'any':     seats anywhere, together when possible;
 *   kind 'best':    best available in a section that still has `quantity` seats.
 */
export function chooseSelection(kind, available, exclude, quantity, popular) {
  const free = available.filter((s) => !exclude.has(s.id));
  if (free.length === 0) return null;
  const q = Math.min(quantity, free.length);
  if (kind === 'popular') {
    const block = free.filter((s) => s.section === popular.section && s.row <= popular.rows);
    if (block.length > 0) return { seats: pickTogether(block, Math.min(q, block.length)) };
  }
  if (kind === 'best') {
    const counts = {};
    for (const s of free) counts[s.section] = (counts[s.section] || 0) + 1;
    const sections = Object.keys(counts).filter((name) => counts[name] >= q);
    if (sections.length > 0) {
      return { section: sections[Math.floor(Math.random() * sections.length)], quantity: q };
    }
  }
  return { seats: pickTogether(free, q) };
}
