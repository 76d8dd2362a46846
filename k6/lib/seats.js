// Seat choices a buyer makes from the seat map (`GET /v1/events/{id}/seats`):
// a block in the popular rows, any seats, or best-available by section.

/** Available seats of the map, minus `exclude` (a Set of ids known to be taken). */
export function availableSeats(map, exclude) {
  const out = [];
  for (const section of (map && map.sections) || []) {
    for (const seat of section.seats || []) {
      if (seat.status === 'available' && !exclude.has(seat.id)) {
        out.push({ id: seat.id, section: section.name, row: seat.row, number: seat.number });
      }
    }
  }
  return out;
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
 * when the map shows nothing available.
 *   kind 'popular': seats in `popular.section` rows 1..`popular.rows` (else anywhere);
 *   kind 'any':     seats anywhere, together when possible;
 *   kind 'best':    best available in a section that still has `quantity` seats.
 */
export function chooseSelection(kind, map, exclude, quantity, popular) {
  const free = availableSeats(map, exclude);
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
